/**
 * A push folder on an exFAT stick mounted through FUSE (exfat-fuse, as older Raspberry Pi OS mounts
 * one), where the change time is no guard: exfat-fuse reports the modification time in its place,
 * so a program that puts the modification time back also puts the change time back (see
 * `tests/support/exfat_fuse.ts` for what the tests need).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pollUntil } from "../_poll.ts";
import { withPush } from "./_harness.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";

Deno.test({
  name:
    "exfat-fuse: a same-size rewrite after its upload, its modification time put back, is never deleted as sent",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(({ platform, root, pass }) =>
      withExfatFuseAt(root, async () => {
        const path = join(root, "cfg.bin");
        await Deno.writeTextFile(path, "VERSION-1 important\n");
        const old = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
        await Deno.utime(path, old, old);
        const { mtime } = await Deno.stat(path);
        await new Promise((resolve) => setTimeout(resolve, 1100)); // past its change's second
        platform.setFaults({ uploadReplyDelayMs: 1500 });
        const passing = pass();
        await pollUntil("the platform stored it", () => platform.uploads.completed === 1);
        const file = await Deno.open(path, { write: true });
        await file.write(new TextEncoder().encode("VERSION-2 critical!\n"));
        file.close();
        await Deno.utime(path, mtime!, mtime!);
        const first = await passing;
        assert.equal(first.uploaded, 1);
        assert.equal(first.deleted, 0, "VERSION-2 was never sent");
        assert.equal(await Deno.readTextFile(path), "VERSION-2 critical!\n");
        platform.setFaults({});
        const second = await pass();
        assert.equal(second.uploaded, 1, "the rewrite is sent");
        assert.equal(second.deleted, 1, "and deleted once the platform holds it");
      })
    ),
});

Deno.test({
  name: "exfat-fuse: a file sent and unchanged is deleted (its bytes compared)",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withPush(({ root, pass }) =>
      withExfatFuseAt(root, async () => {
        const path = join(root, "a", "big.bin");
        await Deno.mkdir(join(root, "a"));
        const bytes = new Uint8Array(300_000).map((_, i) => i * 7);
        await Deno.writeFile(path, bytes);
        const old = new Date(Date.now() - 60_000);
        await Deno.utime(path, old, old);
        const result = await pass();
        assert.equal(result.uploaded, 1);
        assert.equal(result.deleted, 1);
        await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
        assert.deepEqual([...Deno.readDirSync(join(root, ".data-mirror", "deleting"))], []);
      })
    ),
});
