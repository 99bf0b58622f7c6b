/**
 * A full btrfs (the CLI, production permissions, against the local data platform): a rename needs
 * metadata space there (ENOSPC on a full disk) where an unlink does not, and deletes are what frees
 * space. What the platform no longer has must still be deleted when the disk is 100% full. Root,
 * losetup and mkfs.btrfs only (a 64 MiB `--mixed` image on a loop device).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { runProgram } from "../_program.ts";

function _has(command: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${command}`] }).outputSync().success;
  } catch {
    return false;
  }
}

const _USABLE = Deno.uid() === 0 && ["losetup", "mkfs.btrfs"].every(_has);

function _run(command: string, args: string[]): void {
  const out = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).outputSync();
  assert.ok(out.success, `${command}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name: "on a 100% full btrfs, what the platform no longer has is still deleted (sync --delete)",
  ignore: !_USABLE,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "data-mirror-btrfs-" });
    const image = join(dir, "image");
    const home = join(dir, "home");
    await Deno.mkdir(home);
    await Deno.writeFile(image, new Uint8Array(0));
    await Deno.truncate(image, 64 * 1024 * 1024);
    _run("mkfs.btrfs", ["-q", "--mixed", image]);
    _run("mount", ["-o", "loop", image, home]);
    try {
      await using platform = await startPlatform({
        dataset: describeDataset([{ count: 10, sizeBytes: 100_000, tags: ["t"] }]),
      });
      const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
      const sync = () =>
        runProgram(["sync", "--app-url", platform.url, "--json", "--tags", "t", "--delete"], {
          viamHome: home,
          env,
        });
      const first = await sync();
      assert.equal(first.code, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).downloaded, 10);
      // Fill the file system to the last block with a file outside the mirror.
      const filler = await Deno.open(join(home, "filler"), { write: true, create: true });
      try {
        for (const chunk = new Uint8Array(256 * 1024);;) await filler.write(chunk);
      } catch (error) {
        assert.match(String(error), /No space left/);
      } finally {
        filler.close();
      }
      _run("sync", ["-f", home]);
      platform.replaceDataset(describeDataset([{ count: 4, sizeBytes: 100_000, tags: ["t"] }]));
      const full = await sync();
      assert.equal(full.code, 0, full.stderr);
      assert.equal(JSON.parse(full.stdout).deleted, 6, full.stdout);
      const root = join(home, "data_mirror");
      const left = [...Deno.readDirSync(join(root, "g0"))].map((entry) => entry.name);
      assert.equal(left.length, 4, left.join(" "));
      assert.deepEqual(
        [...Deno.readDirSync(join(root, ".data-mirror"))].filter((e) =>
          /^(stale|kept)-/.test(e.name)
        ),
        [],
      );
    } finally {
      _run("umount", [home]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
