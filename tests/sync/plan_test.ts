import assert from "node:assert/strict";
import { type LocalFile, REGULAR_FILE } from "../../src/fs/local_files.ts";
import type { DeleteLimit } from "../../src/config.ts";
import {
  isProtected,
  planDeletes,
  type PlanInput,
  planItem,
  planPass,
} from "../../src/sync/plan.ts";
import type { RemoteItem } from "../../src/remote/remote_item.ts";
import type { ListedItem } from "../../src/sync/listing_index.ts";

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
  return new Map(paths.map((path) => [path, { symlink: false }]));
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
    local: new Map([["a.jpg", { symlink: false }]]),
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

Deno.test("a local symlink where a remote directory is needed is a conflict named as a link", () => {
  const plan = planPass(input({
    remote: remote("a/b/c.jpg"),
    local: new Map([["a/b", { symlink: true }]]),
  }));
  assert.deepEqual(plan.conflicts, [{
    path: "a/b/c.jpg",
    reason: 'the local symlink "a/b" is where a directory is needed (the mirror follows no link)',
  }]);
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
      "nothing; allow_delete_all: true allows it)",
  );
  const allowed = planPass(input({
    local: local("b.jpg", "a.jpg"),
    deleteEnabled: true,
    allowDeleteAll: true,
  }));
  assert.deepEqual(allowed.deletes, ["a.jpg", "b.jpg"]);
  assert.equal(allowed.deleteBlocked, undefined);
});

Deno.test("a listing whose every name was refused says so when it deletes nothing", () => {
  const plan = planPass(input({ local: local("a.jpg"), deleteEnabled: true, rejected: 2 }));
  assert.deepEqual(plan.deletes, []);
  assert.equal(
    plan.deleteBlocked,
    "every listed item's name was refused (2, see the warnings): refusing to delete all 1 local " +
      "file (allow_delete_all: true allows it)",
  );
});

