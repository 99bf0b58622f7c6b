import assert from "node:assert/strict";
import { ConnectError } from "@viamrobotics/sdk";
import { abortableDelay, logRetries, retry } from "../../src/async/retry.ts";
import { classifyError } from "../../src/remote/classify_error.ts";
import { HttpStatusError, TooLargeError } from "../../src/remote/errors.ts";

const fast = {
  minDelayMs: 1,
  maxDelayMs: 2,
  isRetriable: (error: unknown) => classifyError(error) === "transient",
};

Deno.test("retry retries transient failures until one succeeds, reporting each retry", async () => {
  const seen: number[] = [];
  const result = await retry((attempt) => {
    if (attempt < 3) return Promise.reject(new ConnectError("unavailable", 14));
    return Promise.resolve(`ok on ${attempt}`);
  }, { attempts: 5, ...fast, onRetry: (_error, attempt) => seen.push(attempt) });
  assert.equal(result, "ok on 3");
  assert.deepEqual(seen, [1, 2]);
});

Deno.test("retry gives up after the last attempt with the last error", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new HttpStatusError(503, "download"));
    }, { attempts: 3, ...fast }),
    (error: unknown) => error instanceof HttpStatusError && error.status === 503,
  );
  assert.equal(calls, 3);
});

Deno.test("retry does not retry auth, fatal or too-large errors", async () => {
  for (
    const error of [
      new ConnectError("bad key", 16),
      new ConnectError("not found", 5),
      new HttpStatusError(401, "download"),
      new TooLargeError(["a/b/c"]),
    ]
  ) {
    let calls = 0;
    await assert.rejects(retry(() => {
      calls++;
      return Promise.reject(error);
    }, { attempts: 5, ...fast }));
    assert.equal(calls, 1, `${error.message} was retried`);
  }
});

Deno.test("retry stops waiting when aborted", async () => {
  const controller = new AbortController();
  let calls = 0;
  const pending = retry(() => {
    calls++;
    if (calls === 1) setTimeout(() => controller.abort(), 5);
    return Promise.reject(new ConnectError("unavailable", 14));
  }, { ...fast, attempts: 10, minDelayMs: 60_000, maxDelayMs: 60_000, signal: controller.signal });
  await assert.rejects(pending, (error: unknown) => (error as Error).name === "AbortError");
  assert.equal(calls, 1);
});

Deno.test("retry rejects with the signal's own reason, not a generic abort", async () => {
  const controller = new AbortController();
  const reason = new Error("the mirror was stopped");
  const pending = retry(() => {
    setTimeout(() => controller.abort(reason), 5);
    return Promise.reject(new ConnectError("unavailable", 14));
  }, { ...fast, attempts: 3, minDelayMs: 60_000, maxDelayMs: 60_000, signal: controller.signal });
  await assert.rejects(pending, (error: unknown) => error === reason);
});

Deno.test("retry asks isRetriable about each failure", async () => {
  const seen: unknown[] = [];
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new Error(`failure ${calls}`));
    }, {
      ...fast,
      attempts: 5,
      isRetriable: (error) => {
        seen.push(error);
        return calls < 2;
      },
    }),
    /failure 2/,
  );
  assert.equal(calls, 2);
  assert.equal(seen.length, 2);
});

Deno.test("abortableDelay waits out a delay longer than a timer holds (2^31 ms) until it is stopped", async () => {
  const stop = new AbortController();
  let settled: string | undefined;
  const waiting = abortableDelay(2 ** 32, stop.signal).then(
    () => settled = "resolved",
    (error) => settled = `rejected: ${(error as Error).message}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(settled, undefined, "a timer past 2^31 - 1 ms fires at once");
  stop.abort(new Error("stopped"));
  await waiting;
  assert.equal(settled, "rejected: stopped");
});

Deno.test("logRetries warns of a call's first retry, and tells of the later ones at debug", async () => {
  const told: string[] = [];
  const log = {
    warn: (message: string, fields?: Record<string, unknown>) =>
      told.push(`warn ${message} ${JSON.stringify(fields)}`),
    debug: (message: string, fields?: Record<string, unknown>) =>
      told.push(`debug ${message} ${JSON.stringify(fields)}`),
  };
  let calls = 0;
  await assert.rejects(
    retry(() => Promise.reject(new Error(`down ${++calls}`)), {
      attempts: 3,
      minDelayMs: 1,
      maxDelayMs: 1,
      isRetriable: () => true,
      random: () => 0,
      onRetry: logRetries(log, "listing call", (error) => (error as Error).message),
    }),
    /down 3/,
  );
  assert.deepEqual(told.map((line) => line.replace(/\d+ ms/, "N ms")), [
    'warn listing call failed, retrying in N ms {"attempt":1,"error":"down 1"}',
    'debug listing call failed, retrying in N ms {"attempt":2,"error":"down 2"}',
  ]);
});
