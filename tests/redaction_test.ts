import assert from "node:assert/strict";
import { redactArguments, REDACTED, scrubSecrets, SecretRedactor } from "../src/redaction.ts";

Deno.test("secret redactor: remembers secret attributes at any depth and scrubs them", () => {
  const redactor = new SecretRedactor();
  redactor.remember({
    app_api_key: "key-aaaaaaaa",
    app_api_key_id: "id-bbbbbbbb",
    nested: { token: "tok-cccccccc", list: [{ password: "pw-dddddddd" }] },
    short_secret: "abc",
    mirror_path: "data_mirror",
  });
  assert.equal(
    redactor.scrub(
      "key-aaaaaaaa id-bbbbbbbb tok-cccccccc pw-dddddddd abc data_mirror key-aaaaaaaa",
    ),
    `${REDACTED} id-bbbbbbbb ${REDACTED} ${REDACTED} abc data_mirror ${REDACTED}`,
  );
});

Deno.test("secret redactor: scrubJson scrubs strings and blanks secret-named fields", () => {
  const redactor = new SecretRedactor();
  redactor.remember({ app_api_key: "key-aaaaaaaa" });
  assert.deepEqual(
    redactor.scrubJson({
      lastError: "401 for key-aaaaaaaa",
      list: ["key-aaaaaaaa", 3, null, true],
      apiKey: 12,
      app_api_key_id: "id-1",
      nested: { secret: { deep: 1 } },
    }),
    {
      lastError: `401 for ${REDACTED}`,
      list: [REDACTED, 3, null, true],
      apiKey: REDACTED,
      app_api_key_id: "id-1",
      nested: { secret: REDACTED },
    },
  );
});

Deno.test("secret redactor: names that hold secrets", () => {
  for (const name of ["app_api_key", "API_KEY", "apiKey", "token", "client_secret", "password"]) {
    assert.equal(SecretRedactor.isSecretName(name), true, name);
  }
  for (const name of ["app_api_key_id", "mirror_path", "tokens_used", "delete"]) {
    assert.equal(SecretRedactor.isSecretName(name), false, name);
  }
});

Deno.test("secret redactor: a key pasted with spaces or a newline is scrubbed as the config uses it", () => {
  const redactor = new SecretRedactor();
  redactor.remember({ app_api_key: "  key-eeeeeeee\n" });
  assert.equal(redactor.scrub("auth with key-eeeeeeee failed"), `auth with ${REDACTED} failed`);
});

Deno.test("scrubSecrets: longest first, short values left alone, custom replacement", () => {
  assert.equal(
    scrubSecrets("a KEY-123456-EXT and KEY-123456 and abc", [
      "KEY-123456",
      "KEY-123456-EXT",
      "abc",
    ]),
    `a ${REDACTED} and ${REDACTED} and abc`,
  );
  assert.equal(scrubSecrets("k=SECRET-99", ["SECRET-99"], "<app_api_key>"), "k=<app_api_key>");
});

Deno.test("scrubSecrets: a key with a quote or a backslash is scrubbed where text quotes it as JSON", () => {
  const key = 'k3y"with\\both';
  const quoted = `cannot read ${JSON.stringify(`/home/${key}/x`)}`;
  assert.equal(scrubSecrets(quoted, [key]), `cannot read "/home/${REDACTED}/x"`);
  assert.equal(scrubSecrets(`as typed: ${key}`, [key]), `as typed: ${REDACTED}`);
});

Deno.test("redactArguments hides option values and bare words, not command names", () => {
  const args = ["sync", "--tagz=KEY-aaaaaa", "KEY-bbbbbb", "--json"];
  const text = "error: unknown option '--tagz=KEY-aaaaaa' (KEY-bbbbbb, KEY-cccccc) in sync";
  assert.equal(
    redactArguments(text, args, { commands: ["sync"], secrets: ["KEY-cccccc"] }),
    `error: unknown option '--tagz=${REDACTED}' (${REDACTED}, ${REDACTED}) in sync`,
  );
  // A command name is not hidden wherever it stands (`help module` prints the help, naming it).
  assert.equal(
    redactArguments("the module starts itself", ["help", "module"], {
      commands: ["help", "module"],
      secrets: [],
    }),
    "the module starts itself",
  );
  // A choice's value says what is wrong, and is shown.
  const choice = "error: option '--log-level <level>' argument 'verbose' is invalid";
  for (const args of [["sync", "--log-level", "verbose"], ["sync", "--log-level=verbose"]]) {
    assert.equal(
      redactArguments(choice, args, {
        commands: ["sync"],
        secrets: [],
        plainOptions: ["--log-level"],
      }),
      choice,
    );
  }
});
