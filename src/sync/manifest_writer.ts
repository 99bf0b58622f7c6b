/**
 * The mirror's manifest: `<mirror>/.data-mirror/manifest.jsonl`, one JSON line per file the mirror
 * holds for the current filter, with what the platform says about it (tags, bounding boxes,
 * datasets, time requested), so that edge applications know what each file is without calling the
 * cloud.
 *
 * Memory stays flat whatever the listing's size: the listing index keeps only a compact form of
 * each item, so each page's manifest fields are appended to a pending file in the state folder as
 * the page arrives, and after a complete pass that file is streamed once into the new manifest,
 * keeping the lines of the items that won their path and are present in the mirror.
 *
 * The manifest is replaced atomically (fresh temporary file, fsync, rename over the old one, fsync
 * of the folder): a reader sees the old manifest or the new one, never a half-written one, even
 * after a power loss. No name in the state folder is ever written through a symlink.
 *
 * @example
 * ```ts
 * await using manifest = await ManifestWriter.open(mirror.root);
 * manifest.add(page.items); // as each listing page arrives
 * await manifest.finish(index.entries(), (path) => present.has(path)); // after a complete pass
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { syncDir, writeAll } from "../fs/_util.ts";
import { ensureStateDir } from "../fs/state_dir.ts";
import { STATE_DIR_NAME } from "../paths.ts";
import type { RemoteItem } from "../remote/remote_item.ts";
import type { ListedItem } from "./listing_index.ts";

/** The manifest's file name in the mirror's state folder. */
export const MANIFEST_FILE_NAME = "manifest.jsonl";

/** The manifest's path relative to the mirror root. */
export const MANIFEST_PATH = `${STATE_DIR_NAME}/${MANIFEST_FILE_NAME}`;

/** One line of the manifest, as JSON (snake_case, as Viam's API names the fields). */
export interface ManifestLine {
  /** The file's path relative to the mirror root, `/`-separated. */
  path: string;
  /** The platform's id of the file (`org/location/fileid`). */
  binary_data_id: string;
  /** Its size in bytes, or null when the platform did not send one. */
  size: number | null;
  /** `capture_metadata.mime_type` (may be empty). */
  mime_type: string;
  /** Capture tags. */
  tags: string[];
  /** Bounding boxes, corners normalized to 0..1; `confidence` only when the platform has one. */
  bboxes: {
    label: string;
    x_min: number;
    y_min: number;
    x_max: number;
    y_max: number;
    confidence?: number;
  }[];
  /** The datasets holding the file. */
  dataset_ids: string[];
  /** When it was captured (`time_requested`), ISO 8601 in UTC, or null when unset. */
  time_requested: string | null;
}

/** Options of {@linkcode ManifestWriter.open}. */
export interface ManifestWriterOptions {
  /** Told when the manifest cannot be kept up to date (the pass goes on without it). */
  warn?: (message: string) => void;
}

/** What {@linkcode ManifestWriter.finish} wrote. */
export interface ManifestWritten {
  /** The manifest's absolute path. */
  path: string;
  /** Its lines: the files it lists. */
  lines: number;
}

const _PENDING_NAME = "manifest.pending";
const _FILE_MODE = 0o644;
/** Bytes gathered before each write of the new manifest. */
const _WRITE_CHUNK_BYTES = 1 << 20;
/** Bytes read at a time from the pending file. */
const _READ_CHUNK_BYTES = 1 << 20;

/**
 * Gathers the manifest fields of a pass's listing and writes the manifest once the pass is
 * complete. One per pass, under the mirror's lock. Dispose of it to remove the pending file.
 */
export class ManifestWriter implements AsyncDisposable {
  readonly #stateDir: string;
  readonly #warn: (message: string) => void;
  readonly #encoder = new TextEncoder();
  #pending?: Deno.FsFile;
  /** Why no manifest can be written this pass, once that is so: the old one is then kept. */
  #broken?: string;
  #finished = false;

  private constructor(
    stateDir: string,
    pending: Deno.FsFile | undefined,
    broken: string | undefined,
    warn: (message: string) => void,
  ) {
    this.#stateDir = stateDir;
    this.#pending = pending;
    this.#broken = broken;
    this.#warn = warn;
  }

  /**
   * Starts a pass's manifest in the state folder of the mirror at `root` (real and absolute, as
   * `MirrorDir.root`): a fresh pending file, created exclusively so that a symlink planted under
   * its name is never followed. Never rejects: a manifest that cannot be started only means the
   * old one stays (`finish` says why), the pass itself goes on.
   */
  static async open(root: string, options: ManifestWriterOptions = {}): Promise<ManifestWriter> {
    const warn = options.warn ?? (() => {});
    const stateDir = join(root, STATE_DIR_NAME);
    try {
      await ensureStateDir(root);
      const path = join(stateDir, _PENDING_NAME);
      await _removeName(path); // a killed pass's leftover or a planted link: unlinked, not followed
      const pending = await Deno.open(path, {
        read: true,
        write: true,
        createNew: true,
        mode: _FILE_MODE,
      });
      return new ManifestWriter(stateDir, pending, undefined, warn);
    } catch (error) {
      const broken = `cannot create ${_PENDING_NAME}: ${(error as Error).message}`;
      return new ManifestWriter(stateDir, undefined, broken, warn);
    }
  }

