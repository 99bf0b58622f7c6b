/**
 * Free space booked before bytes are written: each download reserves its size (in blocks) against
 * what the file system had free less the `free_space_reserve_percent`, so files in flight together
 * cannot fill the disk.
 *
 * @module
 */
import type { FreeSpace } from "./free_space.ts";

/** The largest allocation unit a file is rounded up to (see `SpaceBudget.book`). */
const _MAX_BLOCK_BYTES = 64 * 1024;

/**
 * The budgets holding bookings in this process, by the device they book on: the module's
 * resources mirror in one process, and two mirrors on one disk each booked up to the reserve on
 * their own, together filling it (ENOSPC on the robot's card, 1.2 MiB left of a 3 MiB reserve).
 */
const _holdingByDevice = new Map<number, Set<SpaceBudget>>();
/**
 * Settled at the next release of any budget on the device: a budget refused while another's
 * downloads hold bookings waits for one of them (what they wrote is counted twice, on the disk
 * and booked, until they end), as it waits for its own; holding nothing itself, it gave up for the
 * pass (a resource's ten small files held back an hour by another's large download).
 */
const _releasedOnDevice = new Map<number, PromiseWithResolvers<void>>();

/** Options of {@linkcode SpaceBudget}. */
export interface SpaceBudgetOptions {
  /**
   * The device the bytes go to (the mirror root's `st_dev`): the bookings of the other budgets of
   * this process on it count against the reserve too. Absent: this budget's alone.
   */
  device?: number;
}

/** What {@linkcode SpaceBudget.book} granted, and why not more. */
export interface Booking {
  /** How many of the sizes, from the first, were booked. */
  granted: number;
  /** The file system as measured for this booking. */
  space: FreeSpace;
  /**
   * Bytes booked now (this booking's included) by downloads not yet on the disk, this process's
   * other mirrors' on the same device too.
   */
  booked: number;
  /** The bytes (in whole blocks) the first size refused would have taken; absent when none was. */
  refusedBytes?: number;
}

/**
 * The free-space reserve, held across every download in flight: each download books its size
 * before it starts ({@linkcode SpaceBudget.book}) and gives it back when it is placed or has failed
 * ({@linkcode SpaceBudget.release}). A booking is granted only when the space measured now, less
 * everything booked and not yet given back, less the new files, still leaves the reserve free.
 * Bytes already written by a download in flight are counted twice (on disk and booked), which errs
 * on the safe side; nothing is counted never. A file is booked by the blocks it takes (its size
 * rounded up to the file system's block, at most 64 KiB): 6,000 files of 200 bytes take 24 MB of a
 * tmpfs, not 1.2, and booked by their bytes they ran a 20 MiB one out of space (failed, instead of
 * held back).
 *
 * The original module checked each file alone, so eight downloads at once could each see room for
 * themselves and together fill the disk.
 *
 * @example
 * ```ts
 * const budget = new SpaceBudget(() => mirror.freeSpace(), 5);
 * if ((await budget.book([size])).granted === 1) {
 *   try { await download(); } finally { budget.release([size]); }
 * }
 * ```
 */
export class SpaceBudget {
  readonly #measure: () => Promise<FreeSpace>;
  readonly #reservePercent: number;
  #booked = 0;
  /** Settled by the next {@linkcode SpaceBudget.release}. */
  #released = Promise.withResolvers<void>();
  #lowest?: number;
  /** The block size measured (the same file system throughout). */
  #block = 1;
  readonly #device?: number;

  /**
   * @param measure Measures the file system now (statfs).
   * @param reservePercent The share of the file system to keep free, 0 to 100.
   */
  constructor(
    measure: () => Promise<FreeSpace>,
    reservePercent: number,
    options: SpaceBudgetOptions = {},
  ) {
    if (!Number.isFinite(reservePercent) || reservePercent < 0 || reservePercent > 100) {
      throw new RangeError(`reserve must be a percentage between 0 and 100, got ${reservePercent}`);
    }
    this.#measure = measure;
    this.#reservePercent = reservePercent;
    this.#device = options.device;
  }