Deno.test("a pass over max_delete deletes none and says so; the default is half, at least 10", async (t) => {
  const files = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(3, "0")}.jpg`);
  const cases: [string, DeleteLimit | undefined, number, number, string | undefined][] = [
    // [name, limit, local files, of which stale, message]
    ["default, 10 of 11 (the floor)", undefined, 11, 10, undefined],
    [
      "default, 11 of 12",
      undefined,
      12,
      11,
      "11 of the mirror's 12 files, more than max_delete " +
      "allows (50% of them, at least 10 files)",
    ],
    ["default, 50 of 100", undefined, 100, 50, undefined],
    [
      "default, 51 of 100",
      undefined,
      100,
      51,
      "51 of the mirror's 100 files, more than " +
      "max_delete allows (50% of them, at least 10 files)",
    ],
    ["count 3, 3 stale", { files: 3, percent: 0 }, 20, 3, undefined],
    [
      "count 3, 4 stale",
      { files: 3, percent: 0 },
      20,
      4,
      "4 of the mirror's 20 files, more " +
      "than max_delete allows (3 files)",
    ],
    [
      "0 holds back any",
      { files: 0, percent: 0 },
      5,
      1,
      "1 of the mirror's 5 files, more " +
      "than max_delete allows (0 files)",
    ],
    ["count 1, 1 stale", { files: 1, percent: 0 }, 3, 1, undefined],
    [
      "count 1, 2 stale: one file, not files",
      { files: 1, percent: 0 },
      3,
      2,
      "2 of the mirror's 3 files, more than max_delete allows (1 file)",
    ],
    ["25% of 20 is 5", { files: 0, percent: 25 }, 20, 5, undefined],
    [
      "25% of 20, 6 stale",
      { files: 0, percent: 25 },
      20,
      6,
      "6 of the mirror's 20 files, " +
      "more than max_delete allows (25% of them)",
    ],
    ["100% never holds back", { files: 0, percent: 100 }, 20, 19, undefined],
  ];
  for (const [name, maxDelete, total, staleCount, message] of cases) {
    await t.step(name, () => {
      const all = files("f", total);
      const plan = planPass(input({
        remote: remote(...all.slice(staleCount)),
        local: local(...all),
        deleteEnabled: true,
        ...(maxDelete ? { maxDelete } : {}),
      }));
      if (message === undefined) {
        assert.equal(plan.deleteBlocked, undefined);
        assert.deepEqual(plan.deletes, all.slice(0, staleCount));
      } else {
        assert.deepEqual(plan.deletes, [], "all or nothing");
        assert.equal(
          plan.deleteBlocked,
          `this pass would delete ${message}: nothing deleted (if this is meant, raise ` +
            "max_delete for one pass)",
        );
      }
    });
  }
});

Deno.test("max_delete counts only the files the mirror could delete", () => {
  // 4 protected files, a symlink and state files do not make 3 of 6 look like 3 of 12.
  const plan = planPass(input({
    remote: remote("keep1.jpg", "keep2.jpg", "keep3.jpg"),
    local: new Map([
      ...local("keep1.jpg", "keep2.jpg", "keep3.jpg", "a.jpg", "b.jpg", "c.jpg"),
      ...local("models/1", "models/2", "models/3", "models/4", ".data-mirror/lock"),
      ["link.jpg", { symlink: true }],
    ]),
    deleteEnabled: true,
    protectedDirs: ["models"],
    maxDelete: { files: 0, percent: 49 },
  }));
  assert.deepEqual(plan.deletes, []);
  assert.match(plan.deleteBlocked ?? "", /delete 3 of the mirror's 6 files/);
});

Deno.test("max_delete held back: its share stays of what the mirror held then, not of what it placed since", () => {
  // 12 files of an old filter, and the 12 the held-back pass placed for the new one.
  const old = Array.from({ length: 12 }, (_, i) => `a/${i}.jpg`).sort();
  const now = Array.from({ length: 12 }, (_, i) => `b/${i}.jpg`);
  const pass = (heldBase: number | undefined) =>
    planPass(input({
      remote: remote(...now),
      local: local(...old, ...now),
      deleteEnabled: true,
      ...(heldBase === undefined ? {} : { heldBase }),
    }));
  assert.deepEqual(pass(undefined).deletes, old, "12 of 24: within the default's half");
  const held = pass(12);
  assert.deepEqual(held.deletes, []);
  assert.equal(held.limitBase, 12);
  assert.match(
    held.deleteBlocked ?? "",
    /delete 12 of the 12 files the mirror held before max_delete first held them back/,
  );
  // A count kept above the mirror's (files removed since by hand) is not used.
  assert.deepEqual(pass(30).deletes, old);
});

Deno.test("an empty listing with allow_delete_all is held back only by a max_delete that was set", () => {
  const plan = planPass(input({
    local: local(...Array.from({ length: 40 }, (_, i) => `f${i}`)),
    deleteEnabled: true,
    allowDeleteAll: true,
  }));
  assert.equal(plan.deletes.length, 40);
  assert.equal(plan.deleteBlocked, undefined);
  // A limit the operator set holds, whatever the listing.
  const limited = planPass(input({
    local: local(...Array.from({ length: 40 }, (_, i) => `f${i}`)),
    deleteEnabled: true,
    allowDeleteAll: true,
    maxDelete: { files: 5, percent: 0 },
  }));
  assert.deepEqual(limited.deletes, []);
  assert.match(
    limited.deleteBlocked ?? "",
    /delete 40 of the mirror's 40 files, more than max_delete/,
  );
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
  files.set("link.jpg", { symlink: true });
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

Deno.test("a local file that a listed path folds to (case, Unicode form) is kept when it is that file", () => {
  const plan = planPass(input({
    remote: remote("Photos/A.jpg", "caf\u00e9.jpg"),
    local: local("photos/a.jpg", "cafe\u0301.jpg", "other.jpg"),
    deleteEnabled: true,
  }));
  assert.deepEqual(plan.deletes, ["other.jpg"], "not known to be another file: kept");
  // The file system says which: one file under both names (case-insensitive), or two.
  const asked: [string, string][] = [];
  const sameFileAs = (answer: boolean) => (path: string, listed: string) => {
    asked.push([path, listed]);
    return answer;
  };
  const insensitive = planPass(input({
    remote: remote("Photos/A.jpg"),
    local: local("photos/a.jpg", "other.jpg"),
    deleteEnabled: true,
    isSameFile: sameFileAs(true),
  }));
  assert.deepEqual(insensitive.deletes, ["other.jpg"]);
  assert.deepEqual(asked, [["photos/a.jpg", "Photos/A.jpg"]]);
  const sensitive = planPass(input({
    remote: remote("Photos/A.jpg"),
    local: local("photos/a.jpg", "other.jpg"),
    deleteEnabled: true,
    isSameFile: sameFileAs(false),
  }));
  assert.deepEqual(sensitive.deletes, ["other.jpg", "photos/a.jpg"]);
});

Deno.test("planItem: a path in a folder holding another mirror, or that folder itself, is a conflict", () => {
  const nested = new Set(["faces", "a/b"]);
  for (const path of ["faces/x.jpg", "faces/deep/y.jpg", "faces", "a/b/c.bin"]) {
    const decision = planItem(path, new Map(), new Set(), nested);
    assert.ok(typeof decision === "object", path);
    assert.match(decision.conflict, /holds another mirror/);
  }
  for (const path of ["facesx/a.jpg", "a/bc.bin", "a/c.bin", "x.jpg"]) {
    assert.equal(planItem(path, new Map(), new Set(), nested), "fetch", path);
  }
  assert.equal(planItem("faces/x.jpg", new Map(), new Set()), "fetch", "no nested mirror");
});

Deno.test("protected_dirs match the folder whatever its case (a case-insensitive mirror disk)", () => {
  assert.equal(isProtected("models/detector.tflite", ["Models"]), true);
  assert.equal(isProtected("Models/x/y.bin", ["models"]), true);
  assert.equal(isProtected("caf\u00e9/a.jpg", ["cafe\u0301"]), true);
  assert.equal(isProtected("modelsx/a", ["models"]), false);
});

Deno.test("a protected dir ending in a capital sigma protects the folder exFAT takes for it", () => {
  // exFAT's upcase table: "ΦΩΤΟΣ" and "φωτοσ" are one folder; toLowerCase gives "φωτος".
  assert.equal(isProtected("φωτοσ/mine.jpg", ["ΦΩΤΟΣ"]), true);
});

Deno.test("a file under another sigma of a listed folder is not planned as stale", () => {
  const remote = new Map([["καμερασ/x.jpg", {} as ListedItem]]);
  const local = new Map([
    ["ΚΑΜΕΡΑΣ/x.jpg", REGULAR_FILE],
    ...Array.from({ length: 12 }, (_, i) => [`k/${i}`, REGULAR_FILE] as const),
  ]);
  for (let i = 0; i < 12; i++) remote.set(`k/${i}`, {} as ListedItem);
  const plan = planDeletes({
    remote,
    local,
    listingComplete: true,
    deleteEnabled: true,
    allowDeleteAll: false,
    protectedDirs: [],
    isSameFile: () => true,
  });
  assert.deepEqual(plan.deletes, []);
});

Deno.test("an item under another case of a nested mirror's folder is a conflict, not written there", () => {
  const decision = planItem("sub/x.jpg", new Map(), new Set(["Sub"]), new Set(["Sub"]));
  assert.equal(typeof decision, "object");
  assert.match((decision as { conflict: string }).conflict, /holds another mirror/);
});

Deno.test("protected_dirs match whatever letter a path starts with (the first-letter shortcut holds for non-ASCII folds)", () => {
  assert.equal(isProtected("Kmodels/a.bin", ["\u212Amodels"]), true); // Kelvin sign folds to k
  assert.equal(isProtected("\u212Amodels/a.bin", ["kmodels"]), true);
  assert.equal(isProtected("ÉTÉ/a.jpg", ["été"]), true);
  assert.equal(isProtected("Models", ["models"]), true);
  assert.equal(isProtected("mod/a.bin", ["models"]), false);
  const dirs = ["models"];
  for (let i = 0; i < 5000; i++) assert.equal(isProtected(`f${i}.bin`, dirs), false);
  assert.equal(isProtected("MODELS/x", dirs), true); // past the remembered first names
});

Deno.test("isProtected: a path whose first letter a combining mark follows is folded (NFC)", () => {
  assert.equal(isProtected("e\u0301le\u0300ves/own.jpg", ["élèves"]), true);
  assert.equal(isProtected("o\u0308l/x", ["Öl"]), true);
  assert.equal(isProtected("A\u030angstrom/x", ["ångstrom"]), true);
  assert.equal(isProtected("elves/x", ["élèves"]), false);
});
