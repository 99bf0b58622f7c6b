/**
 * The narrowing bootstrap: the entry point of `deno task mirror` and of the compiled binary.
 *
 * It runs with the broad baked flags (`src/permissions.ts`), works out the paths the program may
 * touch, refuses any that are too broad, starts the program (`src/worker_main.ts`) in a Worker
 * limited to them, then gives up its own permissions (all but read, which Deno needs to load the
 * Worker's modules). When the Worker reports the program's exit code, the process exits with it
 * (`Deno.exit` in a Worker would end only the Worker).
 *
 * No npm code is imported here: nothing but this file, `src/invocation.ts`, `src/permissions.ts`,
 * `src/stop_signal.ts` and `src/module/parent_exit.ts` runs unconfined.
 *
 * @module
 */
import { printUsageError, readInvocation, USAGE_EXIT_CODE } from "./src/invocation.ts";
import { onParentExit } from "./src/module/parent_exit.ts";
import { GrantUnavailableError, resolveGrants, workerPermissions } from "./src/permissions.ts";
import { onStopSignal, signalExitCode } from "./src/stop_signal.ts";

/**
 * The parent process as this one started, read before anything else is done: viam-server killed
 * in the first moments after it started the module leaves it re-parented, and a parent read later
 * (in the Worker, after loading its modules: 100 ms and more) would be the new one, never lost.
 */
const _STARTED_UNDER = Deno.ppid;

/**
 * Adds this machine's own addresses to `NO_PROXY` (and `no_proxy`), before any fetch. Deno's fetch
 * takes `HTTP_PROXY` from the environment whatever the permissions, loopback included: with one
 * set (a robot behind a corporate proxy), an `http://` loopback app URL, the only `http://` the
 * config allows because the key would otherwise cross the network in the clear, sent the key in
 * the clear to the proxy's host.
 */
function _bypassProxyForLoopback(): void {
  const listed = [Deno.env.get("NO_PROXY"), Deno.env.get("no_proxy")].filter((entries) => entries);
  // The unspecified addresses too: the config takes them as this machine (`app_url`), and a proxy
  // would otherwise be sent their sign-in, the key in it, in the clear.
  const value = [...new Set(listed), "localhost", "127.0.0.0/8", "::1", "0.0.0.0", "::"].join(",");
  Deno.env.set("NO_PROXY", value);
  Deno.env.set("no_proxy", value);
}

/** The message a confined Worker posts when the program is done. */
export interface WorkerExit {
  /** The process exit code. */
  exitCode: number;
  /** Whether the program listened for a stop signal (see `stopListened`). */
  stopListened: boolean;
}

/** The message the bootstrap posts to the Worker when it catches a stop signal. */
export interface WorkerStop {
  /** The signal. */
  stop: Deno.Signal;
}

/** The exit code when a grant is refused (as for a config error) and when the program fails. */
const _EXIT = { refused: 2, failed: 1 } as const;

/**
 * The bootstrap's permissions it drops once the Worker has its own copy. Not `read`: Deno loads the
 * Worker's module graph (its static imports and literal dynamic imports) under the main thread's
 * read permission, after `new Worker` returns; revoking it then makes the load fail. Other reads
 * in the Worker are checked against the Worker's own grants.
 */
const _REVOKED_AFTER_START = ["write", "net", "env", "sys", "run", "ffi", "import"] as const;

/**
 * Runs the module at `workerUrl` in a Worker confined to the production grants for `args` and this
 * process's environment, and resolves to the exit code the Worker reports ({@linkcode WorkerExit}).
 * The Worker sees the same `Deno.args`.
 *
 * Never rejects: a usage error (`data-mirror synk`) is printed on stderr (and as one JSON document
 * on stdout with `--json`) and resolves to 2 without starting anything; a refused grant (a
 * directory too broad to grant) prints the reason and resolves to 2; a Worker that fails resolves
 * to 1 (with `--json`, each as one JSON document on stdout, the text also on stderr). Revokes this
 * thread's own permissions (all but read), so call it once, as the last thing an entry does.
 */
