/**
 * A deletion that waits for the folders above a sent file to settle looks at the file again after
 * the wait: a version saved meanwhile is never removed in its place.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import { identityOf } from "../../src/push/file_identity.ts";
import { deleteIfUnchanged } from "../../src/push/push_file.ts";
import { PushJournal } from "../../src/push/push_journal.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";
import { pushConfig } from "./_harness.ts";

function _run(args: string[]): void {
  const { success, stderr } = new Deno.Command(args[0], { args: args.slice(1) }).outputSync();
  assert.ok(success, new TextDecoder().decode(stderr));
}

Deno.test("a version saved over a sent file on a disk mounted below the push folder, while its deletion waits for the folders, is kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "data_mirror_wait_exdev_" });
  const usb = join(root, "usb");
  await Deno.mkdir(usb);
  _run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", usb]);
  try {
    const full = join(usb, "latest.jpg");
    await Deno.writeTextFile(full, "version 1, sent");
    const journal = await PushJournal.open(await ensureStateDir(root));
    const sent = identityOf(await Deno.lstat(full));
    // A shared drop folder of another user's, changed early in this second: the deletion waits
    // most of a second, for the next.
    await new Promise((resolve) => setTimeout(resolve, 1020 - Date.now() % 1000));
    _run(["chown", "65534", root]);
    await Deno.chmod(root, 0o777);
    const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
    const deleting = deleteIfUnchanged(ctx, "usb/latest.jpg", sent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The camera saves its next version over the name meanwhile (an atomic save).
    await Deno.writeTextFile(join(usb, ".next"), "version 2, never sent");
    await Deno.rename(join(usb, ".next"), full);
    assert.equal(await deleting, false);
    assert.equal(await Deno.readTextFile(full), "version 2, never sent");
    await journal.close();
  } finally {
    _run(["umount", usb]);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "on an exFAT stick below the push folder, a rewrite in place during the deletion's wait, " +
    "its time put back, is kept: the bytes are compared after the wait",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_wait_fuse_" });
    const usb = join(root, "usb");
    await Deno.mkdir(usb);
    try {
      await withExfatFuseAt(usb, async () => {
        const full = join(usb, "latest.jpg");
        const sentText = "version 1, the one sent";
        await Deno.writeTextFile(full, sentText);
        const journal = await PushJournal.open(await ensureStateDir(root));
        const sent = identityOf(await Deno.lstat(full));
        const digest = createHash("sha256").update(sentText).digest("hex");
        await new Promise((resolve) => setTimeout(resolve, 1020 - Date.now() % 1000));
        _run(["chown", "65534", root]);
        await Deno.chmod(root, 0o777);
        const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
        const deleting = deleteIfUnchanged(ctx, "usb/latest.jpg", sent, {
          sentDigest: digest,
          onFuse: true,
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
        // Rewritten in place, same size, its time put back (exfat-fuse: the change time with it).
        using file = await Deno.open(full, { write: true });
        await file.write(new TextEncoder().encode("VERSION 2, never sent!!"));
        await Deno.utime(full, sent.mtimeMs / 1000, sent.mtimeMs / 1000);
        assert.equal(await deleting, false);
        assert.equal(await Deno.readTextFile(full), "VERSION 2, never sent!!");
        await journal.close();
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
