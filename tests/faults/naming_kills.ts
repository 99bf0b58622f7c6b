/**
 * Row 14: a SIGKILL at every naming step of a pass, syscall-precise. The real program runs under
 * `strace -e inject=<syscalls>:signal=KILL:when=<k>` (the k-th `link`/`linkat`, `rename`/
 * `renameat`/`renameat2` or `unlink`/`unlinkat` of the pass never runs), for k = 1, 2, ... until a
 * pass completes unkilled, in three kinds of pass: a fresh copy (inline batches and files by uri),
 * a pass where every item has a new version of another size (replacements: renames over the old
 * files), and a pass with `delete` where stale files go and a listed item needs a folder where a
 * stale file is. It also holds the program right AFTER the link or rename of a staged file
 * (`delay_exit` on that path) and kills it there. After each kill: a normal pass, then yet another
 * version of every item (other sizes again) and a pass. Holds when every listed path then holds the
 * newest version's bytes (the one a user put at a listed path before the mirror aside: it keeps the
 * user's bytes), no user file was overwritten (an unlisted one goes only by `delete`), no poll saw a
 * file under a final name with a size none of its versions has, nothing outside the mirror changed,
 * and every pass after the killed one exited 0 with nothing failed.
 *
 * @module
 */
import { join } from "node:path";
import {
  describeDataset,
  type ItemGroup,
  type Platform,
  startPlatform,
} from "../support/platform/mod.ts";
import { pollUntil } from "../_poll.ts";
import { killTracee, straceWrapper } from "../support/strace.ts";
import {
  lastJsonLine,
  type ProgramOutput,
  type RunningProgram,
  spawnProgram,
} from "../_program.ts";
import { sha256Hex } from "../../src/sha256_hex.ts";
import { listTree, STATE_DIR } from "./mirror_tree.ts";
import { outputTail } from "./pass_output.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

/** The pass a kill lands in. */
export type NamingPassKind = "fresh" | "replace" | "delete";
/** The system calls a kill is injected at (the k-th of them, on entry). */
export type NamingSyscalls = "link" | "rename" | "unlink";

const _KINDS: readonly NamingPassKind[] = ["fresh", "replace", "delete"];
const _SYSCALLS: Readonly<Record<NamingSyscalls, string>> = {
  link: "link,linkat",
  rename: "rename,renameat,renameat2",
  unlink: "unlink,unlinkat",
};

/** Options of {@linkcode namingKills}. */
export interface NamingKillsOptions {
  /**
   * The kill points per kind and system call (`k` values); `"all"`: 1, 2, ... until a pass
   * completes unkilled. Default `"all"`.
   */
  points?: readonly number[] | "all";
  /** The kinds of pass swept (default all three). */
  kinds?: readonly NamingPassKind[];
  /** The system calls swept (default all three). */
  syscalls?: readonly NamingSyscalls[];
  /**
   * Staged files held right after their naming and killed there, per kind: the inline batch's
   * `staged-<n>` for each n given, and every uri partial when `uri` is set. Default: n = 0, 1, 3 and
   * the uri partials.
   */
  after?: { staged: readonly number[]; uri: boolean };
  /** Gives up a sweep past this k (default 400), as a guard against a pass that never ends. */
  maxK?: number;
}

const _TAG = "naming";
/**
 * The platform's inline limit: the `models/` files are above it (and above the program's own
 * 256 KiB), so they go by uri; a batch of small files stays inline (an inline call that held one
 * of them would be refused whole, its files all fetched by uri, and no inline file replaced).
 */
const _INLINE_LIMIT = 200 * 1024;
const _USER_HELD = "cams/0/held.jpeg";
const _USER_UNLISTED = "cams/1/user-notes.txt";
const _USER_HELD_BYTES = new TextEncoder().encode("a user's own file at a listed path");
const _USER_UNLISTED_BYTES = new TextEncoder().encode("a user's notes, listed by no item");

