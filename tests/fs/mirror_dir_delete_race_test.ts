/**
 * A local program swapping the mirror's folders for links to another mirror's folders of the same
 * names while a pass removes stale files (32 at once, as `deleteStale` runs them): a removal
 * checked in place may not reach the other mirror's file of the same name through a link swapped
 * in after its check (one file at a time, and a folder's files together as `deleteStale` takes
 * them). Real files, a real second process racing the removals; no timing asserted,
 * only what is left: the other mirror whole, every file of this one removed or kept as it was.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runPool } from "../../src/async/run_pool.ts";
import { lstatIfThereSync } from "../../src/fs/_util.ts";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { type DeleteResult, deleteStale } from "../../src/sync/delete_stale.ts";
import { pollUntil } from "../_poll.ts";
import { withTempDir } from "./_helpers.ts";

const FOLDERS = ["g0", "g1", "g2", "g3"];
const FILES_PER_FOLDER = 150;
const ROUNDS = 4;

/**
 * The adversary: in a loop, one of the folders moved aside, a link to the other mirror's folder of
 * that name put in its place for a moment, then the folder put back; until `stop` exists. It makes
 * `<stop>.racing` once its first swap is undone, so that the removals start while it races (a
 * process starting slowly on a busy machine otherwise raced none of them).
 */
const _ADVERSARY = `
const [root, other, stop] = Deno.args;
let told = false;
const folders = ${JSON.stringify(FOLDERS)};
let rng = 12345;
const rand = () => (rng = (rng * 1103515245 + 12345) % 2147483648) / 2147483648;
let swaps = 0;
for (;;) {
  try { Deno.lstatSync(stop); break; } catch { /* go on */ }
  const folder = folders[Math.floor(rand() * folders.length)];
  const path = root + "/" + folder;
  Deno.renameSync(path, path + ".adv");
  Deno.symlinkSync(other + "/" + folder, path);
  swaps++;
  for (let i = Math.floor(rand() * 2000); i > 0; i--) Deno.lstatSync(other);
  Deno.removeSync(path);
  Deno.renameSync(path + ".adv", path);
  if (!told) {
    Deno.writeTextFileSync(stop + ".racing", "");
    told = true;
  }
  if (rand() < 0.5) await new Promise((resolve) => setTimeout(resolve, 0));
}
console.log(swaps);
`;

function _fileNames(folder: string): string[] {
  return Array.from({ length: FILES_PER_FOLDER }, (_, i) => `${folder}/${folder}-${i}.jpeg`);
}

Deno.test("removals raced by folders swapped for links to another mirror's: nothing of the other mirror is removed", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const other = join(viamHome, "other_mirror");
    const paths = FOLDERS.flatMap(_fileNames);
    for (const folder of FOLDERS) await Deno.mkdir(join(other, folder), { recursive: true });
    for (const path of paths) await Deno.writeTextFile(join(other, path), "other");
    let removed = 0;
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
      for (const folder of FOLDERS) {
        await Deno.mkdir(join(mirror.root, folder), { recursive: true });
      }
      for (const path of paths) await Deno.writeTextFile(join(mirror.root, path), "stale");
      const stop = join(dir, "stop");
      const adversary = new Deno.Command(Deno.execPath(), {
        args: ["eval", _ADVERSARY, mirror.root, other, stop],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      try {
        await pollUntil(
          "the adversary races",
          () => lstatIfThereSync(`${stop}.racing`) !== undefined,
          { intervalMs: 5 },
        );
        if (round % 2 === 1) {
          // Through the delete stage: a folder's files looked at together, then renamed.
          const logger = { debug() {}, info() {}, warn() {}, error() {} };
          const result = await deleteStale(mirror, paths, { logger });
          removed += result.deleted;
          refused += result.failed;
        } else {
          await runPool(
            paths.map((path) => async () => {
              try {
                if (await mirror.remove(path)) removed++;
              } catch {
                refused++; // a folder on its way found a link: refused, kept
              }
            }),
            { concurrency: 32 },
          );
        }
      } finally {
        await Deno.writeTextFile(stop, "");
        const out = await adversary.output();
        assert.ok(out.success, "the adversary failed");
        await Deno.remove(stop);
        await Deno.remove(`${stop}.racing`).catch(() => {});
      }
      const otherLost = paths.filter((path) => {
        try {
          return Deno.readTextFileSync(join(other, path)) !== "other";
        } catch {
          return true;
        }
      });
      assert.deepEqual(otherLost, [], `round ${round}: the other mirror lost files`);
      for (const path of paths) {
        try {
          assert.equal(Deno.readTextFileSync(join(mirror.root, path)), "stale", path);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      for (const path of paths) await Deno.remove(join(mirror.root, path)).catch(() => {});
    }
    // The race ran: most removals went, some were refused by a link found on the way.
    assert.ok(removed > paths.length, `only ${removed} removed`);
    assert.ok(refused > 0, "no removal met a swapped folder: the adversary did not race");
  });
});

/**
 * Replaces `Deno.renameSync` for the time of `fn`: the first rename out of `folder` first swaps that
 * folder for a link to `canary` (the folder moved to `<folder>.adv`), as a racing program could
 * between the looks at a group of files and their renames.
 */
async function _swappedBeforeFirstRename(
  folder: string,
  canary: string,
  fn: () => Promise<void>,
): Promise<void> {
  const rename = Deno.renameSync;
  let swapped = false;
  Deno.renameSync = (from: string | URL, to: string | URL) => {
    if (!swapped && String(from).startsWith(`${folder}/`)) {
      swapped = true;
      rename(folder, `${folder}.adv`);
      Deno.symlinkSync(canary, folder);
    }
    rename(from, to);
  };
  try {
    await fn();
  } finally {
    Deno.renameSync = rename;
  }
  assert.ok(swapped, "no rename out of the folder: the swap never came");
}

