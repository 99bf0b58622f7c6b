/**
 * Push-test harness: a local data platform, a temporary `.viam` home with a push folder, the real
 * uploader over HTTP/2, and helpers to plant files that are already settled.
 */
import { dirname, join } from "node:path";
import { FileUploader } from "../../src/remote/file_upload.ts";
import { PUSH_JOURNAL_NAME, PushJournal } from "../../src/push/push_journal.ts";
import type { PushConfig } from "../../src/config.ts";
import {
  type PushPassOptions,
  type PushResult,
  runPushPass,
} from "../../src/push/run_push_pass.ts";
import { type Faults, type Platform, startPlatform } from "../support/platform/mod.ts";
import { RecordingLogger } from "../sync/_harness.ts";

/** The part id the tests push as. */
export const PART_ID = "push-test-part";

/** What a push test gets. */
export interface PushFixture {
  platform: Platform;
  /** The temporary `.viam` home. */
  home: string;
  /** The push folder, `<home>/outbox`. */
  root: string;
  logger: RecordingLogger;
  uploader: FileUploader;
  /** The push attributes, with `extra` over the defaults (no settle time). */
  config(extra?: Partial<PushConfig>): PushConfig;
  /** Runs one pass with fast retries. */
  pass(extra?: Partial<PushConfig>, options?: Partial<PushPassOptions>): Promise<PushResult>;
  /** Writes a file below the push folder, modified `ageSeconds` ago (default 60). */
  write(path: string, bytes: Uint8Array | string, ageSeconds?: number): Promise<void>;
}

/** Options of {@linkcode withPush}. */
export interface WithPushOptions {
  faults?: Faults;
  /** Uploader timeouts. */
  callTimeoutMs?: number;
}

/** The tests' push folder `outbox` at `root`: tag `fleet`, no settle time, files deleted once sent. */
export function pushConfig(root: string, extra: Partial<PushConfig> = {}): PushConfig {
  return {
    pushPath: "outbox",
    pushRoot: root,
    tags: ["fleet"],
    datasetIds: [],
    keep: false,
    minAgeSeconds: 0,
    ...extra,
  };
}

/** Runs `fn` against a fresh platform and a fresh `.viam` home. */
export async function withPush(
  fn: (fixture: PushFixture) => Promise<void>,
  options: WithPushOptions = {},
): Promise<void> {
  await using platform = await startPlatform({ faults: options.faults });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-push-" });
  const root = join(home, "outbox");
  await Deno.mkdir(root);
  const logger = new RecordingLogger();
  await using uploader = new FileUploader({
    env: () => undefined, // http:// on loopback: never through a proxy
    appUrl: platform.url,
    apiKeyId: platform.apiKeyId,
    apiKey: platform.apiKey,
    callTimeoutMs: options.callTimeoutMs,
  });
  const config = (extra: Partial<PushConfig> = {}): PushConfig => pushConfig(root, extra);
  try {
    await fn({
      platform,
      home,
      root,
      logger,
      uploader,
      config,
      pass: (extra, passOptions) =>
        runPushPass(config(extra), { uploader, partId: PART_ID, appUrl: platform.url }, {
          logger,
          minRetryDelayMs: 1,
          ...passOptions,
        }),
      write: (path, bytes, ageSeconds) => plantFile(join(root, path), bytes, ageSeconds),
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Writes `bytes` at `path` (making its folders), modified `ageSeconds` ago (default 60). */
export async function plantFile(
  path: string,
  bytes: Uint8Array | string,
  ageSeconds = 60,
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  if (typeof bytes === "string") await Deno.writeTextFile(path, bytes);
  else await Deno.writeFile(path, bytes);
  const when = new Date(Date.now() - ageSeconds * 1000);
  await Deno.utime(path, when, when);
}

/** `n` pseudo-random bytes. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

/**
 * The push journal's snapshot of the push folder `root`, parsed, with its log folded in first (a
 * pass leaves its changes in the log): what a test reads, or changes and writes back, as a whole.
 */
// deno-lint-ignore no-explicit-any
export async function foldedJournal(root: string): Promise<any> {
  const state = join(root, ".data-mirror");
  const journal = await PushJournal.open(state);
  await journal.compact();
  await journal.close();
  return JSON.parse(await Deno.readTextFile(join(state, PUSH_JOURNAL_NAME)));
}

/**
 * Runs `fn` with `Deno.readDir` showing folder `dir`'s `.data-mirror` only from its second read on,
 * and after every other entry: as when it was made between a walk's scan of the folder and its
 * second read, in the file system's order past 10,000 entries.
 */
export async function withStateDirSeenLate<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const readDir = Deno.readDir;
  let reads = 0;
  const hooked = async function* (path: string | URL) {
    const all = [...Deno.readDirSync(path)];
    if (String(path) !== dir) return yield* all;
    reads++;
    yield* all.filter((entry) => entry.name !== ".data-mirror");
    if (reads > 1) yield* all.filter((entry) => entry.name === ".data-mirror");
  };
  Object.defineProperty(Deno, "readDir", { configurable: true, writable: true, value: hooked });
  try {
    return await fn();
  } finally {
    Object.defineProperty(Deno, "readDir", { configurable: true, writable: true, value: readDir });
  }
}
