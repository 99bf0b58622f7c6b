/**
 * The settle time on a file system that keeps whole seconds (ext4 with 128-byte inodes here; ext2,
 * ext3 and exFAT do too, FAT keeps two): a file's time is the start of the second it was last
 * written in, so its age is counted from that second's end. Counted from its start, a file written
 * late in a second looked up to a second older than it was: a writer pausing just under the settle
 * time had its file sent cut short and deleted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { withPush } from "./_harness.ts";

function _run(command: string, ...args: string[]): void {
  const { success, stderr } = new Deno.Command(command, { args }).outputSync();
  assert.ok(success, `${command}: ${new TextDecoder().decode(stderr)}`);
}

Deno.test("on a file system keeping whole seconds, a file's settle time counts from the end of the second it was written in", async () => {
  await withPush(async ({ root, home, pass, platform }) => {
    const image = join(home, "image");
    Deno.writeFileSync(image, new Uint8Array(0));
    Deno.truncateSync(image, 16 * 2 ** 20);
    _run("mkfs.ext4", "-q", "-I", "128", "-F", image);
    _run("mount", "-o", "loop", image, root);
    try {
      // Written late in its second (a camera's frame, its writer about to go on).
      while (Date.now() % 1000 < 800) await new Promise((resolve) => setTimeout(resolve, 20));
      const writtenAt = Date.now();
      const path = join(root, "frame.bin");
      Deno.writeFileSync(path, new Uint8Array(4096).fill(7));
      const stamped = Deno.lstatSync(path).mtime!.getTime();
      assert.equal(stamped % 1000, 0, `a whole-second time, got ${stamped}`);
      // A settle time of one second, looked at 1.05 s after the write: its stamp is over 1.8 s
      // behind, but its writer may have written until the second's end.
      const early = await pass({ minAgeSeconds: 1 }, { now: () => writtenAt + 1_050 });
      assert.equal(early.uploaded, 0, "sent before its settle time");
      assert.equal(platform.items().length, 0);
      assert.equal(Deno.lstatSync(path).size, 4096, "kept");
      // A settle time after the end of the step it was stamped in (two seconds at an even second,
      // taken as FAT's), it goes.
      const later = await pass({ minAgeSeconds: 1 }, { now: () => stamped + 2_000 + 1_000 + 10 });
      assert.equal(later.uploaded, 1);
      assert.equal(platform.items().length, 1);
    } finally {
      _run("umount", root);
    }
  });
});

Deno.test("a file whose modification time was put back settles from the end of the second its change time names", async () => {
  await withPush(async ({ root, pass, platform, write }) => {
    // Rewritten now, its modification time put back a minute (a tool preserving it): the change
    // time, which Deno gives in whole seconds on any file system, is all that says when.
    await write("frame.bin", new Uint8Array(4096).fill(2), 60);
    const changed = Deno.lstatSync(join(root, "frame.bin")).ctime!.getTime();
    assert.equal(changed % 1000, 0, `a whole-second change time, got ${changed}`);
    // A settle time of a second, half a second past the change time's second start: the write
    // may have come up to its end.
    const early = await pass({ minAgeSeconds: 1 }, { now: () => changed + 1_500 });
    assert.equal(early.uploaded, 0, "sent before its settle time");
    assert.equal(platform.items().length, 0);
    const later = await pass({ minAgeSeconds: 1 }, { now: () => changed + 2_000 + 10 });
    assert.equal(later.uploaded, 1);
  });
});
