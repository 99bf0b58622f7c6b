import assert from "node:assert/strict";
import type { LocalFile } from "../../src/fs/local_files.ts";
import { type PlanInput, planPass } from "../../src/sync/plan.ts";
import type { RemoteItem } from "../../src/remote/remote_item.ts";

function remote(...paths: string[]): Map<string, RemoteItem> {
  return new Map(paths.map((path, i) => [path, {
    binaryDataId: `org/loc/${i}`,
    fileId: `${i}`,
    fileName: path,
    fileExt: "",
    mimeType: "",
    uri: "",
  }]));
}

function local(...paths: string[]): Map<string, LocalFile> {
  return new Map(paths.map((path) => [path, { path, symlink: false }]));
}

function input(fields: Partial<PlanInput>): PlanInput {
  return {
    remote: new Map(),
    local: new Map(),
    listingComplete: true,
    deleteEnabled: false,
    allowDeleteAll: false,
    protectedDirs: [],
    ...fields,
  };
}

Deno.test("missing files are downloaded, present ones skipped, sorted by path", () => {
  const r = remote("c.jpg", "a/b.jpg", "b.jpg");
  const plan = planPass(input({ remote: r, local: local("b.jpg") }));
  assert.deepEqual(plan.downloads, [
    { path: "a/b.jpg", item: r.get("a/b.jpg") },
    { path: "c.jpg", item: r.get("c.jpg") },
  ]);
  assert.equal(plan.skipped, 1);
  assert.deepEqual(plan.deletes, []);
  assert.deepEqual(plan.conflicts, []);
  assert.equal(plan.deleteBlocked, undefined);
});

Deno.test("a local file is never overwritten, whatever its size", () => {
  const plan = planPass(input({
    remote: remote("a.jpg"),
    local: new Map([["a.jpg", { path: "a.jpg", symlink: false }]]),
  }));
  assert.deepEqual([plan.downloads, plan.skipped], [[], 1]);
});

Deno.test("a local directory where a remote file goes is a conflict", () => {
  const plan = planPass(input({
    remote: remote("a", "z.jpg"),
    local: local("a/x.jpg", "a/y/z.jpg"),
    deleteEnabled: true,
  }));
  assert.deepEqual(plan.conflicts, [
    { path: "a", reason: "a local directory is at this path; it is not replaced" },
  ]);
  assert.deepEqual(plan.downloads.map((d) => d.path), ["z.jpg"]);
  // The unlisted files inside go with delete, so the next pass can download `a`.
  assert.deepEqual(plan.deletes, ["a/x.jpg", "a/y/z.jpg"]);
});

Deno.test("a local file where a remote directory is needed is a conflict", () => {
  const plan = planPass(input({
    remote: remote("a/b/c.jpg", "a/d.jpg"),
    local: local("a/b"),
  }));
  assert.deepEqual(plan.conflicts, [
    { path: "a/b/c.jpg", reason: 'the local file "a/b" is where a directory is needed' },
  ]);
  assert.deepEqual(plan.downloads.map((d) => d.path), ["a/d.jpg"]);
  assert.deepEqual(plan.deletes, [], "delete is off");
});

Deno.test("deletes need delete and a complete listing", async (t) => {
  const cases: [boolean, boolean, string[], string | undefined][] = [
    [false, true, [], undefined],
    [false, false, [], undefined],
    [true, false, [], "the listing did not complete without errors"],
    [true, true, ["gone.jpg", "old/x.jpg"], undefined],
  ];
  for (const [deleteEnabled, listingComplete, deletes, blocked] of cases) {
    await t.step(`delete ${deleteEnabled}, listing complete ${listingComplete}`, () => {
      const plan = planPass(input({
        remote: remote("kept.jpg"),
        local: local("old/x.jpg", "kept.jpg", "gone.jpg"),
        deleteEnabled,
        listingComplete,
      }));
      assert.deepEqual(plan.deletes, deletes);
      if (blocked === undefined) assert.equal(plan.deleteBlocked, undefined);
      else assert.ok(plan.deleteBlocked?.startsWith(blocked), plan.deleteBlocked ?? "no reason");
      assert.equal(plan.skipped, 1);
    });
  }
});

Deno.test("an incomplete listing says how many files it kept", () => {
  const plan = planPass(input({
    local: local("a", "b"),
    deleteEnabled: true,
    listingComplete: false,
    allowDeleteAll: true,
  }));
  assert.deepEqual(plan.deletes, []);
  assert.equal(
    plan.deleteBlocked,
    "the listing did not complete without errors: 2 local files not in it kept until a pass " +
      "lists everything",
  );
});

