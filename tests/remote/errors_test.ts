import assert from "node:assert/strict";
import { classifyError } from "../../src/remote/classify_error.ts";
import { describeError } from "../../src/remote/errors.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";

/** A loopback port nothing listens on (bound, then let go). */
function _closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("a platform out of reach is described by what failed, not only 'fetch failed'", async () => {
  const port = _closedPort();
  const remote = new ViamRemote({
    appUrl: `http://127.0.0.1:${port}`,
    apiKeyId: "key-id",
    apiKey: "s3cr3t-never-shown",
  });
  const error = await remote.count({ tags: ["x"], labels: [] }).then(() => undefined, (e) => e);
  assert.ok(error !== undefined, "the call failed");
  const described = describeError(error);
  assert.match(described, /fetch failed: .*127\.0\.0\.1:\d+.*Connection refused/);
  assert.doesNotMatch(described, /s3cr3t/);
});

Deno.test("an https:// app URL whose server speaks plain HTTP fails at once, saying so", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(),
  );
  try {
    const remote = new ViamRemote({
      appUrl: `https://127.0.0.1:${server.addr.port}`,
      apiKeyId: "key-id",
      apiKey: "s3cr3t-never-shown",
    });
    const error = await remote.count({ tags: ["x"], labels: [] }).then(() => undefined, (e) => e);
    assert.ok(error !== undefined, "the call failed");
    assert.equal(classifyError(error), "fatal", "retried as if the network were down");
    assert.match(describeError(error), /answered without TLS: is app_url http:\/\/, not https/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a URL is told without its query string (a signed URL's token), in a cause or the message", () => {
  const cause = new Error(
    "error sending request for url (https://storage.example/obj/1?X-Goog-Signature=abc123&e=9): " +
      "connection reset",
  );
  const error = new TypeError("fetch failed", { cause });
  assert.equal(
    describeError(error),
    "fetch failed: error sending request for url (https://storage.example/obj/1): connection reset",
  );
  // fetch's own message quotes a URL it cannot parse whole.
  assert.equal(
    describeError(new TypeError("Invalid URL: 'https://storage host/obj?X-Goog-Signature=abc123'")),
    "Invalid URL: 'https://storage host/obj'",
  );
  // Told once, whatever the chain's shape; a message of its own keeps its question marks.
  const looped = new Error("outer?", { cause: new Error("outer?") });
  (looped.cause as Error).cause = looped;
  assert.equal(describeError(looped), "outer?");
  assert.equal(describeError("plain"), "plain");
});

Deno.test("a file the OS refuses says what to do: another user's files, run as it or chown", () => {
  for (const code of ["EACCES", "EPERM"]) {
    const error = Object.assign(
      new Error(`${code}: permission denied, open '/m/.data-mirror/lock'`),
      {
        code,
      },
    );
    assert.match(
      describeError(error),
      /another user.*chown -R.*the file, or a folder on its way.*search it: chmod u\+rw, u\+rwx for a folder/,
    );
  }
  // The program's own refusals (no OS code) are told as they are.
  const refusal = new Deno.errors.PermissionDenied("refusing x: inside the state dir");
  assert.equal(describeError(refusal), "refusing x: inside the state dir");
});

Deno.test("a message of a megabyte is told cut, at 4 KiB, and its URLs' queries left out all the same", () => {
  // A server's error page as the status message: the query-string pattern once went from every
  // URL to the end of the line, minutes over such a message, several times for each failed call.
  const page = "see https://example.com/help?token=s3cret for details, ".repeat(20_000);
  const described = describeError(new Error(page));
  assert.ok(described.startsWith("see https://example.com/help for details, see "), described);
  assert.match(described, /… \(\d+ more characters\)$/);
  assert.ok(described.length < 4200, `${described.length} characters`);
  assert.doesNotMatch(described, /s3cret/);
  // A cut inside a surrogate pair leaves none of it.
  assert.ok(describeError(new Error("x" + "😀".repeat(3000))).isWellFormed());
});

Deno.test("a URL whose path or query holds a bracket or an apostrophe is told without its token", () => {
  for (
    const url of [
      "https://storage.example/b/photo%20(1).jpg?X-Goog-Signature=SECRET1",
      "https://storage.example/b/don't.jpg?X-Goog-Signature=SECRET2",
      "https://storage.example/b/a.jpg?response-content-disposition=x(1)&X-Goog-Signature=SECRET3",
    ]
  ) {
    const cause = new Error(`error sending request for url (${url}): client error (Connect)`);
    const told = describeError(new TypeError("fetch failed", { cause }));
    assert.doesNotMatch(told, /SECRET/, told);
    assert.equal(
      told,
      `fetch failed: error sending request for url (${url.split("?")[0]}): client error (Connect)`,
    );
  }
});

Deno.test("a signed URL's credentials are left out where its URL cannot be told (quoted, with an apostrophe and a space)", () => {
  const told = describeError(
    new TypeError("Invalid URL: 'https://h/O'Brien photo.jpg?X-Goog-Signature=SECRET7&x=1'"),
  );
  assert.doesNotMatch(told, /SECRET7/, told);
  assert.match(told, /X-Goog-Signature=\[redacted\]/);
});
