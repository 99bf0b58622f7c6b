/**
 * Runs of a task one at a time, where every request made while one runs is served by one more run
 * that starts after it: a group commit. A caller always waits for a run that started after its
 * request, so what it did before asking is covered, and a burst of requests costs two runs, not
 * one each. The push journal's appends and the mirror's file-system syncs are written this way.
 *
 * @example
 * ```ts
 * const syncs = new CoalescedRuns();
 * await syncs.request(() => syncEverything()); // shares a run with whoever asks meanwhile
 * ```
 *
 * @module
 */

/** One run at a time; requests made during a run share the next one. */
export class CoalescedRuns {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  /**
   * Resolves (or rejects) with a run that starts after this call: now when nothing runs, else the
   * next one, shared by every request made until it starts. The next run is of the `task` of the
   * request that queued it; it starts whether the one before succeeded or failed.
   */
  request(task: () => Promise<void>): Promise<void> {
    if (this.#next !== undefined) return this.#next; // not started yet: it starts after this call
    if (this.#running === undefined) return this.#start(task);
    this.#next = this.#running.catch(() => {}).then(() => {
      this.#next = undefined;
      return this.#start(task);
    });
    return this.#next;
  }

  /** The run going on now, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** Resolves once no run goes on or waits (whether they succeeded or not). */
  async idle(): Promise<void> {
    while (this.#running !== undefined || this.#next !== undefined) {
      await (this.#next ?? this.#running)!.catch(() => {});
    }
  }

  #start(task: () => Promise<void>): Promise<void> {
    const run = task().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}
