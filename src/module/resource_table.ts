/**
 * The module's running mirrors by full resource name, changed one at a time so an old loop always
 * stops before its replacement starts.
 *
 * @module
 */
import type { MirrorController } from "../mirror_controller.ts";

/**
 * A reconfiguration ({@linkcode ResourceTable.put} with `reconfigure`) found nothing to replace, or
 * not the resource it was meant for: it was removed (and perhaps added again, or failed to start
 * again) while the new configuration was being checked, or is being removed.
 */
export class ResourceNotRunningError extends Error {
  constructor(readonly fullName: string) {
    super(`${fullName} is not running`);
    this.name = "ResourceNotRunningError";
  }
}

/**
 * An addition found, when its turn came, that its resource was removed after it came (while it
 * was being checked): the removal, asked for later, wins, and nothing is started.
 */
export class ResourceRemovedError extends Error {
  constructor(readonly fullName: string) {
    super(`${fullName} was removed while this configuration was checked`);
    this.name = "ResourceRemovedError";
  }
}

/** A configuration found, when its turn came, that one sent after it was already applied. */
export class ConfigSupersededError extends Error {
  constructor(readonly fullName: string) {
    super(`a configuration of ${fullName} sent after this one was applied first`);
    this.name = "ConfigSupersededError";
  }
}

/**
 * What a configuration (an addition or a reconfiguration) saw of its resource when it came
 * ({@linkcode ResourceTable.ticket}): its checks take a while, and the changes it is applied after
 * are only those that came before it.
 */
export interface ConfigTicket {
  /** The resource it configures. */
  readonly fullName: string;
  /** Its place among the configurations of the name, in the order they came. */
  readonly arrival: number;
  /** How many removals of the name were asked for by then (done, or waiting their turn). */
  readonly removals: number;
}

/** Options of {@linkcode ResourceTable.put}. */
export interface PutOptions {
  /**
   * When the configuration came: a configuration sent after it and applied first wins, and this
   * one is refused ({@linkcode ConfigSupersededError}).
   */
  ticket?: ConfigTicket;
  /**
   * It replaces the running controller (a reconfiguration): when there is none by the time the
   * change runs, or a removal was asked for while it was checked (after its ticket, perhaps with an
   * addition), it is refused ({@linkcode ResourceNotRunningError}) and starts nothing: a removal
   * (and an addition) that overtook the reconfiguration would be undone by it. An addition during
   * whose check a removal was asked for is refused too ({@linkcode ResourceRemovedError}).
   */
  reconfigure?: boolean;
  /**
   * Throws when the new configuration cannot start beside the other resources (its folders
   * overlapping another's): run in its turn before the running controller is stopped, whose pass
   * then goes on untouched (a refused reconfiguration cut it off and started the old configuration
   * again, before 2026-12-07).
   */
  precheck?: () => void | Promise<void>;
}

/**
 * The module's running mirrors, keyed by full resource name (`rdk:service:generic/mirror1`): a
 * service and a component may share a short name. Changes to one resource run one after another, so
 * an old controller is always stopped before its replacement starts and two loops never share a mirror.
 */
export class ResourceTable {
  readonly #controllers = new Map<string, MirrorController>();
  /** How each running controller was made: a failed replacement starts it again. */
  readonly #makers = new Map<string, () => MirrorController | Promise<MirrorController>>();
  readonly #changes = new Map<string, Promise<unknown>>();
  /** Full names whose controller is being replaced: stopped, not yet running again. */
  readonly #replacing = new Set<string>();
  /** Removals done, and those asked for and not done yet, by full name (see `ConfigTicket`). */
  readonly #removalsDone = new Map<string, number>();
  readonly #removalsPending = new Map<string, number>();
  /** Configurations that came, and the arrival of the one applied last, by full name. */
  readonly #arrivals = new Map<string, number>();
  readonly #applied = new Map<string, number>();
  /**
   * Tickets given and not yet handed to `put` or released: their configurations are being checked,
   * and a removal coming meanwhile cancels them.
   */
  readonly #inCheck = new Set<ConfigTicket>();
  #closed = false;

  /** The controller of the resource `name` (short) under `api`, if it runs. */
  get(api: string, name: string): MirrorController | undefined {
    return this.#controllers.get(`${api}/${name}`);
  }

