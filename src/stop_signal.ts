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

/**
 * Calls `onStop` with the signal the first time SIGINT or SIGTERM arrives. Disposing of the result
 * before that removes the listeners (the default action, ending the process, applies again); after
 * it, they stay until the thread ends, swallowing the signals that follow the first.
 */
export function onStopSignal(onStop: (signal: Deno.Signal) => void): Disposable {
  let stopped = false;
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => {
      if (stopped) return;
      stopped = true;
      onStop(signal);
    };
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });
  return {
    [Symbol.dispose]() {
      if (stopped) return; // stopping: a late copy of the signal must not end the process with 130
      for (const { signal, listener } of listeners) Deno.removeSignalListener(signal, listener);
    },
  };
}
