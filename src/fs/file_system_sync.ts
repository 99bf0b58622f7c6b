/**
 * One `syncfs(2)` for a group of files instead of an `fdatasync(2)` for each: the way the mirror
 * makes a batch of written files durable before they get their final names.
 *
 * Deno offers no `syncfs`, and native calls are denied to the program, so it runs the system's
 * `sync -f <folder>` (coreutils and BusyBox), the one program its permissions let it run
 * (`SYNC_PROGRAMS` in `src/permissions.ts`). Requests are coalesced: a caller waits for a sync that
 * started after its call, and every caller that arrives while one sync runs shares the next.
 *
 * Errors: `syncfs` reports a write-back error on the file system that no `syncfs` caller has seen
 * yet (Linux 5.8 and later; the group sync is not used on older kernels or other systems), even
 * to a descriptor opened after it, as `sync` opens its folder. Once one sync has failed, every
 * later one in this object fails too, so that each file written since is synced on its own and
 * the error lands on the file it belongs to (a file whose write-back failed during a sync that
 * reported it to another batch). The one gap left: another program's `syncfs` of the same file
 * system taking an error first.
 *
 * Why (measured, 10,020-file fresh copy): on a file system whose cache flush costs 5 ms, as an SD
 * card's does (ext4 with a journal on a loop device whose flushes sleep 5 ms:
 * `docs/benchmark/slow_flush_fs.py`), 15.5-16.6 s with an `fdatasync` per file (1,308-1,321
 * flushes) against 5.0-5.1 s (157-168 flushes); on this project's VM disk 3.59-3.78 s against
 * 3.36-3.64 s, and 42,000 context switches against 4,500.
 *
 * @example
 * ```ts
 * const fsSync = new FileSystemSync("/home/pi/.viam/data_mirror/.data-mirror");
 * // ... write the files (their handles still open) ...
 * await fsSync.flush(); // rejected: sync each file with `syncData()` instead
 * ```
 *
 * @module
 */
import { CoalescedRuns } from "../async/coalesced_runs.ts";
import { SYNC_PROGRAMS } from "../permissions.ts";

/** Options of {@linkcode FileSystemSync}. */
export interface FileSystemSyncOptions {
  /**
   * The `sync` programs to try, in order (absolute paths); defaults to `SYNC_PROGRAMS`, the ones
   * the production permissions allow.
   */
  programs?: readonly string[];
  /**
   * The least time between the starts of two syncs, in milliseconds (default
   * {@linkcode SYNC_INTERVAL_MS}): requests arriving meanwhile wait and share the next one.
   */
  minIntervalMs?: number;
}

/**
 * The default least time between two syncs. Each sync starts a process (1.5-2.5 ms of CPU) and
 * makes the device flush its cache once; a written file waits at most this long (plus the sync)
 * for its name, and the last batch of a transfer does not wait ({@linkcode FileSystemSync.hasten}).
 * Measured on the 10,020-file fresh copy (this VM, page cache dropped, alternated rounds, medians
 * of 4-5): syncs back to back 3.55 s of CPU (3.94 s with each inline call's slot held through its
 * sync, as before), 100 ms apart 3.23-3.25 s, 250 ms 3.17-3.31 s, 500 ms 3.03 s; wall time
 * 3.38-3.55 s for all three intervals against 3.94 s. 250 ms halves the flushes of 100 ms for an SD
 * card at no measurable cost.
 */
export const SYNC_INTERVAL_MS = 250;

/** Coalesced `sync -f` runs for the file system holding one folder. */
export class FileSystemSync {
  readonly #folder: string;
  /** The programs to try; narrowed to the one that ran once one has. */
  #programs: readonly string[];
  /**
   * Why no group sync may run (no program, not allowed, a kernel that does not report write-back
   * errors, or an earlier sync failed): every later request fails at once.
   */
  #unavailable: Error | undefined;
  /** Whether the kernel has been checked (at the first request: a pass that writes nothing, never). */
  #kernelChecked = false;
  readonly #runs: CoalescedRuns;

  /** Syncs the file system holding `folder` (a real path the program owns). */
  constructor(folder: string, options: FileSystemSyncOptions = {}) {
    this.#folder = folder;
    this.#programs = options.programs ?? SYNC_PROGRAMS;
    this.#runs = new CoalescedRuns({ minIntervalMs: options.minIntervalMs ?? SYNC_INTERVAL_MS });
  }

  /**
   * Resolves once a sync of the whole file system, started after this call, has completed: every
   * file written before the call is then on the disk. Rejects when the sync failed (a write-back
   * error), an earlier one did, or none can run here (no `sync` program, not allowed, an old
   * kernel); the caller then syncs each file on its own, which names the file an error belongs to.
   */
  flush(): Promise<void> {
    if (!this.#kernelChecked) {
      this.#kernelChecked = true;
      this.#unavailable = _unsupportedKernel();
    }
    if (this.#unavailable) return Promise.reject(this.#unavailable);
    return this.#runs.request(() => this.#run());
  }

  /**
   * Lets a requested sync that waits out the interval start now (see
   * {@linkcode CoalescedRuns.hasten}): for the last batch of a transfer, whose pass waits for it.
   */
  hasten(): void {
    this.#runs.hasten();
  }

  async #run(): Promise<void> {
    if (this.#unavailable) throw this.#unavailable;
    let missing: Error | undefined;
    for (const program of this.#programs) {
      let status: Deno.CommandStatus;
      try {
        status = await new Deno.Command(program, {
          args: ["-f", this.#folder],
          clearEnv: true,
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn().status;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          missing = error;
          continue;
        }
        throw this.#unavailable = error as Error; // not allowed, or no process can start
      }
      if (!status.success) {
        throw this.#unavailable = new Error(
          `${program} -f ${this.#folder} exited with code ${status.code}`,
        );
      }
      this.#programs = [program];
      return;
    }
    throw this.#unavailable = missing ?? new Deno.errors.NotFound("no sync program to try");
  }
}

/**
 * Why this system's `syncfs` may not be trusted to report write-back errors (undefined when it
 * may): before Linux 5.8 it did not report them at all.
 */
function _unsupportedKernel(): Error | undefined {
  if (Deno.build.os !== "linux") return new Error(`no group sync on ${Deno.build.os}`);
  let release: string;
  try {
    release = Deno.osRelease();
  } catch (error) {
    return error as Error;
  }
  const [major, minor] = release.split(".").map((part) => Number.parseInt(part, 10));
  if (major > 5 || (major === 5 && minor >= 8)) return undefined;
  return new Error(`Linux ${release}: syncfs reports write-back errors from 5.8 on`);
}
