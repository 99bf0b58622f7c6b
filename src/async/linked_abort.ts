/**
 * An abort controller that follows a caller's signal: aborted when the caller's is (with its
 * reason), also when the caller's was already aborted before it was made (an `abort` listener
 * would never hear that), and abortable on its own (a timeout, a failure of a stage's own). Dispose
 * of it to let go of the caller's signal, whose listener would otherwise keep it, and all it
 * reaches, alive as long as the caller's signal lives (a mirror loop's lives for every pass).
 *
 * @example
 * ```ts
 * using stop = new LinkedAbort(options.signal);
 * const timer = setTimeout(() => stop.abort(new Error("timed out")), 60_000);
 * await fetch(url, { signal: stop.signal });
 * ```
 *
 * @module
 */
export class LinkedAbort implements Disposable {
  readonly #controller = new AbortController();
  readonly #parent?: AbortSignal;
  readonly #follow = () => this.#controller.abort(this.#parent?.reason);

  /** Follows `parent` (when given) from now on, or is aborted at once if it already is. */
  constructor(parent?: AbortSignal) {
    this.#parent = parent;
    if (parent?.aborted) this.#follow();
    else parent?.addEventListener("abort", this.#follow, { once: true });
  }

  /** Aborted with the caller's reason, or with the reason given to {@linkcode abort}. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Aborts on its own (the caller's signal is left alone); a second abort changes nothing. */
  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  /** Stops following the caller's signal. */
  [Symbol.dispose](): void {
    this.#parent?.removeEventListener("abort", this.#follow);
  }
}
