import assert from "node:assert/strict";
import { AccessToken } from "../../src/remote/access_token.ts";

class Refused extends Error {}
const isRefused = (error: unknown) => error instanceof Refused;

Deno.test("one sign-in serves every call; a refused token is renewed once, shared by the calls refused with it", async () => {
  let signIns = 0;
  const token = new AccessToken(() => Promise.resolve(`t${++signIns}`));
  assert.deepEqual(
    await Promise.all([1, 2, 3].map(() => token.use((t) => Promise.resolve(t), { isRefused }))),
    ["t1", "t1", "t1"],
  );
  assert.equal(signIns, 1);
  // The platform refuses t1: both calls in flight sign in again once, together.
  const seen: string[] = [];
  const refusingT1 = (t: string) => {
    seen.push(t);
    return t === "t1" ? Promise.reject(new Refused()) : Promise.resolve(t);
  };
  assert.deepEqual(
    await Promise.all([token.use(refusingT1, { isRefused }), token.use(refusingT1, { isRefused })]),
    ["t2", "t2"],
  );
  assert.equal(signIns, 2);
  // Refused again with the new token: given up after one renewal, not retried for ever.
  await assert.rejects(token.use(() => Promise.reject(new Refused()), { isRefused }), Refused);
  assert.equal(signIns, 3);
  // Another error is passed on as it is, the token kept.
  await assert.rejects(
    token.use(() => Promise.reject(new RangeError("other")), { isRefused }),
    RangeError,
  );
  assert.equal(signIns, 3);
});

Deno.test("a failed sign-in is not kept: the next call signs in again", async () => {
  let attempts = 0;
  const token = new AccessToken(() =>
    ++attempts === 1 ? Promise.reject(new Error("no network")) : Promise.resolve("t")
  );
  await assert.rejects(token.use((t) => Promise.resolve(t), { isRefused }), /no network/);
  assert.equal(await token.use((t) => Promise.resolve(t), { isRefused }), "t");
  assert.equal(attempts, 2);
  // `wait` bounds the wait for a sign-in.
  const slow = new AccessToken(() => new Promise<string>(() => {}));
  await assert.rejects(
    slow.use((t) => Promise.resolve(t), {
      isRefused,
      wait: () => Promise.reject(new Error("sign-in timed out")),
    }),
    /timed out/,
  );
});