  /** True while a removal of the resource `name` under `api` has been asked for and is not done. */
  isBeingRemoved(api: string, name: string): boolean {
    return (this.#removalsPending.get(`${api}/${name}`) ?? 0) > 0;
  }

  /**
   * True while the resource `name` under `api` is being replaced (reconfigured): it has no
   * controller for that while, yet it exists, and a call to it is cut off, not told it is unknown.
   */
  isReplacing(api: string, name: string): boolean {
    return this.#replacing.has(`${api}/${name}`);
  }

  /** Full names of the running resources. */
  names(): string[] {
    return [...this.#controllers.keys()];
  }

  /**
   * Runs the resource `fullName` with the controller `create` returns, stopping (and awaiting) the one
   * it replaces first. Resolves true when one was replaced. Rejects when `create` throws (a
   * replaced resource then runs on as it was: a reconfiguration that cannot start does not remove
   * a working mirror), after {@linkcode ResourceTable.stopAll}, and as {@linkcode PutOptions}
   * says.
   */
  put(
    fullName: string,
    create: () => MirrorController | Promise<MirrorController>,
    options?: PutOptions,
  ): Promise<boolean> {
    const { ticket, reconfigure, precheck } = options ?? {};
    // A removal asked for while this configuration was checked (after its ticket, before now) was
    // asked for after it, and wins. One asked for before its ticket came first, even if it still
    // waits its turn: an addition after it runs (a reconfiguration then finds nothing to replace).
    const removedDuringCheck = ticket !== undefined &&
      ticket.removals !== this.#removalsAsked(fullName);
    if (ticket !== undefined) this.#inCheck.delete(ticket); // checked: a removal now comes after it
    return this.#serialize(fullName, async () => {
      this.#refuseIfClosed(fullName);
      const previous = this.#controllers.get(fullName);
      if (reconfigure && (previous === undefined || removedDuringCheck)) {
        throw new ResourceNotRunningError(fullName);
      }
      if (removedDuringCheck) throw new ResourceRemovedError(fullName);
      if (ticket !== undefined && ticket.arrival < (this.#applied.get(fullName) ?? 0)) {
        throw new ConfigSupersededError(fullName);
      }
      await precheck?.();
      const remake = this.#makers.get(fullName);
      if (previous !== undefined) this.#replacing.add(fullName);
      this.#controllers.delete(fullName);
      this.#makers.delete(fullName);
      try {
        await previous?.stop();
        // Closed while the old one stopped: nothing new starts (stopAll has taken the old one).
        this.#refuseIfClosed(fullName);
        this.#run(fullName, await create(), create);
        if (ticket !== undefined) this.#applied.set(fullName, ticket.arrival);
      } catch (error) {
        if (remake !== undefined && !this.#closed) {
          // Its own failure is not the caller's: the error that matters is the new config's.
          await Promise.resolve().then(remake).then(
            (controller) => this.#run(fullName, controller, remake),
            () => {},
          );
        }
        throw error;
      } finally {
        this.#replacing.delete(fullName);
      }
      return previous !== undefined;
    });
  }

  #refuseIfClosed(fullName: string): void {
    if (this.#closed) throw new Error(`the module is shutting down: ${fullName} was not started`);
  }

  #run(
    fullName: string,
    controller: MirrorController,
    create: () => MirrorController | Promise<MirrorController>,
  ): void {
    this.#controllers.set(fullName, controller);
    this.#makers.set(fullName, create);
  }

  /**
   * The ticket of a configuration of `fullName` coming now (see {@linkcode PutOptions}), to be
   * handed to `put` once it is checked, or released when it will not be.
   */
  ticket(fullName: string): ConfigTicket {
    const arrival = (this.#arrivals.get(fullName) ?? 0) + 1;
    this.#arrivals.set(fullName, arrival);
    const ticket = { fullName, arrival, removals: this.#removalsAsked(fullName) };
    this.#inCheck.add(ticket);
    return ticket;
  }

  /** How many removals of `fullName` were asked for: done, or waiting their turn. */
  #removalsAsked(fullName: string): number {
    return (this.#removalsDone.get(fullName) ?? 0) + (this.#removalsPending.get(fullName) ?? 0);
  }

  /** The configuration of `ticket` will not be applied (its check failed). */
  release(ticket: ConfigTicket): void {
    this.#inCheck.delete(ticket);
    this.#forgetIfIdle(ticket.fullName);
  }

  /**
   * Stops (and awaits) the resource `fullName`. Resolves false when it was neither running nor
   * being configured: a configuration still being checked is cancelled by it (see `put`).
   */
  remove(fullName: string): Promise<boolean> {
    _bump(this.#removalsPending, fullName, 1);
    const cancels = [...this.#inCheck].some((ticket) => ticket.fullName === fullName);
    return this.#serialize(fullName, async () => {
      const controller = this.#controllers.get(fullName);
      // Gone from the table at once: calls arriving while it stops get NOT_FOUND.
      this.#controllers.delete(fullName);
      this.#makers.delete(fullName);
      // Done in its turn: a reconfiguration that came before it (and is applied before it) stands.
      _bump(this.#removalsDone, fullName, 1);
      _bump(this.#removalsPending, fullName, -1);
      await controller?.stop();
      return controller !== undefined || cancels;
    });
  }

  /** Stops every resource at once and refuses new ones. Resolves when every stop has settled. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    const stops = [...this.#controllers.values()].map((controller) => controller.stop());
    this.#controllers.clear();
    this.#makers.clear();
    await Promise.allSettled([...stops, ...this.#changes.values()]);
    // A change already under way when closing began may have started a controller since.
    const late = [...this.#controllers.values()];
    this.#controllers.clear();
    await Promise.allSettled(late.map((controller) => controller.stop()));
  }

  #serialize<T>(fullName: string, change: () => Promise<T>): Promise<T> {
    const previous = this.#changes.get(fullName) ?? Promise.resolve();
    const next = previous.then(change, change);
    const settled = next.catch(() => undefined);
    this.#changes.set(fullName, settled);
    // Forget the chain once it is idle so the map does not grow with every name ever used.
    settled.then(() => {
      if (this.#changes.get(fullName) !== settled) return;
      this.#changes.delete(fullName);
      this.#forgetIfIdle(fullName);
    });
    return next;
  }

  /**
   * Drops the order records of `fullName` once nothing of it runs, changes or is being checked:
   * every later ticket starts afresh, and a module that adds and removes many names keeps none of
   * them.
   */
  #forgetIfIdle(fullName: string): void {
    if (this.#controllers.has(fullName) || this.#changes.has(fullName)) return;
    if ((this.#removalsPending.get(fullName) ?? 0) > 0) return;
    if ([...this.#inCheck].some((ticket) => ticket.fullName === fullName)) return;
    for (
      const records of [this.#arrivals, this.#applied, this.#removalsDone, this.#removalsPending]
    ) {
      records.delete(fullName);
    }
  }
}

function _bump(counts: Map<string, number>, key: string, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}
