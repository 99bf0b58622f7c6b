/**
 * The module's running mirrors by full resource name, changed one at a time so an old loop always
 * stops before its replacement starts.
 *
 * @module
 */
import type { MirrorController } from "../mirror_controller.ts";

/**
 * A replacement ({@linkcode ResourceTable.put} with `replaceOnly`) found nothing to replace: the
 * resource was removed (or failed to start again) while the new configuration waited its turn.
 */
export class ResourceNotRunningError extends Error {
  constructor(readonly fullName: string) {
    super(`${fullName} is not running`);
    this.name = "ResourceNotRunningError";
  }
}

/** Options of {@linkcode ResourceTable.put}. */
export interface PutOptions {
  /**
   * Only replace a running controller (a reconfiguration): when there is none by the time the
   * change runs, reject with {@linkcode ResourceNotRunningError} and start nothing, or a removal
   * that overtook the reconfiguration would be undone by it.
   */
  replaceOnly?: boolean;
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
   * a working mirror), after {@linkcode ResourceTable.stopAll}, and with `replaceOnly` when there
   * is nothing to replace.
   */
  put(
    fullName: string,
    create: () => MirrorController | Promise<MirrorController>,
    options?: PutOptions,
  ): Promise<boolean> {
    return this.#serialize(fullName, async () => {
      if (this.#closed) throw new Error(`the module is shutting down: ${fullName} was not started`);
      const previous = this.#controllers.get(fullName);
      if (options?.replaceOnly && previous === undefined) {
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

  /** Stops (and awaits) the resource `fullName`. Resolves false when it was not running. */
  remove(fullName: string): Promise<boolean> {
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