/** The data set at `version` for a pass kind (sizes change with every version). */
function _dataset(kind: NamingPassKind, version: number) {
  const v = `v${version}`;
  const groups: ItemGroup[] = [
    {
      name: `${v}cams`,
      count: 6,
      fileName: (i) => `cams/${i % 2}/img-${i}.jpeg`,
      fileExt: ".jpeg",
      sizeBytes: (i) => 1000 + 97 * i + 13 * version,
      tags: [_TAG],
    },
    {
      name: `${v}notes`,
      count: 3,
      fileName: (i) => `notes/n-${i}.txt`,
      fileExt: ".txt",
      mimeType: "text/plain",
      sizeBytes: (i) => 300 + 31 * i + 7 * version,
      tags: [_TAG],
    },
    {
      name: `${v}held`,
      count: 1,
      fileName: _USER_HELD,
      fileExt: ".jpeg",
      sizeBytes: 1500 + 11 * version,
      tags: [_TAG],
    },
    {
      name: `${v}models`,
      count: 2,
      fileName: (i) => `models/m-${i}.bin`,
      fileExt: ".bin",
      mimeType: "application/octet-stream",
      sizeBytes: (i) => 270_000 + 50 * i + 17 * version,
      tags: [_TAG],
    },
  ];
  if (kind === "delete") {
    if (version === 1) {
      groups.push(
        {
          name: `${v}old`,
          count: 3,
          fileName: (i) => `old/stale-${i}.bin`,
          fileExt: ".bin",
          mimeType: "application/octet-stream",
          sizeBytes: (i) => 700 + i,
          tags: [_TAG],
        },
        {
          name: `${v}dir`,
          count: 1,
          fileName: "dir",
          fileExt: "",
          mimeType: "application/octet-stream",
          sizeBytes: 900,
          tags: [_TAG],
        },
      );
    } else {
      groups.push({
        name: `${v}sub`,
        count: 1,
        fileName: "dir/sub.bin",
        fileExt: ".bin",
        mimeType: "application/octet-stream",
        sizeBytes: 800 + 3 * version,
        tags: [_TAG],
      });
    }
  }
  return describeDataset(groups);
}

/** The versions a kind's passes go through: set up (if any), killed, and the next one. */
function _versions(kind: NamingPassKind): { setup?: number; killed: number; next: number } {
  return kind === "fresh" ? { killed: 1, next: 2 } : { setup: 1, killed: 2, next: 3 };
}

/** One kill's outcome. */
interface _Outcome {
  /** The killed pass ended by the kill (false: it completed; the sweep of that k is over). */
  killed: boolean;
  /** How the killed pass ended. */
  cut?: ProgramOutput;
  problems: string[];
  polls: number;
}

/** Runs row 14. */
export async function namingKills(options: NamingKillsOptions = {}): Promise<RowReport> {
  const kinds = options.kinds ?? _KINDS;
  const syscalls = options.syscalls ?? (Object.keys(_SYSCALLS) as NamingSyscalls[]);
  const after = options.after ?? { staged: [0, 1, 3], uri: true };
  const maxK = options.maxK ?? 400;
  await using platform = await startPlatform({ inlineLimitBytes: _INLINE_LIMIT });
  const problems: string[] = [];
  let kills = 0;
  let held = 0;
  let polls = 0;
  const perKind: string[] = [];
  for (const kind of kinds) {
    const sweeps: string[] = [];
    for (const syscall of syscalls) {
      let landed = 0;
      let completedAt: number | undefined;
      const points = options.points ?? "all";
      const ks = points === "all" ? Array.from({ length: maxK }, (_, i) => i + 1) : points;
      for (const k of ks) {
        const wrapper = straceWrapper({
          calls: _SYSCALLS[syscall],
          tamper: `signal=KILL:when=${k}`,
        });
        const outcome = await _killAndRecover(platform, kind, `${syscall} #${k}`, {
          start: (run) => run(wrapper).done.then((output) => ({ output })),
        });
        problems.push(...outcome.problems);
        polls += outcome.polls;
        if (!outcome.killed) {
          completedAt = k;
          break;
        }
        landed++;
      }
      kills += landed;
      if (points === "all" && completedAt === undefined) {
        problems.push(`${kind}, ${syscall}: the pass was still killed at k = ${maxK}`);
      }
      sweeps.push(`${syscall} ${landed}`);
    }
    // Held right after a staged file's link or rename, and killed there.
    const targets: { label: string; path: (root: string, version: number) => Promise<string> }[] =
      after.staged.map((n) => ({
        label: `after naming staged-${n}`,
        path: (root: string) => Promise.resolve(join(root, STATE_DIR, `staged-${n}`)),
      }));
    if (after.uri) {
      for (const index of [0, 1]) {
        targets.push({
          label: `after naming the uri file models/m-${index}.bin`,
          path: async (root, version) => {
            const item = platform.items().filter((i) => i.fileName.startsWith("models/"))[index];
            void version;
            return join(
              root,
              STATE_DIR,
              "partial",
              `${await sha256Hex(item.binaryDataId)}-${item.sizeBytes}.part`,
            );
          },
        });
      }
    }
    let heldHere = 0;
    for (const target of targets) {
      const outcome = await _killAndRecover(platform, kind, target.label, {
        start: async (run, root, version) => {
          const staged = await target.path(root, version);
          const traced = run(straceWrapper({
            calls: "link,linkat,rename,renameat,renameat2",
            tamper: "delay_exit=60000000",
            path: staged,
          }));
          const wasHeld = await _killWhenNamed(traced, staged);
          return { output: await traced.done, held: wasHeld };
        },
      });
      problems.push(...outcome.problems);
      polls += outcome.polls;
      if (outcome.killed) heldHere++;
      else {
        problems.push(
          `${kind}, ${target.label}: never held there (the pass completed): ${
            outputTail(outcome.cut!)
          }`,
        );
      }
    }
    held += heldHere;
    perKind.push(`${kind}: ${sweeps.join(", ")}, held after naming ${heldHere}`);
  }
  return {
    row: 14,
    fault: "SIGKILL at every link, rename and unlink of a pass (strace), then two passes",
    figure: `${count(kills)} syscall kills and ${held} kills right after a naming, each followed ` +
      `by two passes: ${problems.length} problems, ${count(polls)} polls (${perKind.join("; ")})`,
    problems,
  };
}

