/**
 * Files below a folder that changes all the time, or whose time is ahead of the clock, are sent in
 * one pass: the looks around each open and move wait for the folders above a file to be still
 * only where a flip is possible (a folder another user may write) and only when a change now could
 * leave their time as it was. Before, a camera writing into the push folder many times a second
 * kept every file of its subfolders waiting (a reviewer's run: 0 of 20 sent in 10 passes), and a
 * folder dated a day ahead kept the files below it waiting for a day, both as "changed while sent".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pollUntil } from "../_poll.ts";
import { withPush } from "./_harness.ts";

/** Renames a folder of `root` back and forth in a loop until `stop` exists (`<stop>.busy` once busy). */
const _BUSY_WRITER = `
const [root, stop] = Deno.args;
const [a, b] = [root + "/.busy-a", root + "/.busy-b"];
Deno.mkdirSync(a);
for (let n = 0; ; n++) {
  if (n % 64 === 0) {
    try { Deno.lstatSync(stop); break; } catch { /* go on */ }
    if (n === 256) Deno.writeTextFileSync(stop + ".busy", "");
  }
  Deno.renameSync(n % 2 === 0 ? a : b, n % 2 === 0 ? b : a);
}
`;

Deno.test("a push folder changed many times a second by a writer keeps no file of its subfolders waiting", async () => {
  await withPush(async ({ platform, home, root, write, pass }) => {
    // The push folder as made here: root's (the tests run as root, as viam-server does), 0755.
    for (let i = 0; i < 20; i++) await write(`models/m${i}.bin`, `model ${i}`);
    const stop = join(home, "stop");
    const writer = new Deno.Command(Deno.execPath(), {
      args: ["eval", _BUSY_WRITER, root, stop],
      stderr: "inherit",
    }).spawn();
    let result;
    try {
      await pollUntil(
        "the writer busy",
        () => Deno.lstat(`${stop}.busy`).then(() => true, () => false),
      );
      result = await pass();
    } finally {
      await Deno.writeTextFile(stop, "");
      assert.ok((await writer.status).success, "the writer ran to its stop");
    }
    assert.equal(result.uploaded, 20, JSON.stringify(result.skippedBy));
    assert.equal(result.failed, 0, JSON.stringify(result.failures));
    assert.equal(platform.items().length, 20);
    assert.deepEqual([...Deno.readDirSync(join(root, "models"))], [], "each deleted once sent");
  });
});

Deno.test("a folder dated ahead of the clock keeps no file below it waiting, in a push folder anyone may write", async () => {
  await withPush(async ({ platform, root, write, pass }) => {
    await write("top.jpg", "top");
    await write("DCIM/100CAM/IMG_0001.JPG", "image");
    // Writable by every user: the folders above a file are waited for when recent.
    await Deno.chmod(root, 0o777);
    const ahead = new Date(Date.now() + 86_400_000);
    await Deno.utime(join(root, "DCIM"), ahead, ahead);
    await Deno.chmod(join(root, "DCIM"), 0o777);
    // Over two passes: the first pass's own state folder, made in the push folder as it opens its
    // first file, may change that folder under the open on a loaded machine (CI: "folder
    // changing" once), and that file goes at the next pass. A folder dated ahead of the clock
    // kept its file waiting at every pass.
    const first = await pass();
    const second = first.uploaded < 2 ? await pass() : undefined;
    assert.equal(
      first.uploaded + (second?.uploaded ?? 0),
      2,
      JSON.stringify([first.skippedBy, second?.skippedBy]),
    );
    assert.deepEqual(platform.items().map((item) => item.fileName).sort(), [
      "DCIM/100CAM/IMG_0001.JPG",
      "top.jpg",
    ]);
  });
});

Deno.test("a pass with nothing to send writes nothing in the state folder (no probe made)", async () => {
  // The probe of the push folder's user id and clock is a file made and removed: an idle pass
  // every minute on a robot's SD card need not make one.
  await withPush(async ({ root, pass, write }) => {
    await write("a.bin", "x");
    assert.equal((await pass()).uploaded, 1);
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the folder's last millisecond
    const stateDir = join(root, ".data-mirror");
    const before = Deno.lstatSync(stateDir).mtime!.getTime();
    assert.equal((await pass()).found, 0);
    assert.equal(Deno.lstatSync(stateDir).mtime!.getTime(), before);
  });
});
