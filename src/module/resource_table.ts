/**
 * The module's running mirrors by full resource name, changed one at a time so an old loop always
 * stops before its replacement starts.
 *
 * @module
 */
import type { MirrorController } from "../mirror_controller.ts";

/**
 * A replacement ({@linkcode ResourceTable.put} with `replaces`) found nothing to replace, or not the
 * resource it was meant for: it was removed (and perhaps added again, or failed to start again)
 * while the new configuration waited its turn.
 */
export class ResourceNotRunningError extends Error {
  constructor(readonly fullName: string) {
    super(`${fullName} is not running`);
    this.name = "ResourceNotRunningError";
  }
}

/**
 * What a reconfiguration saw of its resource when it came ({@linkcode ResourceTable.ticket}): it
 * replaces that resource only, not one added again after a removal.
 */
export interface ReplaceTicket {
  /** How many removals of the name had been asked for by then. */
  readonly removals: number;
}

/** Options of {@linkcode ResourceTable.put}. */
export interface PutOptions {
  /**
   * Only replace the running controller the ticket was taken of (a reconfiguration): when there is
   * none by the time the change runs, or the name was removed since the ticket (and perhaps added
   * again), reject with {@linkcode ResourceNotRunningError} and start nothing; a removal (and an
   * addition) that overtook the reconfiguration would be undone by it.
   */
  replaces?: ReplaceTicket;
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
  /** Removals asked for, by full name (see {@linkcode ReplaceTicket}). */
  readonly #removals = new Map<string, number>();
  #closed = false;

  /** The controller of the resource `name` (short) under `api`, if it runs. */
  get(api: string, name: string): MirrorController | undefined {
    return this.#controllers.get(`${api}/${name}`);
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
   * a working mirror), after {@linkcode ResourceTable.stopAll}, and with `replaces` when what it
   * was to replace is gone.
   */
  put(
    fullName: string,
    create: () => MirrorController | Promise<MirrorController>,
    options?: PutOptions,
  ): Promise<boolean> {
    return this.#serialize(fullName, async () => {
      if (this.#closed) throw new Error(`the module is shutting down: ${fullName} was not started`);
      const previous = this.#controllers.get(fullName);
      const { replaces } = options ?? {};
      if (
        replaces !== undefined &&
        (previous === undefined || replaces.removals !== (this.#removals.get(fullName) ?? 0))
      ) {
        throw new ResourceNotRunningError(fullName);
      }
      const remake = this.#makers.get(fullName);
      if (previous !== undefined) this.#replacing.add(fullName);
      this.#controllers.delete(fullName);
      this.#makers.delete(fullName);
      try {
        await previous?.stop();
        this.#run(fullName, await create(), create);
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

  #run(
    fullName: string,
    controller: MirrorController,
    create: () => MirrorController | Promise<MirrorController>,
  ): void {
    this.#controllers.set(fullName, controller);
    this.#makers.set(fullName, create);
  }

  /** The ticket of a reconfiguration of `fullName` coming now (see {@linkcode PutOptions}). */
  ticket(fullName: string): ReplaceTicket {
    return { removals: this.#removals.get(fullName) ?? 0 };
  }

  /** Stops (and awaits) the resource `fullName`. Resolves false when it was not running. */
  remove(fullName: string): Promise<boolean> {
    // Counted when asked, before its turn: a reconfiguration that came before it then finds it.
    this.#removals.set(fullName, (this.#removals.get(fullName) ?? 0) + 1);
    return this.#serialize(fullName, async () => {
      const controller = this.#controllers.get(fullName);
      // Gone from the table at once: calls arriving while it stops get NOT_FOUND.
      this.#controllers.delete(fullName);
      this.#makers.delete(fullName);
      await controller?.stop();
      return controller !== undefined;
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
      if (this.#changes.get(fullName) === settled) this.#changes.delete(fullName);
    });
    return next;
  }
}
