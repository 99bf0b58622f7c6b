/**
 * Noticing that viam-server is gone. viam-server starts a module in a process group of its own and
 * with no death signal, so when viam-server is killed (SIGKILL, a crash, an out-of-memory kill) the
 * module is re-parented and runs on: syncing with the old config and key, deleting by the old
 * filter, and holding its mirror's lock against the module the next viam-server starts. The
 * kernel tells nothing; the parent's process id changes, so it is looked at once a second.
 *
 * @example
 * ```ts
 * const parent = Deno.ppid; // first thing, before loading anything else
 * // ...
 * using _orphaned = onParentExit((pid) => console.error(`parent ${pid} is gone`), { parent });
 * ```
 *
 * @module
 */

/** Options of {@linkcode onParentExit}. */
export interface ParentExitOptions {
  /** The parent's id as read when the process started (default: now): see the example. */
  parent?: number;
  /** How often the parent is looked at, in milliseconds (default 1000). */
  intervalMs?: number;
}

/**
 * Calls `onExit` once (with the parent's old id) when the parent process of this one has ended,
 * looking every `intervalMs`. A process whose parent is already `init` (1) at the start is never
 * told: it has no parent to lose. The timer does not keep the program alive; dispose to stop.
 * The earlier `parent` is read, the shorter the window in which a parent that dies right after
 * starting this process goes unnoticed (the program is re-parented before it looks).
 */
export function onParentExit(
  onExit: (parentPid: number) => void,
  options: ParentExitOptions = {},
): Disposable {
  const parent = options.parent ?? Deno.ppid;
  const intervalMs = options.intervalMs ?? 1000;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    clearInterval(timer);
    onExit(parent);
  }, intervalMs);
  Deno.unrefTimer(timer);
  if (parent === 1) clearInterval(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