export function runConfined(workerUrl: URL, args: readonly string[]): Promise<number> {
  _bypassProxyForLoopback();
  const env = (name: string) => Deno.env.get(name);
  const invocation = readInvocation(args, { env });
  if (invocation.mode === "usage-error") {
    printUsageError(invocation);
    return Promise.resolve(USAGE_EXIT_CODE);
  }
  const json = "json" in invocation && invocation.json;
  const fail = (reason: unknown, exitCode: number) => _fail(reason, exitCode, json);
  let permissions: Deno.PermissionOptionsObject;
  try {
    permissions = workerPermissions(resolveGrants(invocation, { env }));
  } catch (error) {
    // A disk gone for now is no configuration error: exit 1, which the systemd unit restarts.
    if (error instanceof GrantUnavailableError) return Promise.resolve(fail(error, _EXIT.failed));
    return Promise.resolve(fail(error, _EXIT.refused));
  }
  const { promise, resolve } = Promise.withResolvers<number>();
  // The Worker a caught signal is passed on to, while it runs.
  const passOn: { to?: Worker } = {};
  let caught: Deno.Signal | undefined;
  // From before the Worker starts, a stop signal is caught here and passed on: the Worker loads its
  // modules for a while (a few hundred milliseconds on a Pi) before the program listens itself, and
  // a SIGTERM then would end the process with no summary (no JSON document with --json). The
  // listener stays to the end, so that a late copy of a Ctrl-C cannot replace the program's exit
  // code with 130. (Signals reach it through the event loop: after the Worker is assigned.)
  onStopSignal((signal) => {
    caught = signal;
    passOn.to?.postMessage({ stop: signal } satisfies WorkerStop);
  });
  const worker = new Worker(workerUrl, { type: "module", deno: { permissions } });
  passOn.to = worker;
  // viam-server killed without stopping its modules leaves them running (syncing on with the old
  // config, holding their mirrors' locks): its end stops the module as a SIGTERM does.
  const orphaned = invocation.mode === "module"
    ? onParentExit((parent) => {
      console.error(`viam-server (process ${parent}) is gone: stopping the module`);
      passOn.to?.postMessage({ stop: "SIGTERM" } satisfies WorkerStop);
    }, { parent: _STARTED_UNDER })
    : undefined;
  const end = () => {
    orphaned?.[Symbol.dispose]();
    passOn.to = undefined;
    worker.terminate();
  };
  // The Worker holds its own copy of the narrowed permissions: dropping the bootstrap's does not
  // touch it, and leaves less behind in this thread.
  for (const name of _REVOKED_AFTER_START) Deno.permissions.revokeSync({ name });
  worker.onmessage = (event: MessageEvent<WorkerExit>) => {
    end();
    const code = event.data?.exitCode;
    if (!Number.isInteger(code)) {
      resolve(fail("the program sent an unexpected message", _EXIT.failed));
    } else if (caught !== undefined && event.data.stopListened !== true) {
      // A signal caught for a program that never listens for one (`validate`, `--help`): it ends
      // the process as it would have without this listener.
      resolve(signalExitCode(caught));
    } else {
      resolve(code);
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    // Handled here: without preventDefault the error would also end the process with its own report.
    event.preventDefault();
    end();
    resolve(fail(`the program failed: ${event.message}`, _EXIT.failed));
  };
  worker.onmessageerror = () => {
    end();
    resolve(fail("the program sent a message that could not be read", _EXIT.failed));
  };
  return promise;
}

/**
 * Reports on stderr why the program cannot go on, and with `json` also as the one JSON document on
 * stdout that `--json` promises in every outcome; returns `exitCode`.
 */
function _fail(reason: unknown, exitCode: number, json: boolean): number {
  const text = reason instanceof Error ? reason.message : String(reason);
  console.error(`data-mirror: ${text}`);
  if (json) console.log(JSON.stringify({ error: text, exitCode }));
  return exitCode;
}

/**
 * The Worker's entry beside this file: `src/worker_main.ts` from source, `src/worker_main.js` in
 * the bundle (`scripts/program_bundle.ts`) that `deno task mirror` and the compiled binary run.
 */
const _WORKER_ENTRY = import.meta.url.endsWith(".js")
  ? "./src/worker_main.js"
  : "./src/worker_main.ts";

if (import.meta.main) {
  Deno.exit(await runConfined(new URL(_WORKER_ENTRY, import.meta.url), Deno.args));
}
