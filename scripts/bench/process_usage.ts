/**
 * What a process costs: the CPU of a long-running one read from `/proc/<pid>/stat`, and a command run
 * to completion under `/usr/bin/time` (GNU time: `wait4` accounting, so the peak RSS and the CPU are
 * exact, not sampled).
 *
 * @example
 * ```ts
 * const run = await measureCommand({ command: "rclone", args: ["version"], timeoutMs: 10_000 });
 * console.log(run.wallSeconds, run.cpuSeconds, run.peakRssMiB);
 * const serverCpu = await processCpuSeconds(serverPid);
 * ```
 *
 * @module
 */

/** The GNU time binary (Debian package `time`). */
export const GNU_TIME = "/usr/bin/time";

let _ticksPerSecond: number | undefined;

/** User + system CPU seconds a running process has used so far (its threads included). */
export async function processCpuSeconds(pid: number): Promise<number> {
  _ticksPerSecond ??= await _clockTicks();
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return (utime + stime) / _ticksPerSecond;
}

async function _clockTicks(): Promise<number> {
  const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
  const ticks = Number(new TextDecoder().decode(out.stdout).trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

/** A command to measure. */
export interface MeasuredCommand {
  /** The program. */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Variables set on top of this process's environment. */
  env?: Record<string, string>;
  /** Killed (SIGKILL) after this long. */
  timeoutMs: number;
  /**
   * Arguments of an untimed run of the same command right before the timed one, which loads what
   * the program needs besides its executable (see {@linkcode settlePageCache}); none by default.
   */
  warmUpArgs?: readonly string[];
}

/** What a measured command cost. */
export interface Measurement {
  /** Exit code (137 when killed). */
  code: number;
  /** Whether the timeout killed it. */
  timedOut: boolean;
  /** Wall time from spawn to exit. */
  wallSeconds: number;
  /** User CPU seconds (the command and the children it waited for). */
  userSeconds: number;
  /** System CPU seconds. */
  systemSeconds: number;
  /** User + system. */
  cpuSeconds: number;
  /** Peak resident set size (`ru_maxrss`), MiB. */
  peakRssMiB: number;
  /** Its standard output. */
  stdout: string;
  /** Its standard error (the last 4,000 characters). */
  stderr: string;
}

/**
 * Runs a command under `/usr/bin/time` and returns what it cost. Every run starts from a settled
 * page cache first ({@linkcode settlePageCache}, untimed).
 */
export async function measureCommand(cmd: MeasuredCommand): Promise<Measurement> {
  await settlePageCache(cmd);
  const report = await Deno.makeTempFile({ prefix: "bench-time-" });
  try {
    const child = new Deno.Command(GNU_TIME, {
      args: ["-o", report, "-f", "%U %S %M", cmd.command, ...cmd.args],
      env: cmd.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const started = performance.now();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void killChildrenOf(child.pid);
    }, cmd.timeoutMs);
    const output = await child.output();
    const wallSeconds = (performance.now() - started) / 1000;
    clearTimeout(timer);
    const decoder = new TextDecoder();
    // GNU time writes "Command exited with non-zero status N" before the format line when it fails.
    const last = (await Deno.readTextFile(report)).trim().split("\n").at(-1) ?? "";
    const [user, system, maxKiB] = last.split(" ").map(Number);
    if (![user, system, maxKiB].every(Number.isFinite)) {
      throw new Error(`${GNU_TIME} gave no usage for ${cmd.command}: "${last}"`);
    }
    return {
      code: output.code,
      timedOut,
      wallSeconds,
      userSeconds: user,
      systemSeconds: system,
      cpuSeconds: user + system,
      peakRssMiB: maxKiB / 1024,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr).slice(-4000),
    };
  } finally {
    await Deno.remove(report);
  }
}

/**
 * Puts the page cache in the same state before every timed run, for whichever tool runs next:
 *
 * - Every dirty page is written back (`sync`). rclone syncs nothing; its 495 MB copy was written
 *   back 30 s later, in the middle of the next data-mirror run, whose per-file `fdatasync` queued
 *   behind it: 0.5-1 s of a fresh copy (by hand: 5.07-5.72 s with a 1 GB backlog aged 27 s,
 *   4.61-5.03 s after a sync).
 * - When the bench runs as root, the clean pages are dropped (`/proc/sys/vm/drop_caches`) and the
 *   command's executable is read back in, so that it starts warm. The copies set aside for ext4
 *   (`SetBench`) otherwise keep the page cache growing into memory this VM has not handed the guest
 *   recently, where every page costs a trip to the hypervisor: copying a fresh copy's bytes into
 *   the page cache took 24% of data-mirror's CPU samples instead of 11% (`perf`), 1 s more of
 *   system time, for any tool, but only a run bound by its CPU shows it in its wall time.
 * - The command's `warmUpArgs`, if any, are run (untimed, output dropped): what a program loads
 *   besides its executable is read back in too. rclone is one executable, as a compiled data-mirror
 *   is; data-mirror run from source also reads some 300 files (its modules, the npm packages) at
 *   every start. Measured through this function, five alternated pairs each: a no-op pass of the
 *   10,020-file set 0.96-1.09 s without the warm-up, 0.93-0.99 s with it; an empty pass 0.39-0.43 s
 *   and 0.35-0.42 s. (From a shell, by hand, an empty pass right after a drop took 0.67-0.68 s; the
 *   bench's own Deno processes keep some of what it reads in memory, Deno's cache databases
 *   mapped among them, so the gain here is the smaller one above.)
 */
export async function settlePageCache(
  cmd: Pick<MeasuredCommand, "command" | "env" | "warmUpArgs">,
): Promise<void> {
  const { code } = await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  if (code !== 0) throw new Error(`sync exited with ${code}`);
  if (await canDropPageCache()) {
    await Deno.writeTextFile(_DROP_CACHES, "1");
    using file = await Deno.open(await _pathOf(cmd.command));
    const chunk = new Uint8Array(1 << 20);
    while ((await file.read(chunk)) !== null) {
      // read through: the executable's pages are cached again
    }
  }
  if (cmd.warmUpArgs === undefined) return;
  const warmUp = await new Deno.Command(cmd.command, {
    args: [...cmd.warmUpArgs],
    env: cmd.env,
    stdout: "null",
    stderr: "null",
  }).output();
  if (!warmUp.success) {
    throw new Error(
      `the warm-up run (${cmd.command} ${cmd.warmUpArgs.join(" ")}) exited with ${warmUp.code}`,
    );
  }
}

/** The file a command name runs: itself when it has a slash, else the first match on `$PATH`. */
async function _pathOf(command: string): Promise<string> {
  if (command.includes("/")) return command;
  const found = await findOnPath(command);
  if (found === undefined) throw new Error(`${command} is not on PATH`);
  return found;
}

/** The first file named `name` in a folder of `$PATH`, or undefined when there is none. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    const candidate = `${dir}/${name}`;
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

const _DROP_CACHES = "/proc/sys/vm/drop_caches";

let _droppable: Promise<boolean> | undefined;

/** Whether this process may drop the page cache (root, Linux); found out once. */
export function canDropPageCache(): Promise<boolean> {
  _droppable ??= Deno.open(_DROP_CACHES, { write: true }).then(
    (file) => (file.close(), true),
    () => false,
  );
  return _droppable;
}

/**
 * Kills (SIGKILL) the children of `pid`: the command a wrapper such as GNU time or strace runs, so
 * that the wrapper reports and exits.
 */
export async function killChildrenOf(pid: number): Promise<void> {
  try {
    const children = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`);
    for (const child of children.trim().split(/\s+/).filter(Boolean)) {
      Deno.kill(Number(child), "SIGKILL");
    }
  } catch {
    // It exited on its own meanwhile.
  }
}
