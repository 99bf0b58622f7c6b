/**
 * The one way the program reacts to being asked to stop (SIGINT from Ctrl-C, SIGTERM from systemd,
 * viam-server or `kill`): the first of either calls back once; later ones are swallowed from then
 * on, so a stop in progress finishes cleanly instead of being cut off by the default action. A
 * Ctrl-C under `deno task` arrives twice (the terminal's, and the copy `deno task` passes on), the
 * second at any time, even after the stop is done.
 *
 * @example
 * ```ts
 * import { onStopSignal } from "./stop_signal.ts";
 *
 * const abort = new AbortController();
 * using _stop = onStopSignal(() => abort.abort());
 * ```
 *
 * @module
 */

/** The signals that ask the program to stop. */
export const STOP_SIGNALS: readonly Deno.Signal[] = Object.freeze(["SIGINT", "SIGTERM"]);

/** The registrations of this thread not yet disposed of, each called once at most. */
const _registered = new Set<(signal: Deno.Signal) => void>();
/** A stop passed on by {@linkcode deliverStop} while nothing was registered. */
let _pending: Deno.Signal | undefined;
/** A registration has been made in this thread. */
let _listened = false;

/**
 * Calls `onStop` with the signal the first time SIGINT or SIGTERM arrives, or is passed on by
 * {@linkcode deliverStop} (one passed on before this call: right after it, in a microtask).
 * Disposing of the result before that removes the listeners (the default action, ending the
 * process, applies again); after it, they stay until the thread ends, swallowing the signals that
 * follow the first.
 */
export function onStopSignal(onStop: (signal: Deno.Signal) => void): Disposable {
  let stopped = false;
  const stop = (signal: Deno.Signal) => {
    if (stopped) return;
    stopped = true;
    onStop(signal);
  };
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => stop(signal);
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });
  _registered.add(stop);
  _listened = true;
  const pending = _pending;
  _pending = undefined;
  if (pending !== undefined) queueMicrotask(() => stop(pending));
  return {
    [Symbol.dispose]() {
      if (stopped) return; // stopping: a late copy of the signal must not end the process with 130
      _registered.delete(stop);
      for (const { signal, listener } of listeners) Deno.removeSignalListener(signal, listener);
    },
  };
}

/**
 * A stop signal that another thread of the process caught: the bootstrap listens from the start and
 * passes the first signal on to the program's Worker, which may still be loading its modules (its
 * own listeners not there yet, the signal would otherwise be lost). Goes to this thread's
 * registrations, or, when there is none yet, to the next one made.
 */
export function deliverStop(signal: Deno.Signal): void {
  if (_registered.size === 0) {
    _pending ??= signal;
    return;
  }
  for (const stop of _registered) stop(signal);
}

/**
 * Whether this thread ever listened for a stop: then the program decided what a stop means, and its
 * exit code stands. When the bootstrap caught a signal and the program never listened (a command
 * that does not, like `validate`), it ends the process as the signal would have
 * ({@linkcode signalExitCode}).
 */
export function stopListened(): boolean {
  return _listened;
}

/**
 * The exit code of a process ended by `signal`: 128 + its number, as a shell reports it (SIGPIPE:
 * its output's reader went away, see `src/program.ts`).
 */
export function signalExitCode(signal: Deno.Signal): number {
  return 128 + (signal === "SIGINT" ? 2 : signal === "SIGPIPE" ? 13 : 15);
}