Deno.test("an empty listing deletes nothing unless allow_delete_all", () => {
  const guarded = planPass(input({ local: local("a.jpg"), deleteEnabled: true }));
  assert.deepEqual(guarded.deletes, []);
  assert.equal(
    guarded.deleteBlocked,
    "the listing returned no files: refusing to delete all 1 local file (a wrong filter lists " +
      "nothing; set allow_delete_all: true to allow it)",
  );
  const allowed = planPass(input({
    local: local("b.jpg", "a.jpg"),
    deleteEnabled: true,
    allowDeleteAll: true,
  }));
  assert.deepEqual(allowed.deletes, ["a.jpg", "b.jpg"]);
  assert.equal(allowed.deleteBlocked, undefined);
});

Deno.test("nothing to delete means nothing blocked", () => {
  for (const listingComplete of [true, false]) {
    const plan = planPass(input({
      remote: remote("a"),
      local: local("a"),
      deleteEnabled: true,
      listingComplete,
    }));
    assert.deepEqual([plan.deletes, plan.deleteBlocked], [[], undefined]);
  }
  const empty = planPass(input({ deleteEnabled: true }));
  assert.deepEqual(empty, { downloads: [], skipped: 0, deletes: [], conflicts: [] });
});

Deno.test("protected dirs keep everything inside them", async (t) => {
  const cases: [string, boolean][] = [
    ["models/a.tflite", true],
    ["models/deep/b.bin", true],
    ["models", true],
    ["models2/a", false],
    ["modelsx", false],
    ["data/keep/x", true],
    ["data/other/x", false],
    ["other.jpg", false],
  ];
  const plan = planPass(input({
    remote: remote("listed.jpg"),
    local: local(...cases.map(([path]) => path)),
    deleteEnabled: true,
    protectedDirs: ["models", "data/keep"],
  }));
  for (const [path, kept] of cases) {
    await t.step(`${path} ${kept ? "kept" : "deleted"}`, () => {
      assert.equal(!plan.deletes.includes(path), kept);
    });
  }
});

Deno.test("protected files alone do not trip the empty-listing guard", () => {
  const plan = planPass(input({
    local: local("models/a.tflite"),
    deleteEnabled: true,
    protectedDirs: ["models"],
  }));
  assert.deepEqual([plan.deletes, plan.deleteBlocked], [[], undefined]);
});

Deno.test("files in the state dir are never deleted", () => {
  const plan = planPass(input({
    remote: remote("a.jpg"),
    local: local(".data-mirror/state.json", ".DATA-MIRROR/x", "./.data-mirror/y", "stale.jpg"),
    deleteEnabled: true,
    allowDeleteAll: true,
  }));
  assert.deepEqual(plan.deletes, ["stale.jpg"]);
});

Deno.test("the plan does not depend on map order", () => {
  const paths = ["b/x.jpg", "a.jpg", "c", "c/d", "e/f/g.png", "z"];
  const localPaths = ["z", "old.jpg", "b", "c/d/e", "a.jpg", "q/r"];
  const forward = planPass(input({
    remote: remote(...paths),
    local: local(...localPaths),
    deleteEnabled: true,
  }));
  const backward = planPass(input({
    remote: new Map([...remote(...paths)].reverse()),
    local: local(...[...localPaths].reverse()),
    deleteEnabled: true,
  }));
  assert.deepEqual(backward, forward);
  assert.deepEqual(forward.downloads.map((d) => d.path), ["e/f/g.png"]);
  assert.deepEqual(forward.conflicts.map((c) => c.path), ["b/x.jpg", "c", "c/d"]);
  assert.deepEqual(forward.deletes, ["b", "c/d/e", "old.jpg", "q/r"]);
  assert.equal(forward.skipped, 2);
});

Deno.test("a symlink in the mirror counts as present but is never deleted", () => {
  const files = local("a.jpg", "old.jpg");
  files.set("link.jpg", { path: "link.jpg", symlink: true });
  const plan = planPass(input({
    remote: remote("a.jpg", "link.jpg"),
    local: files,
    deleteEnabled: true,
  }));
  assert.equal(plan.skipped, 2);
  assert.deepEqual(plan.deletes, ["old.jpg"]);
  const unlisted = planPass(input({ remote: remote("a.jpg"), local: files, deleteEnabled: true }));
  assert.deepEqual(unlisted.deletes, ["old.jpg"]);
});

Deno.test("a local file that a listed path folds to (case, Unicode form) is never deleted", () => {
  const plan = planPass(input({
    remote: remote("Photos/A.jpg", "caf\u00e9.jpg"),
    local: local("photos/a.jpg", "cafe\u0301.jpg", "other.jpg"),
    deleteEnabled: true,
  }));
  assert.deepEqual(plan.deletes, ["other.jpg"]);
});
