import assert from "node:assert/strict";
import {
  attributesFromFlags,
  parseList,
  splitKeyPairWarning,
} from "../../src/cli/config_from_flags.ts";

const noEnv = () => undefined;

Deno.test("flags override the config file's attributes; unset flags keep them", () => {
  const attributes = attributesFromFlags(
    { tags: ["b"], delete: true, concurrency: "4", protectedDir: ["models"] },
    {
      fileAttributes: { tags: ["a"], mirror_path: "m", app_api_key: "k", app_api_key_id: "i" },
      env: noEnv,
    },
  );
  assert.deepEqual(attributes, {
    tags: ["b"],
    mirror_path: "m",
    app_api_key: "k",
    app_api_key_id: "i",
    delete: true,
    concurrency: 4,
    protected_dirs: ["models"],
  });
});

Deno.test("--protected-dir adds to the config file's protected_dirs: it never unprotects them", () => {
  const attributes = attributesFromFlags(
    { protectedDir: ["logs"] },
    { fileAttributes: { protected_dirs: ["models"], delete: true }, env: noEnv },
  );
  assert.deepEqual(attributes.protected_dirs, ["models", "logs"]);
  // A file's value that is no list is left for validation to refuse, naming it.
  const bad = attributesFromFlags(
    { protectedDir: ["logs"] },
    { fileAttributes: { protected_dirs: "models" }, env: noEnv },
  );
  assert.equal(bad.protected_dirs, "models");
  const none = attributesFromFlags(
    { protectedDir: ["logs"] },
    { fileAttributes: { protected_dirs: null }, env: noEnv },
  );
  assert.deepEqual(none.protected_dirs, ["logs"]);
});

Deno.test("the API key falls back to VIAM_API_KEY_ID / VIAM_API_KEY only when nothing sets it", () => {
  const env = (name: string) => ({ VIAM_API_KEY_ID: "env-id", VIAM_API_KEY: "env-key" })[name];
  assert.deepEqual(attributesFromFlags({}, { env }), {
    app_api_key_id: "env-id",
    app_api_key: "env-key",
  });
  const flagged = attributesFromFlags({ apiKeyId: "flag-id" }, {
    fileAttributes: { app_api_key: "file-key" },
    env,
  });
  assert.equal(flagged.app_api_key_id, "flag-id");
  assert.equal(flagged.app_api_key, "file-key");
});

Deno.test("numeric flags that do not parse stay strings so validation names them", () => {
  const attributes = attributesFromFlags(
    { concurrency: "lots", syncFrequency: "0.5", freeSpaceReserve: "" },
    { env: noEnv },
  );
  assert.equal(attributes.concurrency, "lots");
  assert.equal(attributes.sync_frequency, 0.5);
  assert.equal(attributes.free_space_reserve_percent, "");
});

Deno.test("parseList splits on commas, trims, drops blanks and accumulates; a value naming nothing is refused", () => {
  assert.deepEqual(parseList(" a, b,,c "), ["a", "b", "c"]);
  assert.deepEqual(parseList("d", ["a"]), ["a", "d"]);
  for (const empty of ["", " ", ",", " , ,"]) {
    assert.throws(() => parseList(empty), /it names nothing/, JSON.stringify(empty));
  }
});

Deno.test("the filter and rate flags become their attributes; plain numbers become numbers", () => {
  const attributes = attributesFromFlags({
    mimeTypes: ["image/jpeg"],
    start: "2024-05-01",
    end: "2024-06-01",
    maxAge: "3600",
    bwlimit: "512k",
    maxDelete: "25%",
  }, { env: noEnv });
  assert.deepEqual(attributes, {
    mime_types: ["image/jpeg"],
    start: "2024-05-01",
    end: "2024-06-01",
    max_age: 3600,
    bandwidth_limit: "512k",
    max_delete: "25%",
  });
  assert.equal(
    attributesFromFlags({ maxAge: "7d", maxDelete: "500" }, { env: noEnv }).max_delete,
    500,
  );
});

Deno.test("a number flag is a number only in decimal, as in a config file (0x10 is text, refused there)", () => {
  const read = (text: string) =>
    attributesFromFlags({ maxDelete: text }, { env: noEnv }).max_delete;
  assert.equal(read("16"), 16);
  assert.equal(read(" 1.5e1 "), 15);
  assert.equal(read("+3"), 3);
  for (const text of ["0x10", "0b11", "0o7", "Infinity", "1e309", "", "25%"]) {
    assert.equal(read(text), text, text);
  }
});

Deno.test("a key id and a key from two places, beside another pair in the environment, are warned of", () => {
  const key = "k".repeat(32);
  const env = (name: string) => ({ VIAM_API_KEY_ID: "env-id", VIAM_API_KEY: "e".repeat(32) })[name];
  // The file's key with the environment's id; the flag's or the file's id with its key.
  assert.match(
    splitKeyPairWarning(undefined, { app_api_key: key }, env) ?? "",
    /the API key comes from the config file, and its id from VIAM_API_KEY_ID/,
  );
  assert.match(
    splitKeyPairWarning("file-id", undefined, env) ?? "",
    /the API key id comes from --api-key-id or the config file, and the key from VIAM_API_KEY/,
  );
  assert.match(
    splitKeyPairWarning(undefined, { app_api_key_id: "file-id" }, env) ?? "",
    /VIAM_API_KEY,/,
  );
  for (const warning of [splitKeyPairWarning(undefined, { app_api_key: key }, env)]) {
    assert.doesNotMatch(warning ?? "", /kkkk|eeee|env-id/, "no value is quoted");
  }
  // One place for both, the environment's own half, or no pair there: nothing to say.
  assert.equal(
    splitKeyPairWarning(undefined, { app_api_key: key, app_api_key_id: "i" }, env),
    undefined,
  );
  assert.equal(splitKeyPairWarning("env-id", undefined, env), undefined);
  assert.equal(splitKeyPairWarning(undefined, undefined, env), undefined);
  assert.equal(
    splitKeyPairWarning(
      undefined,
      { app_api_key: key },
      (name) => name === "VIAM_API_KEY_ID" ? "env-id" : undefined,
    ),
    undefined,
  );
});
