import assert from "node:assert/strict";
import { MirrorRoots, OverlappingMirrorError } from "../../src/module/mirror_roots.ts";

Deno.test("mirror roots may not equal, contain or lie inside one another", () => {
  const roots = new MirrorRoots();
  const release = roots.claim("/v/.viam/shared", "mirror1");
  roots.claim("/v/.viam/shared-2", "mirror2"); // a common prefix is not nesting
  for (const root of ["/v/.viam/shared", "/v/.viam/shared/faces", "/v/.viam"]) {
    assert.throws(() => roots.claim(root, "mirror3"), (error: unknown) => {
      assert.ok(error instanceof OverlappingMirrorError);
      assert.match(error.message, /\/v\/\.viam\/shared, used by mirror1/);
      return true;
    });
  }
  release();
  roots.claim("/v/.viam/shared/faces", "mirror3");
});

Deno.test("a stale release does not free a root claimed again by someone else", () => {
  const roots = new MirrorRoots();
  const first = roots.claim("/m", "a");
  first();
  roots.claim("/m", "b");
  first();
  assert.throws(() => roots.claim("/m", "c"), OverlappingMirrorError);
});

Deno.test("two resources' mirrors that differ only by case are one folder on a case-insensitive home", () => {
  const roots = new MirrorRoots();
  roots.claim("/home/pi/.viam/faces", "m1");
  assert.throws(() => roots.claim("/home/pi/.viam/Faces", "m2"), OverlappingMirrorError);
  assert.throws(() => roots.claim("/home/pi/.viam/FACES/sub", "m3"), OverlappingMirrorError);
});