  /** The manifest's absolute path. */
  get path(): string {
    return join(this.#stateDir, MANIFEST_FILE_NAME);
  }

  /**
   * Appends the manifest fields of a page's items to the pending file (written at once, not held
   * in memory). Never throws: a failed write only means no new manifest this pass.
   */
  add(items: readonly RemoteItem[]): void {
    if (this.#pending === undefined || this.#broken !== undefined || items.length === 0) return;
    let text = "";
    for (const item of items) text += _pendingLine(item);
    try {
      const bytes = this.#encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += this.#pending.writeSync(bytes.subarray(written));
    } catch (error) {
      this.#broken = `writing ${_PENDING_NAME} failed: ${(error as Error).message}`;
    }
  }

  /**
   * Writes the manifest of a complete pass and replaces the old one atomically: one line per
   * `entries` item (the listing's winner of each path) whose path `isPresent` says the mirror
   * holds, in listing order. Call it once. Resolves to what was written, or to undefined when
   * it could not be (the old manifest is kept, and `warn` says why): never rejects.
   */
  async finish(
    entries: ReadonlyMap<string, ListedItem>,
    isPresent: (path: string) => boolean,
  ): Promise<ManifestWritten | undefined> {
    if (this.#finished) throw new Error("the manifest of this pass was already written");
    this.#finished = true;
    try {
      if (this.#broken !== undefined) throw new Error(this.#broken);
      return await this.#write(this.#pending!, entries, isPresent);
    } catch (error) {
      this.#warn(`manifest not updated (the previous one is kept): ${(error as Error).message}`);
      return undefined;
    }
  }

  async #write(
    pending: Deno.FsFile,
    entries: ReadonlyMap<string, ListedItem>,
    isPresent: (path: string) => boolean,
  ): Promise<ManifestWritten> {
    const wanted = new Map<string, string>(); // binary_data_id -> path, for the files present
    for (const [path, item] of entries) {
      if (isPresent(path)) wanted.set(item.binaryDataId, path);
    }
    const path = this.path;
    const temp = join(this.#stateDir, `.${MANIFEST_FILE_NAME}.${crypto.randomUUID()}.tmp`);
    // O_CREAT|O_EXCL: never follows a symlink planted under the temporary name.
    const out = await Deno.open(temp, { write: true, createNew: true, mode: _FILE_MODE });
    let lines = 0;
    try {
      try {
        let chunk = "";
        await pending.seek(0, Deno.SeekMode.Start);
        for await (const line of _lines(pending)) {
          const tab = line.indexOf("\t");
          const id = JSON.parse(line.slice(0, tab)) as string;
          const at = wanted.get(id);
          if (at === undefined) continue; // lost its path, not present, or a repeat (shards overlap)
          wanted.delete(id);
          chunk += `{"path":${JSON.stringify(at)},"binary_data_id":${line.slice(0, tab)},${
            line.slice(tab + 2)
          }\n`;
          lines++;
          if (chunk.length >= _WRITE_CHUNK_BYTES) {
            await writeAll(out, this.#encoder.encode(chunk));
            chunk = "";
          }
        }
        await writeAll(out, this.#encoder.encode(chunk));
        await out.sync();
      } finally {
        out.close();
      }
      // rename(2) replaces whatever is at `path`, a symlink included, without following it.
      await Deno.rename(temp, path);
    } catch (error) {
      await _removeName(temp).catch(() => {}); // best effort: the original error is what matters
      throw error;
    }
    await syncDir(this.#stateDir);
    return { path, lines };
  }

  /** Closes and removes the pending file. Calling it again does nothing. */
  async close(): Promise<void> {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    pending.close();
    await _removeName(join(this.#stateDir, _PENDING_NAME));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * An item's line in the pending file: its id as a JSON string, a tab (which JSON escapes, so the
 * first tab ends the id), and the rest of its manifest line as a JSON object without `path`.
 */
function _pendingLine(item: RemoteItem): string {
  const rest: Omit<ManifestLine, "path" | "binary_data_id"> = {
    size: item.sizeBytes ?? null,
    mime_type: item.mimeType,
    tags: item.tags ?? [],
    bboxes: (item.bboxes ?? []).map((box) => ({
      label: box.label,
      x_min: box.xMin,
      y_min: box.yMin,
      x_max: box.xMax,
      y_max: box.yMax,
      ...(box.confidence === undefined ? {} : { confidence: box.confidence }),
    })),
    dataset_ids: item.datasetIds ?? [],
    time_requested: item.timeRequestedMs === undefined
      ? null
      : new Date(item.timeRequestedMs).toISOString(),
  };
  return `${JSON.stringify(item.binaryDataId)}\t${JSON.stringify(rest)}\n`;
}

/** The lines of `file` from its current offset, without their `\n`; the handle stays open. */
async function* _lines(file: Deno.FsFile): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(_READ_CHUNK_BYTES);
  let carry = "";
  for (let read = await file.read(buffer); read !== null; read = await file.read(buffer)) {
    const text = carry + decoder.decode(buffer.subarray(0, read), { stream: true });
    const lines = text.split("\n");
    carry = lines.pop()!;
    yield* lines;
  }
  carry += decoder.decode();
  if (carry !== "") yield carry;
}

/** Unlinks `path` (a symlink itself, never its target); a missing name is fine. */
async function _removeName(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