  /**
   * Books the longest run of `sizes` (from the first) that leaves the reserve free, and resolves to
   * how many were granted (0 to `sizes.length`), with what a message about a refusal needs. A batch
   * of small files thus fills the disk up to the reserve, not one file past it.
   */
  async book(sizes: readonly number[]): Promise<Booking> {
    const space = await this.#measure();
    // Capped: NFS reports 1 MiB, ZFS its record size, yet both store a small file in far less.
    this.#block = Math.min(Math.max(1, space.blockBytes ?? 1), _MAX_BLOCK_BYTES);
    this.#lowest = Math.min(this.#lowest ?? space.availableBytes, space.availableBytes);
    const reserve = space.totalBytes * this.#reservePercent / 100;
    const others = this.#bookedByOthers();
    let room = space.availableBytes - this.#booked - others - reserve;
    let granted = 0;
    let refusedBytes: number | undefined;
    for (const size of sizes) {
      const taken = this.#blocksOf(size);
      if (taken > room) {
        refusedBytes = taken;
        break;
      }
      room -= taken;
      this.#booked += taken;
      granted++;
    }
    // Partly granted too: what it holds counts in the other budgets' sums (left out, a second
    // mirror on the disk booked the same room again and filled it).
    this.#holding(this.#booked > 0);
    const booked = this.#booked + others;
    return refusedBytes === undefined
      ? { granted, space, booked }
      : { granted, space, booked, refusedBytes };
  }

  /** Gives back files booked earlier, by their sizes as booked. */
  release(sizes: readonly number[]): void {
    let taken = 0;
    for (const size of sizes) taken += this.#blocksOf(size);
    this.#booked = Math.max(0, this.#booked - taken);
    this.#holding(this.#booked > 0);
    this.#wake();
  }

  /**
   * Gives back whatever is still booked (the pass has ended: nothing of it is in flight), so that
   * no booking outlives its pass in the other budgets' sums. Calling it again does nothing.
   */
  close(): void {
    const held = this.#booked > 0;
    this.#booked = 0;
    this.#holding(false);
    if (held) this.#wake();
  }

  /** Bytes booked and not given back yet. */
  get booked(): number {
    return this.#booked;
  }

  /**
   * Bytes booked and not given back yet by this budget and the others of this process on its
   * device: while any are, a refused booking may be granted once one is given back.
   */
  get bookedOnDevice(): number {
    return this.#booked + this.#bookedByOthers();
  }

  /**
   * Resolves at the next {@linkcode SpaceBudget.release} (of any budget on its device): a booking
   * refused while others are held may be granted then, since what a download in flight wrote is
   * counted twice until it ends.
   */
  released(): Promise<void> {
    if (this.#device === undefined) return this.#released.promise;
    let released = _releasedOnDevice.get(this.#device);
    if (released === undefined) {
      released = Promise.withResolvers<void>();
      _releasedOnDevice.set(this.#device, released);
    }
    return Promise.race([this.#released.promise, released.promise]);
  }

  /** Settles what waits for a release: this budget's own, and its device's. */
  #wake(): void {
    const released = this.#released;
    this.#released = Promise.withResolvers();
    released.resolve();
    if (this.#device === undefined) return;
    const onDevice = _releasedOnDevice.get(this.#device);
    _releasedOnDevice.delete(this.#device);
    onDevice?.resolve();
  }

  /** The least free space measured so far, in bytes (for reports). */
  get lowestFreeBytes(): number | undefined {
    return this.#lowest;
  }

  /** What the other budgets of this process booked on this one's device, not given back yet. */
  #bookedByOthers(): number {
    let booked = 0;
    if (this.#device === undefined) return booked;
    for (const other of _holdingByDevice.get(this.#device) ?? []) {
      if (other !== this) booked += other.booked;
    }
    return booked;
  }

  /** Enters or leaves the budgets holding bookings on its device. */
  #holding(holds: boolean): void {
    if (this.#device === undefined) return;
    const holding = _holdingByDevice.get(this.#device);
    if (holds) {
      if (holding === undefined) _holdingByDevice.set(this.#device, new Set([this]));
      else holding.add(this);
    } else if (holding?.delete(this) && holding.size === 0) {
      _holdingByDevice.delete(this.#device);
    }
  }

  /** `size` bytes rounded up to whole blocks. */
  #blocksOf(size: number): number {
    return Math.ceil(size / this.#block) * this.#block;
  }
}
