/**
 * A local program flipping a folder of the push folder with a link to a folder outside it
 * (`renameat2` with `RENAME_EXCHANGE`, in a tight loop: what any user who may write the push folder
 * can run against a push run as root) while passes run: the walk lists the outside files through
 * the link whenever it reads the folder then, and each open or move by path resolves the folder
 * again. Nothing outside may be sent or deleted. Real files, a real second process racing real
 * passes against the local platform; no timing asserted, only what reached the platform and what
 * is left outside.
 *
 * Deno has no `openat`: a file is opened (and moved aside for its deletion) between two looks at
 * its folders, those above its own that another user may write settled (unchanged for 12 ms: the
 * kernel's clock tick, and Deno's times in whole milliseconds, let a flip within the tick of the
 * first look go unseen), which a folder flipped in a loop never is. Before that, 7 and 48 outside files were sent (1 and 4
 * deleted) in two runs of 5,000 passes against a C program flipping the same way, and this test
 * failed in each of its five runs (an outside file sent); with the looks alone (no settling), 0 to
 * 2 sent in each of four such runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pollUntil } from "../_poll.ts";
import { plantFile, withPush } from "./_harness.ts";

const OUTSIDE_FILES = 12;
const PASSES = 300;

/**
 * The adversary: `renameat2(folder, link, RENAME_EXCHANGE)` from libc, in a loop, until `stop`
 * exists; it makes `<stop>.racing` after its first flips, so that the passes start while it races.
 */
const _ADVERSARY = `
const [folder, link, stop, keepTimesOf] = Deno.args;
const libc = Deno.dlopen("libc.so.6", {
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
});
const cString = (s) => new TextEncoder().encode(s + "\\0");
const [a, b] = [cString(folder), cString(link)];
const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
// Two timespecs, both 2020-01-01T00:00:00Z: what the folder's owner may set its times to.
const times = new BigInt64Array([1577836800n, 0n, 1577836800n, 0n]);
const kept = keepTimesOf === undefined ? undefined : cString(keepTimesOf);
let flips = 0;
for (;;) {
  if (flips % 1024 === 0) {
    try { Deno.lstatSync(stop); break; } catch { /* go on */ }
    if (flips === 1024) Deno.writeTextFileSync(stop + ".racing", "");
  }
  if (libc.symbols.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) !== 0) throw new Error("renameat2 failed");
  flips++;
  if (kept !== undefined && flips % 2 === 0) libc.symbols.utimensat(AT_FDCWD, kept, times, 0);
}
// Left as it began: the folder under its name.
if (flips % 2 === 1) libc.symbols.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
console.log(flips);
`;

/**
 * Races {@linkcode PASSES} passes against the adversary flipping `<root>/<folder>` (made by `setUp`)
 * with a link to a folder of secrets outside; nothing outside may be sent or deleted.
 */
async function _raceAgainstFlips(
  folder: string,
  setUp: (root: string, names: string[]) => Promise<void>,
  keepTimesOf?: string,
): Promise<void> {
  await withPush(async ({ platform, home, root, pass }) => {
    const outside = join(home, "outside");
    const names = Array.from({ length: OUTSIDE_FILES }, (_, i) => `secret-${i}.txt`);
    for (const name of names) await plantFile(join(outside, name), `TOP SECRET ${name}`, 3600);
    await setUp(root, names);
    await Deno.mkdir(join(home, "adversary"));
    await Deno.symlink(outside, join(home, "adversary/link"));
    const stop = join(home, "stop");
    const adversary = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        _ADVERSARY,
        join(root, folder),
        join(home, "adversary/link"),
        stop,
        ...(keepTimesOf === undefined ? [] : [join(root, keepTimesOf)]),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let passes = 0;
    try {
      await pollUntil(
        "the adversary's first flips",
        () => Deno.lstat(`${stop}.racing`).then(() => true, () => false),
      );
      for (; passes < PASSES; passes++) await pass().catch(() => {});
    } finally {
      await Deno.writeTextFile(stop, "");
      const { stdout, success } = await adversary.output();
      assert.ok(success, "the adversary ran to its stop");
      const flips = Number(new TextDecoder().decode(stdout).trim());
      assert.ok(flips > 100 * passes, `the adversary flipped ${flips} times over ${passes} passes`);
    }
    const sent = platform.items().filter((item) =>
      new TextDecoder().decode(platform.contentOf(item.binaryDataId)).startsWith("TOP SECRET")
    );
    assert.deepEqual(sent.map((item) => item.fileName), [], "outside files sent");
    for (const name of names) {
      assert.equal(await Deno.readTextFile(join(outside, name)), `TOP SECRET ${name}`);
    }
    assert.ok((await Deno.lstat(join(root, folder))).isDirectory, "left as it began");
  });
}

Deno.test("a folder flipped with a link to a folder outside while passes run: no outside file is sent or deleted", async () => {
  await _raceAgainstFlips("sub", async (root) => {
    await Deno.mkdir(join(root, "sub")); // empty: whatever is sent from it came from outside
    // Writable by every user, as the adversary needs it (it runs as root here, the passes too): a
    // folder only root may change is not waited for.
    await Deno.chmod(root, 0o777);
  });
});

Deno.test("the owner of a folder in the push folder flips a folder in it and puts its times back: no outside file is sent or deleted", async () => {
  // The owner may set the folder's modification time back after each flip (utimensat): only its
  // change time, in whole seconds, tells. (The adversary runs as root; the folder is nobody's.)
  await _raceAgainstFlips("d/sub", async (root, names) => {
    await Deno.mkdir(join(root, "d/sub"), { recursive: true });
    // Decoys under the secrets' names: the walk lists them in the folder itself.
    for (const name of names) await plantFile(join(root, "d/sub", name), "decoy", 3600);
    await Deno.chown(join(root, "d"), 65534, 65534);
    await Deno.chown(join(root, "d/sub"), 65534, 65534);
  }, "d");
});
