import assert from "node:assert/strict";
import { isSameDestination, pushDestination } from "../../src/push/push_destination.ts";

const BASE = { appUrl: "https://app.viam.com", partId: "p1", tags: ["a", "b"], datasetIds: ["d"] };

Deno.test("push destination: tags and datasets count as sets; every field tells two apart", () => {
  const key = pushDestination(BASE);
  assert.match(key, /^[0-9a-f]{16}$/);
  assert.equal(pushDestination({ ...BASE, tags: ["b", "a", "b"] }), key);
  for (
    const other of [
      { ...BASE, appUrl: "http://127.0.0.1:8080" },
      { ...BASE, partId: "p2" },
      { ...BASE, tags: ["a"] },
      { ...BASE, tags: ["a", "b", "c"] },
      { ...BASE, datasetIds: [] },
      // Not one string joined: a tag may hold what a separator would.
      { ...BASE, tags: ["a", "b", "d"], datasetIds: [] },
    ]
  ) {
    assert.notEqual(pushDestination(other), key, JSON.stringify(other));
  }
});

Deno.test("push destination: a record without one (an older journal) counts as the current one's", () => {
  const key = pushDestination(BASE);
  assert.equal(isSameDestination(undefined, key), true);
  assert.equal(isSameDestination(key, key), true);
  assert.equal(isSameDestination(pushDestination({ ...BASE, partId: "p2" }), key), false);
});