type _Run = (wrapper: readonly string[]) => RunningProgram;

/**
 * In a fresh sandbox: the set-up pass (for `replace` and `delete`), the user's files, the killed
 * pass (`start`), a normal pass, the next version of every item and a pass; then the checks.
 */
async function _killAndRecover(
  platform: Platform,
  kind: NamingPassKind,
  point: string,
  { start }: {
    start: (
      run: _Run,
      root: string,
      version: number,
    ) => Promise<{ output: ProgramOutput; held?: boolean }>;
  },
): Promise<_Outcome> {
  const where = `${kind}, ${point}`;
  const problems: string[] = [];
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-naming-" });
  sandbox.own("viam/data_mirror");
  const root = sandbox.mirror();
  const del = kind === "delete";
  const args = ["sync", "--app-url", platform.url, "--tags", _TAG, "--json"];
  if (del) args.push("--delete");
  const run: _Run = (wrapper) =>
    spawnProgram(args, {
      viamHome: sandbox.home,
      env: { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey },
      wrapper: wrapper.length > 0 ? wrapper : undefined,
    });
  const versions = _versions(kind);
  const valid = new Map<string, Set<number>>();
  const allow = (path: string, size: number) => {
    const sizes = valid.get(path) ?? new Set();
    sizes.add(size);
    valid.set(path, sizes);
  };
  for (const version of [versions.setup, versions.killed, versions.next]) {
    if (version === undefined) continue;
    for (const item of _dataset(kind, version).items) allow(item.fileName, item.sizeBytes);
  }
  allow(_USER_HELD, _USER_HELD_BYTES.length);
  allow(_USER_UNLISTED, _USER_UNLISTED_BYTES.length);

  await sandbox.writeFile(join(root, _USER_HELD), _USER_HELD_BYTES);
  if (versions.setup !== undefined) {
    platform.replaceDataset(_dataset(kind, versions.setup));
    const setup = await run([]).done;
    if (setup.code !== 0) {
      return { killed: true, polls: 0, problems: [`${where}: set-up pass: ${outputTail(setup)}`] };
    }
  }
  await sandbox.writeFile(join(root, _USER_UNLISTED), _USER_UNLISTED_BYTES);
  const before = await sandbox.snapshot();
  const poller = new _Poller(root, valid);

  platform.replaceDataset(_dataset(kind, versions.killed));
  const { output: cut, held } = await start(run, root, versions.killed);
  const killed = held ?? (cut.code !== 0);
  if (!killed && cut.code !== 0) problems.push(`${where}: the pass failed: ${outputTail(cut)}`);

  const passes: [string, ProgramOutput][] = [];
  passes.push(["the normal pass after the kill", await run([]).done]);
  platform.replaceDataset(_dataset(kind, versions.next));
  passes.push(["the pass of the next version", await run([]).done]);
  const seen = await poller.stop();
  for (const example of seen.examples) {
    problems.push(`${where}: seen under a final name: ${example}`);
  }
  for (const [what, output] of passes) {
    if (output.code !== 0) {
      problems.push(`${where}: ${what} exited ${output.code}: ${outputTail(output)}`);
    } else if (lastJsonLine(output.stdout).failed !== 0) {
      problems.push(`${where}: ${what} counted failures: ${outputTail(output)}`);
    }
  }
  for (const difference of await _differences(root, platform)) {
    problems.push(`${where}: ${difference}`);
  }
  for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
    problems.push(`${where}: outside the mirror: ${change}`);
  }
  return { killed, cut, problems, polls: seen.polls };
}

