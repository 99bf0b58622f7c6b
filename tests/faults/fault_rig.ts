/**
 * What every fault row runs on: one local data platform (restartable on its port), an API key that
 * must never be printed, and the real program as a process under the production permission flags.
 * Every output the program produces through the rig is searched for the key at once, so each row
 * also checks row 10 (secrets) on everything it runs.
 *
 * @example
 * ```ts
 * await using rig = await startFaultRig();
 * await using sandbox = await Sandbox.create();
 * rig.platform.replaceDataset(describeDataset([{ count: 3, tags: ["a"] }]));
 * const output = await rig.run(["sync", "--tags", "a", "--json"], { home: sandbox.home });
 * ```
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import {
  type ApiKey,
  type Faults,
  type Platform,
  type PlatformDataset,
  startPlatform,
} from "../support/platform/mod.ts";
import { type ProgramOutput, type RunningProgram, runProgram, spawnProgram } from "../_program.ts";

/** How the program is given its key, and what else it gets. */
export interface RunOptions {
  /** The program's `VIAM_HOME`. */
  home: string;
  /** Extra environment; the key goes in `VIAM_API_KEY_ID`/`VIAM_API_KEY` unless `keyInEnv` is false. */
  env?: Record<string, string>;
  /** Default true: pass the key through the environment. */
  keyInEnv?: boolean;
  /** Default true: add `--app-url <platform>` after a `sync` command. */
  appUrl?: boolean;
}

/** The platform, the key, and the program runner. */
export interface FaultRig extends AsyncDisposable {
  /** The platform in service now ({@linkcode FaultRig.restartPlatform} replaces it). */
  readonly platform: Platform;
  /** The key the platform accepts. Never to appear in anything the program writes. */
  readonly key: ApiKey;
  /** Every string that counts as a leak of the key (the key and long pieces of it). */
  readonly secrets: readonly string[];
  /** How many captured streams (stdout, stderr, files) were searched for the key so far. */
  readonly streamsChecked: number;
  /** Runs the program to its end; throws if the key shows in its output. */
  run(args: readonly string[], options: RunOptions): Promise<ProgramOutput>;
  /**
   * Starts the program; its output is searched for the key when it ends. Its `kill` does nothing
   * once it has exited (a kill aimed at an instant may come just after the end).
   */
  spawn(args: readonly string[], options: RunOptions): RunningProgram;
  /** Throws if `text` (a stream or a file's content, described by `what`) holds the key. */
  checkNoSecret(what: string, text: string | Uint8Array): void;
  /** Searches every regular file under `dir` for the key (skipping `except` paths). */
  checkFilesNoSecret(dir: string, except?: readonly string[]): Promise<number>;
  /** Serves `dataset` with no faults. */
  serve(dataset: PlatformDataset, faults?: Faults): void;
  /**
   * Stops the platform, then starts a new one on the same port with the same data and faults,
   * accepting `apiKeys` (default: the rig's key) after `downMs` (default 0).
   */
  restartPlatform(options?: { downMs?: number; apiKeys?: readonly ApiKey[] }): Promise<void>;
}

/** The leak found: the key in something the program wrote. */
export class SecretLeakError extends Error {
  /** @param what Where the key showed. */
  constructor(readonly what: string) {
    super(`the API key appears in ${what}`);
    this.name = "SecretLeakError";
  }
}

/** Starts a platform with a fresh distinctive key. */
export async function startFaultRig(): Promise<FaultRig> {
  const key = {
    id: `faults-key-id-${randomBytes(4).toString("hex")}`,
    key: `FAULTS-SECRET-${randomBytes(18).toString("hex")}`,
  };
  const platform = await startPlatform({ apiKeys: [key] });
  return new _Rig(platform, key);
}

class _Rig implements FaultRig {
  platform: Platform;
  readonly key: ApiKey;
  readonly secrets: readonly string[];
  streamsChecked = 0;
  #dataset: PlatformDataset = { items: [], datasets: [] };
  #encoded: Uint8Array[];

