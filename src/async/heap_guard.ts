/**
 * A bound on the garbage V8 keeps between its full collections. V8 starts a full collection when
 * its old generation has grown by a factor of what survived the last one, and that factor grows to
 * 2-4 on a process that spends little time collecting. For this program that means 10-25 MB of dead
 * objects and buffers resident at any time: measured, a push of 1,000 small files peaked at 103 MB
 * with them and 91 MB without. The guard looks at the heap a few times a second and, once it has
 * grown `budgetBytes` past what the last full collection left, asks for one now (a full collection
 * of a heap of 15-30 MB takes 5-15 ms).
 *
 * It needs `gc`, which exists when the production V8 flags expose it (`--expose-gc`); without it
 * the guard does nothing.
 *
 * @example
 * ```ts
 * import { startHeapGuard } from "./heap_guard.ts";
 *
 * using _guard = startHeapGuard({ budgetBytes: 6 * 1024 * 1024 });
 * // ... the pass ...
 * ```
 *
 * @module
 */
import { getHeapStatistics } from "node:v8";

/** Options of {@linkcode startHeapGuard}. */
export interface HeapGuardOptions {
  /** Growth of the heap (objects and buffers) past the last full collection that triggers one. */
  budgetBytes: number;
  /** How often the heap is looked at, in milliseconds (default 100). */
  intervalMs?: number;
  /** The collector (default: V8's `gc`, when exposed). */
  collect?: () => void;
  /**
   * What is measured (default: V8's used heap). Not its external memory: buffers are V8's to
   * account, and counting them made a 256 MiB upload collect over and over for no memory saved.
   */
  measure?: () => number;
  /**
   * Told once when the heap, right after a full collection (or as measured, without `gc`), holds
   * more than `bytes`: what is live then is the work's own, and V8 ends the whole process with a
   * fatal out-of-memory error at its limit, every mirror of a module with it. The caller stops the
   * work that grew it, with an error that says so. When it returns a promise (it stopped other
   * work, which lets go of its memory as it ends), the guard looks at the ceiling again once that
   * has settled: what goes on may still be, or grow, past it.
   */
  ceiling?: { bytes: number; onReached: (usedBytes: number) => void | Promise<unknown> };
}

/** A running guard; dispose of it to stop it. */
export interface HeapGuard extends Disposable {
  /** Full collections the guard asked for. */
  readonly collections: number;
}

/** Starts the guard (its timer does not keep the process alive). */
export function startHeapGuard(options: HeapGuardOptions): HeapGuard {
  const collect = options.collect ?? (globalThis as { gc?: () => void }).gc;
  const measure = options.measure ?? _usedBytes;
  let collections = 0;
  let ceiling = options.ceiling;
  if (collect === undefined && ceiling === undefined) {
    return { collections, [Symbol.dispose]() {} };
  }
  let baseline = measure();
  let disposed = false;
  const timer = setInterval(() => {
    let used = measure();
    if (used - baseline < options.budgetBytes && !(ceiling !== undefined && used > ceiling.bytes)) {
      return;
    }
    if (collect !== undefined) {
      collect();
      collections++;
      used = measure();
    }
    baseline = used;
    if (ceiling !== undefined && used > ceiling.bytes) {
      const reached = ceiling;
      ceiling = undefined; // told once, until what it returned settles
      const stopped = reached.onReached(used);
      if (stopped instanceof Promise) {
        const rearm = () => {
          if (!disposed) ceiling = reached;
        };
        stopped.then(rearm, rearm);
      }
    }
  }, options.intervalMs ?? 100);
  Deno.unrefTimer(timer);
  return {
    get collections() {
      return collections;
    },
    [Symbol.dispose]() {
      disposed = true;
      clearInterval(timer);
    },
  };
}

/**
 * Asks V8 for a full collection now, when the production flags expose `gc` (`--expose-gc`); does
 * nothing otherwise. For the moments a stage has let go of much (a pass's end, a listing's end):
 * V8 frees the large-object space, where big arrays and the tables of grown maps live, only in a
 * full collection, and its own schedule may come after the next stage has added its peak on top.
 */
export function collectGarbageNow(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function _usedBytes(): number {
  return getHeapStatistics().used_heap_size;
}