/**
 * A mirror in `dir` whose folder `g0` holds `count` stale files, and another mirror's folder of
 * the same name (the canary) holding files of the same names.
 */
async function _staleFolderAndCanary(dir: string, count: number) {
  const canary = join(dir, "canary", "g0");
  const paths = _fileNames("g0").slice(0, count);
  await Deno.mkdir(canary, { recursive: true });
  for (const path of paths) await Deno.writeTextFile(join(dir, "canary", path), "other");
  const viamHome = join(dir, "home");
  const mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
  const folder = join(mirror.root, "g0");
  await Deno.mkdir(folder);
  for (const path of paths) await Deno.writeTextFile(join(mirror.root, path), "stale");
  return { mirror, folder, canary, paths };
}

Deno.test("a folder swapped for a link to another mirror's between a group's looks and its renames: the other mirror keeps every file, this one's are not removed through it", async () => {
  await withTempDir(async (dir) => {
    const { mirror, folder, canary, paths } = await _staleFolderAndCanary(dir, 20);
    await using _mirror = mirror;
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    let result: DeleteResult | undefined;
    await _swappedBeforeFirstRename(folder, canary, async () => {
      result = await deleteStale(mirror, paths, { logger });
    });
    for (const path of paths) {
      assert.equal(Deno.readTextFileSync(join(dir, "canary", path)), "other", `canary ${path}`);
    }
    // The link still stands: every rename took the other mirror's file, which went back, and each
    // removal fails saying so (not passed over in silence, pass after pass).
    assert.equal(result?.deleted, 0);
    assert.equal(result?.failed, paths.length);
    assert.match(result?.failures[0].error ?? "", /not the file looked at .* it was put back/);
    await Deno.remove(folder);
    await Deno.rename(`${folder}.adv`, folder);
    for (const path of paths) {
      assert.equal(Deno.readTextFileSync(join(mirror.root, path)), "stale", path);
    }
    const state = [...Deno.readDirSync(mirror.stateDir)].map((entry) => entry.name);
    assert.deepEqual(state.filter((name) => /^(stale|kept)-/.test(name)), []);
  });
});

Deno.test("a group's files unlinked in place (the state folder a link) are each checked again first: a folder swapped after the group's looks keeps the other mirror's files", async () => {
  await withTempDir(async (dir) => {
    const { mirror, folder, canary, paths } = await _staleFolderAndCanary(dir, 5);
    await using _mirror = mirror;
    // The state folder swapped for a link: nothing is moved there, each file is unlinked in place.
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    await Deno.rename(mirror.stateDir, `${mirror.stateDir}.adv`);
    await Deno.symlink(elsewhere, mirror.stateDir);
    // The folder swapped after the group's looks, when the first file is looked at again on its
    // own before its unlink in place (its second look): that look's folders find the link.
    const lstat = Deno.lstatSync;
    const first = join(mirror.root, paths[0]);
    let looks = 0;
    let swapped = false;
    Deno.lstatSync = (path: string | URL) => {
      if (!swapped && String(path) === first && ++looks === 2) {
        swapped = true;
        Deno.renameSync(folder, `${folder}.adv`);
        Deno.symlinkSync(canary, folder);
      }
      return lstat(path);
    };
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    let result: DeleteResult;
    try {
      result = await deleteStale(mirror, paths, { logger });
    } finally {
      Deno.lstatSync = lstat;
    }
    assert.ok(swapped, "the first file was not looked at again on its own: the swap never came");
    for (const path of paths) {
      assert.equal(Deno.readTextFileSync(join(dir, "canary", path)), "other", `canary ${path}`);
    }
    assert.equal(result.deleted, 0);
    assert.equal(result.failed, paths.length); // refused: g0 became a symlink
    await Deno.remove(folder);
    await Deno.rename(`${folder}.adv`, folder);
    await Deno.remove(mirror.stateDir);
    await Deno.rename(`${mirror.stateDir}.adv`, mirror.stateDir);
    for (const path of paths) {
      assert.equal(Deno.readTextFileSync(join(mirror.root, path)), "stale", path);
    }
  });
});

Deno.test("a folder on the way that cannot be looked at fails its own files' removals, not the delete stage", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
    // Folders deeper than a path may name (PATH_MAX, 4,096 bytes): made one level at a time from
    // the one above, their `lstat` by path fails (ENAMETOOLONG) where the walk's would too.
    const level = "d".repeat(250);
    const deep = Array.from({ length: 17 }, () => level).join("/");
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.chdir(${JSON.stringify(mirror.root)});
        for (let i = 0; i < 17; i++) { Deno.mkdirSync("${level}"); Deno.chdir("${level}"); }
        Deno.writeTextFileSync("f", "x");`,
      ],
      stderr: "piped",
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    await Deno.writeTextFile(join(mirror.root, "plain.jpeg"), "stale");
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const result = await deleteStale(mirror, [`${deep}/f`, "plain.jpeg"], { logger });
    assert.equal(result.deleted, 1);
    assert.equal(result.failed, 1);
    assert.equal(result.failures[0].path, `${deep}/f`);
    await assert.rejects(Deno.lstat(join(mirror.root, "plain.jpeg")), Deno.errors.NotFound);
    await new Deno.Command("rm", { args: ["-rf", join(mirror.root, level)] }).output(); // by parts
  });
});
