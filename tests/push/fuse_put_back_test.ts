/** A file found changed at its deletion on a FUSE stick (no hard links) goes back by name, whole. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import { identityOf } from "../../src/push/file_identity.ts";
import { deleteIfUnchanged } from "../../src/push/push_file.ts";
import { PushJournal } from "../../src/push/push_journal.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";
import { pushConfig } from "./_harness.ts";

Deno.test({
  name: "on exfat-fuse, a file put back is the file itself (no copy: none cut short under its " +
    "name, no event loop held)",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_putback_" });
    try {
      await withExfatFuseAt(root, async () => {
        const full = join(root, "video.bin");
        await Deno.writeFile(full, new Uint8Array(8 * 1024 * 1024).fill(3));
        const journal = await PushJournal.open(await ensureStateDir(root));
        const before = await Deno.lstat(full);
        // Its bytes are not those sent: moved aside, compared, put back.
        const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
        const sent = identityOf(before);
        assert.equal(
          await deleteIfUnchanged(ctx, "video.bin", sent, { sentDigest: "f".repeat(64) }),
          false,
        );
        const after = await Deno.lstat(full);
        assert.equal(after.size, before.size);
        assert.equal(after.ino, before.ino, "put back by a copy, not the file itself");
        let left = 0;
        try {
          left = [...Deno.readDirSync(join(root, ".data-mirror", "deleting"))].length;
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
        assert.equal(left, 0);
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
