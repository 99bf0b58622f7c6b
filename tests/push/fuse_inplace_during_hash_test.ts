// on exfat-fuse the sent bytes are hashed where the file is, then its identity checked
// and it is moved aside and removed on the identity alone. A same-size rewrite in place during the
// hash, its modification time put back (`cp -p`, `touch -r`, rsync -t --inplace: what the digest is
// there for), is then deleted, never sent. (Before eee1d57 the moved file's bytes were compared.)
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import { identityOf } from "../../src/push/file_identity.ts";
import { deleteIfUnchanged } from "../../src/push/push_file.ts";
import { PushJournal } from "../../src/push/push_journal.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";
import { pushConfig } from "../push/_harness.ts";

/**
 * Sends nothing: hashes `video.bin` (120 MiB) as sent, starts its deletion, and rewrites its first
 * 4 KiB in place meanwhile, same size, its time put back; `fillStick` fills the stick first (the
 * record of a file moved aside cannot then be written). Asserts the version never sent is there.
 */
async function _rewriteDuringHash(prefix: string, options: { fillStick: boolean }): Promise<void> {
  const root = await Deno.makeTempDir({ prefix });
  try {
    await withExfatFuseAt(root, async () => {
      const full = join(root, "video.bin");
      const sentBytes = new Uint8Array(120 * 1024 * 1024).fill(1);
      await Deno.writeFile(full, sentBytes);
      const digest = createHash("sha256").update(sentBytes).digest("hex");
      const journal = await PushJournal.open(await ensureStateDir(root));
      if (options.fillStick) {
        await Deno.mkdir(join(root, ".data-mirror", "deleting")); // made by an earlier pass
        // A camera fills the stick meanwhile.
        using filler = await Deno.open(join(root, "filler"), { write: true, create: true });
        for (const size of [1024 * 1024, 512]) {
          try {
            for (;;) await filler.write(new Uint8Array(size));
          } catch { /* ENOSPC */ }
        }
      }
      const before = await Deno.lstat(full);
      const sent = identityOf(before);
      const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
      const deleting = deleteIfUnchanged(ctx, "video.bin", sent, { sentDigest: digest });
      await new Promise((resolve) => setTimeout(resolve, 40)); // its first bytes already hashed
      // The user's tool saves the next version in place, same size, and puts the time back.
      const f = await Deno.open(full, { write: true });
      await f.write(new Uint8Array(4096).fill(2));
      f.close();
      await Deno.utime(full, before.atime!, before.mtime!);
      const deleted = await deleting;
      const there = await Deno.readFile(full).catch(() => undefined);
      assert.ok(
        there !== undefined && there[0] === 2,
        `the version never sent was deleted (deleteIfUnchanged said ${deleted})`,
      );
    }, { sizeMiB: 300 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("an in-place rewrite (mtime put back) during the FUSE hash is not deleted", {
  ignore: !EXFAT_FUSE_USABLE,
}, () => _rewriteDuringHash("data_mirror_inplace_", { fillStick: false }));

// On a full stick the record of a file moved aside cannot be written (ENOSPC): the moved file's
// bytes are compared again all the same (they were not, and the rewrite was deleted, never sent).
Deno.test(
  "on a full stick an in-place rewrite (mtime put back) during the FUSE hash is not deleted either",
  {
    ignore: !EXFAT_FUSE_USABLE,
  },
  () => _rewriteDuringHash("data_mirror_full_stick_", { fillStick: true }),
);
