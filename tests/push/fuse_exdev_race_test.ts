/** A FUSE stick mounted in a folder of the push folder: its deletions compare bytes in place. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import { identityOf } from "../../src/push/file_identity.ts";
import { deleteIfUnchanged } from "../../src/push/push_file.ts";
import { PushJournal } from "../../src/push/push_journal.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";
import { pushConfig } from "./_harness.ts";

Deno.test({
  name: "a stick in a folder of the push folder (EXDEV): a version saved over the name while the " +
    "sent bytes are hashed is not deleted by name",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_exdev_" });
    const usb = join(root, "usb");
    await Deno.mkdir(usb);
    try {
      await withExfatFuseAt(usb, async () => {
        const full = join(usb, "video.bin");
        const sentBytes = new Uint8Array(120 * 1024 * 1024).fill(1);
        await Deno.writeFile(full, sentBytes);
        const next = join(usb, ".video.bin.tmp");
        await Deno.writeFile(next, new Uint8Array(sentBytes.length).fill(2));
        const { mtime } = await Deno.lstat(full);
        await Deno.utime(next, mtime!, mtime!);
        const digest = createHash("sha256").update(sentBytes).digest("hex");
        const journal = await PushJournal.open(await ensureStateDir(root));
        const sent = identityOf(await Deno.lstat(full));
        const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
        const deleting = deleteIfUnchanged(ctx, "usb/video.bin", sent, { sentDigest: digest });
        await new Promise((resolve) => setTimeout(resolve, 40)); // its bytes being hashed
        Deno.renameSync(next, full); // the writer saves its next version
        assert.equal(await deleting, false);
        assert.equal((await Deno.lstat(full)).size, sentBytes.length, "the new version is gone");
      }, { sizeMiB: 300 });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "on exfat-fuse, a file whose sent bytes are being compared stays at its name (a kill then " +
    "hides nothing in deleting/)",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_hash_" });
    try {
      await withExfatFuseAt(root, async () => {
        const full = join(root, "video.bin");
        await Deno.writeFile(full, new Uint8Array(120 * 1024 * 1024).fill(4));
        const journal = await PushJournal.open(await ensureStateDir(root));
        const sent = identityOf(await Deno.lstat(full));
        const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
        // Rewritten while it was sent: its bytes are not those sent.
        const deleting = deleteIfUnchanged(ctx, "video.bin", sent, { sentDigest: "f".repeat(64) });
        await new Promise((resolve) => setTimeout(resolve, 40)); // its bytes being hashed
        const during = await Deno.lstat(full).then(() => true, () => false);
        assert.equal(await deleting, false);
        assert.ok(during, "the file left its name while its bytes were hashed");
      }, { sizeMiB: 300 });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
