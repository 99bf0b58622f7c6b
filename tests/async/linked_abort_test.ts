import assert from "node:assert/strict";
import { LinkedAbort } from "../../src/async/linked_abort.ts";

Deno.test("a linked abort follows the caller's signal, already aborted or later, with its reason", () => {
  const before = new AbortController();
  before.abort(new Error("before"));
  using early = new LinkedAbort(before.signal);
  assert.equal(early.signal.aborted, true);
  assert.equal((early.signal.reason as Error).message, "before");

  const caller = new AbortController();
  using later = new LinkedAbort(caller.signal);
  assert.equal(later.signal.aborted, false);
  caller.abort(new Error("later"));
  assert.equal((later.signal.reason as Error).message, "later");
});

Deno.test("a linked abort aborts on its own without the caller, and lets go when disposed", () => {
  const caller = new AbortController();
  const own = new LinkedAbort(caller.signal);
  own.abort(new Error("own"));
  assert.equal((own.signal.reason as Error).message, "own");
  assert.equal(caller.signal.aborted, false, "the caller's signal is left alone");

  const released = new LinkedAbort(caller.signal);
  released[Symbol.dispose]();
  caller.abort(new Error("after dispose"));
  assert.equal(released.signal.aborted, false, "no longer follows once disposed");

  using alone = new LinkedAbort();
  assert.equal(alone.signal.aborted, false);
});