  constructor(platform: Platform, key: ApiKey) {
    this.platform = platform;
    this.key = key;
    // The whole key, and its secret half alone: a truncated echo is a leak too.
    this.secrets = [key.key, key.key.slice("FAULTS-SECRET-".length, "FAULTS-SECRET-".length + 16)];
    this.#encoded = this.secrets.map((secret) => new TextEncoder().encode(secret));
  }

  #env(options: RunOptions): Record<string, string> {
    const keyEnv: Record<string, string> = options.keyInEnv === false
      ? {}
      : { VIAM_API_KEY_ID: this.key.id, VIAM_API_KEY: this.key.key };
    return { ...keyEnv, ...options.env };
  }

  #args(args: readonly string[], options: RunOptions): string[] {
    if (args[0] !== "sync" || options.appUrl === false) return [...args];
    return ["sync", "--app-url", this.platform.url, ...args.slice(1)];
  }

  #checkOutput(output: ProgramOutput, args: readonly string[]): void {
    const label = `the program (${args.slice(0, 2).join(" ")} ...)`;
    this.checkNoSecret(`stdout of ${label}`, output.stdout);
    this.checkNoSecret(`stderr of ${label}`, output.stderr);
  }

  async run(args: readonly string[], options: RunOptions): Promise<ProgramOutput> {
    const full = this.#args(args, options);
    const output = await runProgram(full, { viamHome: options.home, env: this.#env(options) });
    this.#checkOutput(output, full);
    return output;
  }

  spawn(args: readonly string[], options: RunOptions): RunningProgram {
    const full = this.#args(args, options);
    const program = spawnProgram(full, { viamHome: options.home, env: this.#env(options) });
    const done = program.done.then((output) => {
      this.#checkOutput(output, full);
      return output;
    });
    return {
      pid: program.pid,
      done,
      get exited() {
        return program.exited;
      },
      stdout: () => program.stdout(),
      stderr: () => program.stderr(),
      waitFor: (stream, test) => program.waitFor(stream, test),
      kill: (signal) => {
        try {
          program.kill(signal);
        } catch (error) {
          // It exited between the caller's check and the kill: nothing left to signal.
          if (!(error instanceof TypeError)) throw error;
        }
      },
      async [Symbol.asyncDispose]() {
        await program[Symbol.asyncDispose]();
        await done;
      },
    };
  }

  checkNoSecret(what: string, text: string | Uint8Array): void {
    this.streamsChecked++;
    if (typeof text === "string") {
      if (this.secrets.some((secret) => text.includes(secret))) throw new SecretLeakError(what);
      return;
    }
    if (this.#encoded.some((secret) => _includes(text, secret))) throw new SecretLeakError(what);
  }

  async checkFilesNoSecret(dir: string, except: readonly string[] = []): Promise<number> {
    let files = 0;
    const walk = async (path: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(path));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return;
        throw error;
      }
      for (const entry of entries) {
        const full = `${path}/${entry.name}`;
        if (except.includes(full)) continue;
        if (entry.isDirectory) await walk(full);
        else if (entry.isFile) {
          files++;
          this.checkNoSecret(`the file ${full}`, await Deno.readFile(full));
        }
      }
    };
    await walk(dir);
    return files;
  }

  serve(dataset: PlatformDataset, faults: Faults = {}): void {
    this.#dataset = dataset;
    this.platform.replaceDataset(dataset);
    this.platform.setFaults(faults);
    this.platform.resetCalls();
  }

  async restartPlatform(
    options: { downMs?: number; apiKeys?: readonly ApiKey[] } = {},
  ): Promise<void> {
    const { port, faults } = this.platform;
    await this.platform.close();
    await new Promise((resolve) => setTimeout(resolve, options.downMs ?? 0));
    this.platform = await startPlatform({
      port,
      apiKeys: options.apiKeys ?? [this.key],
      dataset: this.#dataset,
      faults,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.platform.close();
  }
}

function _includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0];
  for (let i = haystack.indexOf(first); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return false;
    let match = true;
    for (let j = 1; j < needle.length && match; j++) match = haystack[i + j] === needle[j];
    if (match) return true;
  }
  return false;
}