/**
 * Waits until `staged` has been named (linked: two links; renamed: gone after it was there) while
 * strace holds the thread, then kills the program there. False when the program ended first.
 */
async function _killWhenNamed(traced: RunningProgram, staged: string): Promise<boolean> {
  let existed = false;
  let named = false;
  await pollUntil(`${staged} named`, async () => {
    if (traced.exited) return true;
    const info = await Deno.lstat(staged).catch(() => undefined);
    if (info !== undefined) {
      existed = true;
      if ((info.nlink ?? 1) >= 2) named = true;
    } else if (existed) named = true;
    return named;
  }, { intervalMs: 1, limitMs: 60_000 }).catch(() => {});
  if (!named || traced.exited) {
    if (!traced.exited) await killTracee(traced);
    await traced.done;
    return false;
  }
  await killTracee(traced);
  return true;
}

/**
 * What differs from the newest version: each listed path holds its item's bytes (the user's file
 * at a listed path keeps the user's bytes), the unlisted user file is there with its bytes (with
 * `delete` too: the mirror never placed it), and nothing else is there.
 */
async function _differences(root: string, platform: Platform): Promise<string[]> {
  const expected = new Map<string, Uint8Array | undefined>();
  for (const item of platform.items()) {
    expected.set(item.fileName, platform.contentOf(item.binaryDataId));
  }
  expected.set(_USER_HELD, _USER_HELD_BYTES);
  expected.set(_USER_UNLISTED, _USER_UNLISTED_BYTES); // not the mirror's: kept, with delete too
  const problems: string[] = [];
  const tree = await listTree(root);
  for (const [path, info] of tree) {
    if (info.isDirectory) continue;
    const want = expected.get(path);
    if (want === undefined) {
      problems.push(`unexpected ${path} (${info.size} bytes)`);
      continue;
    }
    const bytes = await Deno.readFile(join(root, path));
    if (!_equal(bytes, want)) {
      const versions = platform.items().find((item) => item.fileName === path);
      problems.push(
        `${path} holds ${bytes.length} bytes, not the ${want.length} expected` +
          (versions ? ` (the newest version, ${versions.binaryDataId})` : ""),
      );
    }
  }
  for (const path of expected.keys()) if (!tree.has(path)) problems.push(`missing ${path}`);
  return problems;
}

function _equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Polls the mirror: every file under a final name must have one of its path's valid sizes. */
class _Poller {
  #polls = 0;
  #examples: string[] = [];
  #stopped = false;
  #running: Promise<void>;

  constructor(root: string, valid: ReadonlyMap<string, ReadonlySet<number>>) {
    this.#running = (async () => {
      while (!this.#stopped) {
        const tree = await listTree(root);
        this.#polls++;
        for (const [path, info] of tree) {
          if (!info.isFile) continue;
          const sizes = valid.get(path);
          if (sizes !== undefined && sizes.has(info.size)) continue;
          if (this.#examples.length < 5) this.#examples.push(`${path} of ${info.size} bytes`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }

  async stop(): Promise<{ polls: number; examples: string[] }> {
    this.#stopped = true;
    await this.#running;
    return { polls: this.#polls, examples: this.#examples };
  }
}
