import assert from "node:assert/strict";
import { join } from "node:path";
import { walkPushFolder } from "../../src/push/walk_push_folder.ts";

Deno.test("walk: a folder that cannot be read is reported with its error; the walk goes on", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-walk-" });
  try {
    await Deno.writeTextFile(join(root, "a.txt"), "a");
    await Deno.mkdir(join(root, "sub"));
    await Deno.writeTextFile(join(root, "sub", "b.txt"), "b");
    await Deno.mkdir(join(root, "z"));
    await Deno.writeTextFile(join(root, "z", "c.txt"), "c");
    const walk = walkPushFolder(root);
    // The root is read at the first step; its subfolders wait. One of them is then swapped for a
    // file (readdir: ENOTDIR), as root sees no EACCES: an unreadable folder.
    const first = await walk.next();
    assert.deepEqual(first.value && [first.value.kind, first.value.path], ["file", "a.txt"]);
    await Deno.remove(join(root, "z"), { recursive: true });
    await Deno.writeTextFile(join(root, "z"), "now a file");
    const rest = await Array.fromAsync(walk);
    assert.deepEqual(rest.map((e) => [e.kind, e.path, e.kind === "skipped" ? e.reason : ""]), [
      ["skipped", "z", "folder not readable"],
      ["file", "sub/b.txt", ""],
    ]);
    const skip = rest[0];
    assert.ok(
      skip.kind === "skipped" && /cannot read .*z: Not a directory/.test(skip.detail ?? ""),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("walk: a push folder that cannot be read fails the walk, naming it", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-walk-" });
  try {
    const file = join(root, "not-a-folder");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(Array.fromAsync(walkPushFolder(file)), /cannot read .*not-a-folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// A flat folder of captures (a robot offline for days) must not need its whole listing in memory:
// the walk runs in a child under a small heap, over a folder whose entries as an array take more.
Deno.test("the walk of a flat folder of many files stays within a small heap", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-flat-" });
  try {
    const n = 120_000;
    for (let i = 0; i < n; i++) {
      Deno.writeFileSync(
        join(root, `capture-2026-12-04T10-00-00.${String(i).padStart(7, "0")}.jpg`),
        new Uint8Array(1),
      );
    }
    const walk = new URL("../../src/push/walk_push_folder.ts", import.meta.url).href;
    const code = `import { walkPushFolder } from "${walk}";
      let files = 0;
      for await (const e of walkPushFolder(${JSON.stringify(root)})) if (e.kind === "file") files++;
      console.log(files);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--max-old-space-size=40", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(0, 300));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), String(n));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
