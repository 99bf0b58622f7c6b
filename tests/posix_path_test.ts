import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import { basename, dirname, isAbsolute, join, resolve } from "../src/posix_path.ts";

// A fixed seed keeps the suite deterministic; change it locally to explore further.
const SEED = 20261205;

/** Paths made of the parts that matter to these functions: slashes, dots, names. */
const path = fc.array(fc.constantFrom("/", "//", ".", "..", "...", "a", "bc", ".viam", " ", "é"), {
  maxLength: 10,
}).map((parts) => parts.join(""));
const anyPath = fc.oneof(path, fc.string({ maxLength: 12 }));

Deno.test("posix_path: isAbsolute, dirname and basename agree with node:path on any string", () => {
  fc.assert(
    fc.property(anyPath, (p) => {
      assert.equal(isAbsolute(p), posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
      assert.equal(dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
      assert.equal(basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

Deno.test("posix_path: join and resolve agree with node:path on any strings", () => {
  fc.assert(
    fc.property(fc.array(anyPath, { maxLength: 4 }), (parts) => {
      assert.equal(join(...parts), posix.join(...parts), `join(${JSON.stringify(parts)})`);
      assert.equal(resolve(...parts), posix.resolve(...parts), `resolve(${JSON.stringify(parts)})`);
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

Deno.test("posix_path: the cases the grants meet", () => {
  assert.equal(join("/home/pi", ".viam"), "/home/pi/.viam");
  assert.equal(join("/data/real", "a", "b"), "/data/real/a/b");
  assert.equal(resolve("/a/b/../c/"), "/a/c");
  assert.equal(resolve("/"), "/");
  assert.equal(resolve("rel"), `${Deno.cwd()}/rel`);
  assert.equal(dirname("/tmp/viam-module.sock"), "/tmp");
  assert.equal(dirname("/"), "/");
  assert.equal(basename("/home/pi/.viam/"), ".viam");
});
