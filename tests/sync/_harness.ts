/**
 * Integration-test harness: a local data platform, a temporary `.viam` home, the real config parser,
 * the real SDK-backed remote, and a logger that keeps what it was told.
 */
import { dirname, join } from "node:path";
import { listLocalFiles } from "../../src/fs/local_files.ts";
import { STATE_DIR_NAME } from "../../src/paths.ts";
import { PlacedRecord } from "../../src/sync/placed_record.ts";
import { type MirrorConfig, parseConfig } from "../../src/config.ts";
import type { LogFields, Logger, LogLevel } from "../../src/logger.ts";
import { type PassOptions, type PassResult, runPass } from "../../src/sync/run_pass.ts";
import type { RemoteSource } from "../../src/remote/remote_source.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import {
  type Faults,
  type Platform,
  type PlatformDataset,
  startPlatform,
} from "../support/platform/mod.ts";

/** A logger that records every entry. */
export class RecordingLogger implements Logger {
  readonly entries: { level: LogLevel; message: string; fields?: LogFields }[] = [];
  debug(message: string, fields?: LogFields): void {
    this.entries.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.entries.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.entries.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.entries.push({ level: "error", message, fields });
  }
  /** Every entry as one line of text, for "never contains" assertions. */
  text(): string {
    return this.entries.map((e) => `${e.level} ${e.message} ${JSON.stringify(e.fields ?? {})}`)
      .join("\n");
  }
}

/** What a test gets. */
export interface MirrorFixture {
  platform: Platform;
  /** The temporary `.viam` directory. */
  home: string;
  /** The mirror root (`<home>/data_mirror` unless the attributes say otherwise). */
  root: string;
  logger: RecordingLogger;
  /** The validated config for the fixture's attributes plus `extra`. */
  config(extra?: Record<string, unknown>): MirrorConfig;
  /** Runs one real pass with fast retries. */
  pass(extra?: Record<string, unknown>, options?: Partial<PassOptions>): Promise<PassResult>;
  /** Every regular file under the root (state dir excluded): path -> bytes. */
  files(): Promise<Map<string, Uint8Array>>;
}

/** Options of {@linkcode withMirror}. */
export interface WithMirrorOptions {
  /** Attributes besides the key and the app URL. */
  attributes?: Record<string, unknown>;
  inlineLimitBytes?: number;
  faults?: Faults;
  /** The `.viam` home to use (kept afterwards); a fresh temporary one by default. */
  home?: string;
}

/** Runs `fn` against a fresh platform serving `dataset` and a fresh `.viam` home. */
export async function withMirror(
  dataset: PlatformDataset,
  fn: (fixture: MirrorFixture) => Promise<void>,
  options: WithMirrorOptions = {},
): Promise<void> {
  await using platform = await startPlatform({
    dataset,
    inlineLimitBytes: options.inlineLimitBytes,
    faults: options.faults,
  });
  const home = options.home ?? await Deno.makeTempDir({ prefix: "data-mirror-test-" });
  const logger = new RecordingLogger();
  const config = (extra: Record<string, unknown> = {}) =>
    parseConfig({
      app_api_key_id: platform.apiKeyId,
      app_api_key: platform.apiKey,
      app_url: platform.url,
      ...options.attributes,
      ...extra,
    }, { env: (name) => (name === "VIAM_HOME" ? home : undefined) }).config;
  const fixture: MirrorFixture = {
    platform,
    home,
    root: config().mirrorRoot,
    logger,
    config,
    pass: (extra, passOptions) => {
      const cfg = config(extra);
      const remote = new ViamRemote({
        appUrl: cfg.appUrl,
        apiKeyId: cfg.apiKeyId,
        apiKey: cfg.apiKey,
      });
      return runPass(cfg, remote, { logger, minRetryDelayMs: 1, ...passOptions });
    },
    files: () => readTree(config().mirrorRoot),
  };
  try {
    await fn(fixture);
  } finally {
    if (options.home === undefined) await Deno.remove(home, { recursive: true });
  }
}

/**
 * Writes `contents` at `relPath` in the mirror `root` as a pass would have placed it: recorded in
 * the mirror's placed record (from an item of its own), so that a pass with `delete` takes it for
 * the mirror's file, stale once the platform does not list it. A file written by hand alone is its
 * user's, never deleted.
 */
export async function writePlaced(
  root: string,
  relPath: string,
  contents: string | Uint8Array = "x",
): Promise<void> {
  const path = join(root, relPath);
  await Deno.mkdir(dirname(path), { recursive: true });
  if (typeof contents === "string") await Deno.writeTextFile(path, contents);
  else await Deno.writeFile(path, contents);
  await recordPlaced(root, [relPath]);
}

/**
 * Records the files at `relPaths` in the mirror `root` as placed by a pass (see
 * {@linkcode writePlaced}), keeping what the record says of the others.
 */
export async function recordPlaced(root: string, relPaths: readonly string[]): Promise<void> {
  const stateDir = join(root, STATE_DIR_NAME);
  await Deno.mkdir(stateDir, { recursive: true });
  const record = await PlacedRecord.read(stateDir);
  const sizes = new Map<string, number>();
  for (const relPath of relPaths) sizes.set(relPath, (await Deno.lstat(join(root, relPath))).size);
  const files = [...(await listLocalFiles(root))].filter(([, file]) => !file.symlink);
  await record.save(files.map(([path]) => path), (path) => {
    const size = sizes.get(path);
    return size === undefined ? undefined : { binaryDataId: `placed:${path}`, size };
  });
}

/** Every regular file under `root`, skipping the program's state dir. */
export async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const walk = async (relDir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(join(root, relDir)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      if (rel === ".data-mirror") continue;
      if (entry.isDirectory) await walk(rel);
      else if (entry.isFile) files.set(rel, await Deno.readFile(join(root, rel)));
    }
  };
  await walk("");
  return files;
}

/** `real` (the platform's remote, through the real SDK client) with some of its calls replaced. */
export function wrappedRemote(
  real: RemoteSource,
  wrap: (real: RemoteSource) => Partial<RemoteSource>,
): RemoteSource {
  return {
    listPage: (filter, last, options) => real.listPage(filter, last, options),
    count: (filter, options) => real.count(filter, options),
    fetchInline: (ids, options) => real.fetchInline(ids, options),
    download: (item, options) => real.download(item, options),
    classify: (error) => real.classify(error),
    signInAhead: () => real.signInAhead?.(),
    ...wrap(real),
  };
}

/**
 * `dataset` with its items requested and stored in their order, a second apart (from 2025-01-01):
 * listed in that order, and the later of two at one path is its winner.
 */
export function inListedOrder(dataset: PlatformDataset): PlatformDataset {
  const t0 = Date.UTC(2025, 0, 1);
  return {
    ...dataset,
    items: dataset.items.map((item, i) => ({
      ...item,
      timeRequestedMs: t0 + i * 1000,
      timeReceivedMs: t0 + i * 1000 + 250,
    })),
  };
}
