/**
 * The benchmark's data sets, as compact JSON-able descriptions that every process (the bench, the
 * local data platform, the directory-index server) turns into the very same items, so data-mirror
 * and rclone copy the same bytes.
 *
 * @example
 * ```ts
 * const set = mainSet({ quick: true });
 * const base = datasetOf(set, "base"); // what the fresh and no-op passes copy
 * const churned = datasetOf(set, "churn"); // 10% removed, 10% added
 * ```
 *
 * @module
 */

import {
  describeDataset,
  type ItemGroup,
  type ItemRecord,
  type PlatformDataset,
} from "../../tests/support/platform/mod.ts";

/** The capture tag every benchmark item carries: data-mirror's filter is `--tags bench`. */
export const BENCH_TAG = "bench";

/** A benchmark data set: small files in folders, plus large ones (streamed by uri). */
export interface BenchSet {
  /** A short name, used in case names (`main`, `scale`). */
  name: string;
  /** How many small files. */
  smallCount: number;
  /** Bytes per small file. */
  smallBytes: number;
  /** How many folders the small files are spread over. */
  folders: number;
  /** How many large files (above the platform's 1 MiB inline limit: fetched by uri). */
  largeCount: number;
  /** Bytes per large file. */
  largeBytes: number;
}

/** Which state of a set is served: as first copied, or after the churn (10% removed, 10% added). */
export type SetVariant = "base" | "churn";

const _KIB = 1024;
const _MIB = 1024 * 1024;

/** "10,000 files of 32 KiB in 100 folders + 20 files of 8 MiB" (495 MB); `quick`: a tenth. */
export function mainSet(options: { quick: boolean }): BenchSet {
  return options.quick
    ? {
      name: "main",
      smallCount: 1_000,
      smallBytes: 32 * _KIB,
      folders: 10,
      largeCount: 2,
      largeBytes: 8 * _MIB,
    }
    : {
      name: "main",
      smallCount: 10_000,
      smallBytes: 32 * _KIB,
      folders: 100,
      largeCount: 20,
      largeBytes: 8 * _MIB,
    };
}

/** "100,000 files of 1 KiB" in 100 folders; `quick`: 5,000 in 10 folders. */
export function scaleSet(options: { quick: boolean }): BenchSet {
  return {
    name: "scale",
    smallCount: options.quick ? 5_000 : 100_000,
    smallBytes: _KIB,
    folders: options.quick ? 10 : 100,
    largeCount: 0,
    largeBytes: 0,
  };
}

/** One file of 1 GiB, streamed by uri (peak memory of a large download); `quick`: 256 MiB. */
export function largeSet(options: { quick: boolean }): BenchSet {
  return {
    name: "large",
    smallCount: 0,
    smallBytes: 0,
    folders: 1,
    largeCount: 1,
    largeBytes: (options.quick ? 256 : 1024) * _MIB,
  };
}

/**
 * The items of a set. `churn` drops every tenth small file and adds as many new ones (another
 * group, so new ids and names) spread over the same folders; the large files stay.
 *
 * Each variant is built once per process, and the churn variant holds the base variant's own item
 * objects for the files they share. The local data platform keeps each item's encoded metadata per
 * item object, so switching variants re-encodes only the added items, as a real platform encodes
 * only what is new: without the reuse, every switch made the platform encode all 10,000 items
 * again during the timed pass (2.6 s of its CPU in a churn pass, against 1.3 s for the
 * directory-index server), on the cores the program under test needs.
 */
export function datasetOf(set: BenchSet, variant: SetVariant): PlatformDataset {
  const key = JSON.stringify(set);
  let variants = _built.get(key);
  if (variants === undefined) {
    variants = new Map();
    _built.set(key, variants);
  }
  let dataset = variants.get(variant);
  if (dataset === undefined) {
    dataset = variant === "base" ? _describe(set, variant) : _churnOf(set, datasetOf(set, "base"));
    variants.set(variant, dataset);
  }
  return dataset;
}

const _built = new Map<string, Map<SetVariant, PlatformDataset>>();

function _churnOf(set: BenchSet, base: PlatformDataset): PlatformDataset {
  const baseById = new Map(base.items.map((item) => [item.binaryDataId, item]));
  const dropped = (item: ItemRecord) =>
    item.fileId.startsWith("small-") && Number(item.fileId.slice("small-".length)) % 10 === 0;
  const churned = _describe(set, "churn");
  return {
    ...churned,
    items: churned.items
      .filter((item) => !dropped(item))
      .map((item) => baseById.get(item.binaryDataId) ?? item),
  };
}

function _describe(set: BenchSet, variant: SetVariant): PlatformDataset {
  const perFolder = Math.ceil(set.smallCount / set.folders);
  const folder = (i: number) => `d${String(Math.floor(i / perFolder)).padStart(3, "0")}`;
  const groups: ItemGroup[] = [
    {
      name: "small",
      count: set.smallCount,
      folder,
      sizeBytes: set.smallBytes,
      tags: [BENCH_TAG],
    },
    {
      name: "large",
      count: set.largeCount,
      folder: "large",
      mimeType: "application/octet-stream",
      sizeBytes: set.largeBytes,
      tags: [BENCH_TAG],
    },
  ];
  if (variant === "churn") {
    groups.push({
      name: "added",
      count: Math.floor(set.smallCount / 10),
      // Spread like the dropped ones: one new file per ten old ones, in the same folder.
      folder: (i) => folder(i * 10),
      sizeBytes: set.smallBytes,
      tags: [BENCH_TAG],
    });
  }
  return describeDataset(groups);
}

/** The path an item has in a correct copy, relative to the mirror root (every bench item is named). */
export function relativePathOf(item: ItemRecord): string {
  return item.fileName;
}

/** Files and bytes of a data set. */
export function totalsOf(dataset: PlatformDataset): { files: number; bytes: number } {
  let bytes = 0;
  for (const item of dataset.items) bytes += item.sizeBytes;
  return { files: dataset.items.length, bytes };
}
