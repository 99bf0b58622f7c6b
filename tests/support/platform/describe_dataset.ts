/**
 * Builders for the local data platform's data set: a compact description (groups of generated
 * items) turns into plain {@linkcode ItemRecord}s. Everything is deterministic: the same
 * description gives the same ids, names, sizes, times and content.
 *
 * @example
 * ```ts
 * const dataset = describeDataset([
 *   { name: "cams", count: 200, folder: (i) => `cams/${i % 3}`, tags: ["demo"] },
 *   { name: "raw", count: 20, naming: "unnamed", sizeBytes: 2 * 1024 * 1024 },
 *   { name: "evil", count: 8, naming: "hostile" },
 * ]);
 * ```
 *
 * @module
 */

import mime from "mime-types";
import type { DatasetRecord, ItemRecord, PlatformDataset } from "./item_record.ts";

/** A value that is the same for every item of a group, or a function of the item's index. */
export type Varying<T> = T | ((index: number) => T);

/**
 * How a generated item's `file_name` looks:
 * - `named`: relative, in the group's folder: `folder/stem.ext`;
 * - `unnamed`: empty (as for captured images), `file_ext` still set;
 * - `absolute`: the source path of an `additional_sync_paths` upload: `/home/pi/captures/stem.ext`;
 * - `no-extension`: the stem only (Python SDK uploads), the extension only in `file_ext`;
 * - `hostile`: one of {@linkcode HOSTILE_NAME_COUNT} escaping/invalid forms, cycled by index
 *   (`../../etc/stem`, `a/../../stem.ext`, `/../../stem.ext`, `..\..\stem.ext`, a NUL inside,
 *   a 300-character name, `..`, `./stem/../../..`).
 */
export type NamingStyle = "named" | "unnamed" | "absolute" | "no-extension" | "hostile";

/** The hostile `file_name` forms, from the stem and the extension. */
const _HOSTILE_FORMS: readonly ((stem: string, ext: string) => string)[] = [
  (stem) => `../../etc/${stem}`,
  (stem, ext) => `a/../../${stem}${ext}`,
  (stem, ext) => `/../../${stem}${ext}`,
  (stem, ext) => `..\\..\\${stem}${ext}`,
  (stem, ext) => `${stem}\u0000${ext}`,
  (stem, ext) => `${"x".repeat(300)}-${stem}${ext}`,
  () => "..",
  (stem) => `./${stem}/../../..`,
];

/** How many distinct hostile name forms `naming: "hostile"` cycles through. */
export const HOSTILE_NAME_COUNT: number = _HOSTILE_FORMS.length;

/** A group of generated items; every field but `count` has a default. */
export interface ItemGroup {
  /** How many items. */
  count: number;
  /**
   * The group's name: file ids are `<name>-<index, 6 digits>`, so keep it when replacing a data set
   * to keep the ids. Defaults to `g<group index>`; must be unique among groups.
   */
  name?: string;
  /** The file name style; defaults to `named`. */
  naming?: Varying<NamingStyle>;
  /** An explicit `file_name`, overriding `naming`. */
  fileName?: Varying<string>;
  /** The folder of `named` items; defaults to the group's name. */
  folder?: Varying<string>;
  /** `file_ext`; defaults to the MIME type's (`.jpeg`, `.png`, `.bin`, ...). */
  fileExt?: Varying<string>;
  /** `capture_metadata.mime_type`; defaults to `image/jpeg`. */
  mimeType?: Varying<string>;
  /** Content size in bytes; defaults to a spread between 1,000 and 9,999 by index. */
  sizeBytes?: Varying<number>;
  /** Capture tags; defaults to none. */
  tags?: Varying<readonly string[]>;
  /** Bounding-box labels; defaults to none. */
  bboxLabels?: Varying<readonly string[]>;
  /** The confidence of every bounding box of an item; defaults to none sent. */
  bboxConfidence?: Varying<number | undefined>;
  /** Classification labels; defaults to none. */
  classificationLabels?: Varying<readonly string[]>;
  /** Dataset ids the item belongs to; defaults to none. */
  datasetIds?: Varying<readonly string[]>;
  /** Whether the deprecated `metadata.id` is filled; defaults to all but every fifth item. */
  legacyId?: Varying<boolean>;
  /** Content revision; change it to change the bytes under the same id. Defaults to 0. */
  revision?: Varying<number>;
}

/** Options of {@linkcode describeDataset}. */
export interface DescribeOptions {
  /** Organization of every item; defaults to {@linkcode DEFAULT_ORGANIZATION_ID}. */
  organizationId?: string;
  /** Location of every item; defaults to {@linkcode DEFAULT_LOCATION_ID}. */
  locationId?: string;
  /** `time_requested` of the first item; the next ones follow one second apart. */
  startTimeMs?: number;
  /**
   * Datasets, with their names. A dataset id that items name but this list lacks is added with
   * its id as name; a dataset listed here but named by no item exists and is empty.
   */
  datasets?: readonly Pick<DatasetRecord, "id" | "name">[];
}

