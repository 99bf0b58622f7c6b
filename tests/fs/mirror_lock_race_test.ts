/**
 * Two passes starting together on a mirror whose lock name holds something to replace: a free lock
 * file with a second name (after `cp -al`) or a symlink planted there. Each sees it and unlinks the
 * name (openOwnFile's _unlinkName), and the second unlink could remove the fresh lock file the first
 * pass just created and locked: both would hold "the" lock and run at once. The interleaving is
 * forced here by holding each unlink until the other pass is ready.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireMirrorLock, type MirrorLock } from "../../src/fs/mirror_lock.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What is planted at the lock's name before the passes start. */
const _PLANTS: Record<string, (dir: string) => Promise<void>> = {
  "a hard-linked free lock": async (dir) => {
    await Deno.writeTextFile(join(dir, "lock"), "");
    await Deno.link(join(dir, "lock"), join(dir, "snap-lock")); // cp -al's second name
  },
  "a symlink planted at the lock name": async (dir) => {
    await Deno.writeTextFile(join(dir, "target"), "");
    await Deno.symlink(join(dir, "target"), join(dir, "lock"));
  },
};

for (const [what, plant] of Object.entries(_PLANTS)) {
  Deno.test(`two acquisitions racing on ${what} never both succeed`, async () => {
    let twice = 0;
    for (let round = 0; round < 6; round++) twice += await race(plant);
    assert.equal(twice, 0, `in ${twice} of 6 rounds, 2 passes held the lock at once`);
  });
}

async function race(plant: (dir: string) => Promise<void>): Promise<number> {
  const dir = await Deno.makeTempDir();
  await plant(dir);
  const remove = Deno.remove;
  let calls = 0;
  let secondReady!: () => void;
  const second = new Promise<void>((r) => (secondReady = r));
  let firstLocked!: () => void;
  const locked = new Promise<void>((r) => (firstLocked = r));
  Deno.remove = async (path: string | URL, options?: Deno.RemoveOptions) => {
    const n = ++calls;
    if (n === 1) await Promise.race([second, sleep(300)]); // both passes saw the shared lock
    if (n === 2) {
      secondReady();
      await Promise.race([locked, sleep(300)]); // the first one made and locked a fresh file
    }
    return await remove(path, options);
  };
  try {
    const both = [acquireMirrorLock(dir), acquireMirrorLock(dir)];
    for (const p of both) p.then(() => firstLocked(), () => {});
    const results = await Promise.allSettled(both);
    const held = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<
      MirrorLock
    >[];
    for (const r of held) await r.value.release();
    return held.length > 1 ? 1 : 0;
  } finally {
    Deno.remove = remove;
    await Deno.remove(dir, { recursive: true });
  }
}
