/**
 * A Viam home on a disk that cannot be reached when the program starts (a FUSE mount whose driver
 * died: "Transport endpoint is not connected") is a failure of the moment, exit 1, which the systemd
 * unit restarts, not a configuration error (exit 2, which the unit never restarts: it would stay
 * stopped after the disk is back).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXFAT_FUSE_USABLE } from "./support/exfat_fuse.ts";
import { runProgram } from "./_program.ts";

function _run(program: string, args: string[]): string {
  const { success, stdout, stderr } = new Deno.Command(program, { args }).outputSync();
  const text = new TextDecoder().decode(stdout).trim();
  assert.ok(success, `${program} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return text;
}

Deno.test({
  name: "a Viam home on a dead FUSE mount at start exits 1 (restarted by the unit), not 2",
  ignore: !EXFAT_FUSE_USABLE,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dm-dead-disk-" });
    const image = join(dir, "stick.img");
    const mount = join(dir, "stick");
    await Deno.mkdir(mount);
    await Deno.writeFile(image, new Uint8Array());
    await Deno.truncate(image, 16 * 1024 * 1024);
    _run("mkfs.exfat", [image]);
    const loop = _run("losetup", ["-f", "--show", image]);
    try {
      _run("mount.exfat-fuse", [loop, mount]);
      try {
        await Deno.mkdir(join(mount, ".viam"));
        // The driver dies (a stick pulled, an out-of-memory kill): the mount stays, unreachable.
        const driver = _run("pgrep", ["-f", `mount.exfat-fuse ${loop} ${mount}$`]).split("\n");
        assert.equal(driver.length, 1, `drivers of ${mount}: ${driver.join(", ")}`);
        Deno.kill(Number(driver[0]), "SIGKILL");
        for (let tries = 0;; tries++) {
          try {
            Deno.statSync(mount);
          } catch (error) {
            // ECONNABORTED for a call the driver's death cut short, ENOTCONN from then on.
            const code = (error as { code?: string }).code;
            if (code === "ENOTCONN") break;
            if (code !== "ECONNABORTED") throw error;
          }
          assert.ok(tries < 100, "the FUSE mount stayed reachable");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const config = join(dir, "mirror.json");
        await Deno.writeTextFile(config, JSON.stringify({ tags: ["t"], sync_frequency: 300 }));
        const run = await runProgram(["sync", "--watch", "--config", config], {
          viamHome: join(mount, ".viam"),
          env: { VIAM_API_KEY_ID: "id", VIAM_API_KEY: "key" },
        });
        assert.match(run.stderr, /Transport endpoint is not connected/);
        assert.equal(run.code, 1, run.stderr);
      } finally {
        _run("umount", ["-l", mount]);
      }
    } finally {
      _run("losetup", ["-d", loop]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