/** The organization id generated items belong to unless told otherwise. */
export const DEFAULT_ORGANIZATION_ID = "2b1f6c1e-7d4a-4c2e-9d0b-5a6f3e8c1d20";
/** The location id generated items belong to unless told otherwise. */
export const DEFAULT_LOCATION_ID = "x5vur1fmps";
/** The default `startTimeMs`: 2025-01-01T00:00:00Z. */
export const DEFAULT_START_TIME_MS = Date.UTC(2025, 0, 1);

/** Builds a data set from groups of generated items. */
export function describeDataset(
  groups: readonly ItemGroup[],
  options: DescribeOptions = {},
): PlatformDataset {
  const organizationId = options.organizationId ?? DEFAULT_ORGANIZATION_ID;
  const locationId = options.locationId ?? DEFAULT_LOCATION_ID;
  const startTimeMs = options.startTimeMs ?? DEFAULT_START_TIME_MS;
  const items: ItemRecord[] = [];
  const names = new Set<string>();
  groups.forEach((group, groupIndex) => {
    const name = group.name ?? `g${groupIndex}`;
    if (names.has(name)) throw new Error(`describeDataset: group name "${name}" is used twice`);
    if (!Number.isSafeInteger(group.count) || group.count < 0) {
      throw new RangeError(
        `describeDataset: group "${name}" count must be >= 0, got ${group.count}`,
      );
    }
    names.add(name);
    for (let index = 0; index < group.count; index++) {
      const timeRequestedMs = startTimeMs + items.length * 1000;
      items.push(_item(group, name, index, { organizationId, locationId, timeRequestedMs }));
    }
  });
  return { items, datasets: _datasets(items, options, organizationId, startTimeMs) };
}

interface _Placement {
  organizationId: string;
  locationId: string;
  timeRequestedMs: number;
}

function _item(group: ItemGroup, name: string, index: number, at: _Placement): ItemRecord {
  const fileId = `${name}-${String(index).padStart(6, "0")}`;
  const mimeType = _pick(group.mimeType, index) ?? "image/jpeg";
  const fileExt = _pick(group.fileExt, index) ?? _extensionOf(mimeType);
  const sizeBytes = _pick(group.sizeBytes, index) ?? 1000 + (index * 7919) % 9000;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new RangeError(`describeDataset: size of ${fileId} must be >= 0, got ${sizeBytes}`);
  }
  const confidence = _pick(group.bboxConfidence, index);
  const fileName = _pick(group.fileName, index) ??
    _fileName(_pick(group.naming, index) ?? "named", {
      stem: fileId,
      ext: fileExt,
      folder: _pick(group.folder, index) ?? name,
      index,
    });
  return {
    binaryDataId: `${at.organizationId}/${at.locationId}/${fileId}`,
    organizationId: at.organizationId,
    locationId: at.locationId,
    fileId,
    legacyId: (_pick(group.legacyId, index) ?? index % 5 !== 4) ? fileId : "",
    fileName,
    fileExt,
    mimeType,
    tags: _pick(group.tags, index) ?? [],
    bboxLabels: _pick(group.bboxLabels, index) ?? [],
    ...(confidence === undefined ? {} : { bboxConfidence: confidence }),
    classificationLabels: _pick(group.classificationLabels, index) ?? [],
    datasetIds: _pick(group.datasetIds, index) ?? [],
    sizeBytes,
    timeRequestedMs: at.timeRequestedMs,
    timeReceivedMs: at.timeRequestedMs + 250,
    revision: _pick(group.revision, index) ?? 0,
  };
}

function _pick<T>(value: Varying<T> | undefined, index: number): T | undefined {
  return typeof value === "function" ? (value as (index: number) => T)(index) : value;
}

/** `.jpeg` for JPEG (Viam's captures use it), else the common extension of the type, else none. */
function _extensionOf(mimeType: string): string {
  if (mimeType === "image/jpeg") return ".jpeg";
  const ext = mime.extension(mimeType);
  return ext ? `.${ext}` : "";
}

interface _NameParts {
  stem: string;
  ext: string;
  folder: string;
  index: number;
}

function _fileName(style: NamingStyle, parts: _NameParts): string {
  const { stem, ext, folder, index } = parts;
  switch (style) {
    case "named":
      return folder === "" ? `${stem}${ext}` : `${folder}/${stem}${ext}`;
    case "unnamed":
      return "";
    case "absolute":
      return `/home/pi/captures/${stem}${ext}`;
    case "no-extension":
      return stem;
    case "hostile":
      return _HOSTILE_FORMS[index % _HOSTILE_FORMS.length](stem, ext);
  }
}

function _datasets(
  items: readonly ItemRecord[],
  options: DescribeOptions,
  organizationId: string,
  timeCreatedMs: number,
): DatasetRecord[] {
  const byId = new Map<string, DatasetRecord>();
  for (const { id, name } of options.datasets ?? []) {
    byId.set(id, { id, name, organizationId, timeCreatedMs });
  }
  for (const item of items) {
    for (const id of item.datasetIds) {
      if (!byId.has(id)) byId.set(id, { id, name: id, organizationId, timeCreatedMs });
    }
  }
  return [...byId.values()];
}
