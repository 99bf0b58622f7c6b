/**
 * Noticing that viam-server is gone. viam-server starts a module in a process group of its own and
 * with no death signal, so when viam-server is killed (SIGKILL, a crash, an out-of-memory kill) the
 * module is re-parented and runs on: syncing with the old config and key, deleting by the old
 * filter, and holding its mirror's lock against the module the next viam-server starts. The
 * kernel tells nothing; the parent's process id changes, so it is looked at once a second.
 *
 * @example
 * ```ts
 * using _orphaned = onParentExit((parent) => console.error(`parent ${parent} is gone`));
 * ```
 *
 * @module
 */

/**
 * Calls `onExit` once (with the parent's old id) when the parent process of this one has ended,
 * looking every `intervalMs`. A process whose parent is already `init` (1) at the start is never
 * told: it has no parent to lose. The timer does not keep the program alive; dispose to stop.
 */
export function onParentExit(
  onExit: (parentPid: number) => void,
  intervalMs = 1000,
): Disposable {
  const parent = Deno.ppid;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    clearInterval(timer);
    onExit(parent);
  }, intervalMs);
  Deno.unrefTimer(timer);
  if (parent === 1) clearInterval(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
