import assert from "node:assert/strict";
import { FaultState } from "./faults.ts";

function _draws(state: FaultState, n: number): boolean[] {
  return Array.from({ length: n }, () => state.failsUnavailable("BinaryDataByFilter"));
}

Deno.test("unavailable draws are seeded: the same seed fails the same calls", () => {
  const a = _draws(new FaultState({ unavailableRate: 0.3, unavailableSeed: 7 }), 200);
  assert.deepEqual(_draws(new FaultState({ unavailableRate: 0.3, unavailableSeed: 7 }), 200), a);
  assert.notDeepEqual(_draws(new FaultState({ unavailableRate: 0.3, unavailableSeed: 8 }), 200), a);
  const failed = a.filter(Boolean).length;
  assert.ok(failed > 30 && failed < 90, `${failed} of 200 failed at rate 0.3`);
  assert.ok(_draws(new FaultState({ unavailableRate: 1 }), 50).every(Boolean));
  assert.ok(!_draws(new FaultState({}), 50).some(Boolean));
});

Deno.test("unavailableCalls limits the calls the rate applies to", () => {
  const state = new FaultState({ unavailableRate: 1, unavailableCalls: ["download"] });
  assert.equal(state.failsUnavailable("download"), true);
  assert.equal(state.failsUnavailable("BinaryDataByIDs"), false);
});

Deno.test("bad knobs are refused, naming the knob", () => {
  assert.throws(
    () => new FaultState({ unavailableRate: 1.5 }),
    /faults\.unavailableRate must be a number in \[0, 1\], got 1\.5/,
  );
  assert.throws(() => new FaultState({ latencyMs: -1 }), /faults\.latencyMs/);
  assert.throws(() => new FaultState({ latencyMs: NaN }), /faults\.latencyMs/);
  assert.throws(
    () => new FaultState({ failListingAfterPage: 1.5 }),
    /faults\.failListingAfterPage must be an integer/,
  );
  assert.throws(
    () => new FaultState({ maxPageItems: 0 }),
    /faults\.maxPageItems must be an integer >= 1/,
  );
  assert.throws(() => new FaultState({ bodyBytesPerSecond: 0 }), /faults\.bodyBytesPerSecond/);
  assert.throws(() => new FaultState({ dropBodyAfterBytes: -5 }), /faults\.dropBodyAfterBytes/);
  assert.throws(() => new FaultState({ downloadExtraBytes: 1.5 }), /faults\.downloadExtraBytes/);
  assert.throws(
    () => new FaultState({ failListingCode: "boom" as "internal" }),
    /faults\.failListingCode must be "unavailable", "internal", "unauthenticated", "canceled" or "invalid_argument", got boom/,
  );
  assert.throws(
    () => new FaultState({ unavailableCalls: ["Nope" as "download"] }),
    /unknown call "Nope"/,
  );
  assert.deepEqual(new FaultState({ latencyMs: 5 }).faults, { latencyMs: 5 });
});
