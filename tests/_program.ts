/**
 * The real program as a real process, for end-to-end tests: `deno run <PRODUCTION_FLAGS> --config
 * deno.json dist/program/main.js <args>`, the bundle `deno task mirror` and the compiled binary run
 * (made again first if a source changed, `scripts/program_bundle.ts`), with piped output, a given
 * `VIAM_HOME` and environment.
 *
 * @module
 */
import { productionRunArgs } from "../scripts/mirror.ts";
import { programBundle } from "../scripts/program_bundle.ts";

const _MAIN = await programBundle();

/** Options of {@linkcode spawnProgram} and {@linkcode runProgram}. */
export interface ProgramOptions {
  /** The program's `VIAM_HOME` (absolute). */
  viamHome: string;
  /** More environment variables, e.g. `VIAM_API_KEY_ID` and `VIAM_API_KEY`. */
  env?: Record<string, string>;
  /**
   * Run on a pseudo-terminal (through util-linux `script`), as an operator at a shell would: stdout
   * and stderr then both arrive on stdout.
   */
  tty?: boolean;
  /**
   * Bound by file modes as a service user is: as root (CI), run without the capabilities that
   * override them (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, dropped with util-linux `setpriv`).
   */
  fileModesBind?: boolean;
  /**
   * A command the program runs under, e.g. `strace` with its arguments (it ends with the program's
   * own command line). {@linkcode RunningProgram.pid} is then the wrapper's.
   */
  wrapper?: readonly string[];
}

/** What `setpriv` drops for {@linkcode ProgramOptions.fileModesBind}. */
const _OVERRIDES = "-dac_override,-dac_read_search";

/** How the program ended and everything it printed. */
export interface ProgramOutput {
  /** The exit code (128 + the signal number when a signal ended it). */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** A running program. Disposing of it SIGKILLs it if it still runs and waits for its end. */
export interface RunningProgram extends AsyncDisposable {
  /** Its process id. */
  readonly pid: number;
  /** Resolves once it has exited and both pipes are drained. */
  readonly done: Promise<ProgramOutput>;
  /** True once {@linkcode RunningProgram.done} has resolved. */
  readonly exited: boolean;
  /** What it has written to stdout so far. */
  stdout(): string;
  /** What it has written to stderr so far. */
  stderr(): string;
  /**
   * Resolves once the text written so far to `stream` satisfies `test`; rejects, with the output,
   * if the program exits first.
   */
  waitFor(stream: "stdout" | "stderr", test: (text: string) => boolean): Promise<void>;
  /** Sends `signal`. */
  kill(signal: Deno.Signal): void;
}

/**
 * Starts the program with `args` under the production permission flags. Its environment is this
 * process's without any `VIAM_*` variable (so nothing of the runner's leaks in), plus `NO_COLOR=1`,
 * `DENO_NO_UPDATE_CHECK=1` (`deno run` would otherwise ask dl.deno.land for a new release, through
 * whatever proxy a test sets, which then counts a tunnel the program never opened), `VIAM_HOME` and
 * `options.env`; stdin is closed.
 */
export function spawnProgram(args: readonly string[], options: ProgramOptions): RunningProgram {
  const inherited = Object.entries(Deno.env.toObject()).filter(([name]) =>
    !name.startsWith("VIAM_")
  );
  const command = [
    ...(options.fileModesBind && Deno.uid() === 0
      ? ["setpriv", `--inh-caps=${_OVERRIDES}`, `--bounding-set=${_OVERRIDES}`]
      : []),
    ...(options.wrapper ?? []),
    Deno.execPath(),
    ...productionRunArgs(_MAIN, args),
  ];
  const quoted = command.map((word) => `'${word.replaceAll("'", `'"'"'`)}'`).join(" ");
  const child = new Deno.Command(options.tty ? "script" : command[0], {
    args: options.tty ? ["-qec", quoted, "/dev/null"] : command.slice(1),
    env: {
      ...Object.fromEntries(inherited),
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      VIAM_HOME: options.viamHome,
      ...options.env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const streams = { stdout: new _Collected(), stderr: new _Collected() };
  let exited = false;
  const done = (async (): Promise<ProgramOutput> => {
    const [status] = await Promise.all([
      child.status,
      streams.stdout.drain(child.stdout),
      streams.stderr.drain(child.stderr),
    ]);
    exited = true;
    const output = {
      code: status.code,
      signal: status.signal,
      stdout: streams.stdout.text,
      stderr: streams.stderr.text,
    };
    streams.stdout.end(output);
    streams.stderr.end(output);
    return output;
  })();
  return {
    pid: child.pid,
    done,
    get exited(): boolean {
      return exited;
    },
    stdout: () => streams.stdout.text,
    stderr: () => streams.stderr.text,
    waitFor: (stream, test) => streams[stream].waitFor(test),
    kill: (signal) => child.kill(signal),
    async [Symbol.asyncDispose](): Promise<void> {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch (error) {
          // It exited between the check and the kill: nothing left to stop.
          if (!(error instanceof TypeError)) throw error;
        }
      }
      await done;
    },
  };
}

/** Runs the program with `args` (see {@linkcode spawnProgram}) and resolves once it has exited. */
export function runProgram(
  args: readonly string[],
  options: ProgramOptions,
): Promise<ProgramOutput> {
  return spawnProgram(args, options).done;
}

/** The last line of `stdout` parsed as JSON (the `--json` contract). */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** How long `waitFor` waits for a running program's output. */
const _WAIT_LIMIT_MS = 120_000;

/** One output stream, collected as text, with waiters on its content. */
class _Collected {
  text = "";
  #waiters: { test: (text: string) => boolean; resolve: () => void; reject: (e: Error) => void }[] =
    [];
  #ended: ProgramOutput | undefined;

  async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      this.text += chunk;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!waiter.test(this.text)) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  /**
   * Resolves once the text passes `test`; rejects when the program exits first, or after
   * {@linkcode _WAIT_LIMIT_MS} (a program that never prints it fails the test by name instead
   * of hanging the suite).
   */
  waitFor(test: (text: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    if (this.#ended) return Promise.reject(_exitedError(this.#ended));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const waiter = { test, resolve, reject };
    this.#waiters.push(waiter);
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      reject(new Error(`the awaited output did not come in ${_WAIT_LIMIT_MS} ms:\n${this.text}`));
    }, _WAIT_LIMIT_MS);
    return promise.finally(() => clearTimeout(timer));
  }

  end(output: ProgramOutput): void {
    this.#ended = output;
    for (const waiter of this.#waiters) waiter.reject(_exitedError(output));
    this.#waiters = [];
  }
}

function _exitedError(output: ProgramOutput): Error {
  return new Error(
    `the program exited (code ${output.code}) before the awaited output\n` +
      `stdout:\n${output.stdout}\nstderr:\n${output.stderr}`,
  );
}

/**
 * Deno's cache location for a child started with `clearEnv`: a `DENO_DIR` user's child would
 * otherwise look in the home's cache, where its npm packages are not.
 */
export function denoCacheEnv(): Record<string, string> {
  const dir = Deno.env.get("DENO_DIR");
  return dir === undefined ? {} : { DENO_DIR: dir };
}
