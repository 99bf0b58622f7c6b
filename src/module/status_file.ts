/**
 * A module resource's last status, saved in `VIAM_MODULE_DATA` after every pass and read back at start
 * (only when the config that wrote it is the same), so a restart keeps counts and backoff.
 *
 * @module
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { MirrorConfig } from "../config.ts";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import type { MirrorStatus, PushSummary } from "../mirror_controller.ts";
import { emptySummary } from "../sync/summary.ts";
import { sha256Hex } from "../sha256_hex.ts";

/** What a module resource keeps across restarts: its last status, tied to the config it ran with. */
export interface SavedStatus {
  /** A hash of the configuration (the key included, hashed): a different config starts afresh. */
  fingerprint: string;
  /** The status when it was saved. */
  status: MirrorStatus;
}

/**
 * The status file of one module resource: `<VIAM_MODULE_DATA>/status/<api>--<name>.json`. viam-server
 * keeps that directory across restarts and upgrades (and deletes it with the module).
 */
export function statusFilePath(
  moduleData: string,
  resource: { api: string; name: string },
): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, "_");
  return join(moduleData, "status", `${safe(resource.api)}--${safe(resource.name)}.json`);
}

/** A stable hash of everything in the config that changes what a pass does. */
export async function configFingerprint(config: MirrorConfig): Promise<string> {
  return await sha256Hex(
    JSON.stringify(Object.entries(config).sort(([a], [b]) => a.localeCompare(b))),
  );
}

/** A saved status is a few hundred bytes; anything much larger was not written by the module. */
const _MAX_STATUS_BYTES = 64 * 1024;

/**
 * Reads a saved status; undefined when there is none or it cannot be read (it is only a hint). Only
 * a plain file of at most 64 KiB is read, never through a symlink: a fifo, or a link to
 * `/dev/zero`, planted there held AddResource for good, the latter filling memory as it read.
 */
export async function readStatusFile(path: string): Promise<SavedStatus | undefined> {
  try {
    const saved = JSON.parse(await _readSmallPlainFile(path));
    if (typeof saved?.fingerprint !== "string" || !_isRecord(saved?.status)) return undefined;
    return { fingerprint: saved.fingerprint, status: _knownStatus(saved.status) };
  } catch {
    return undefined;
  }
}

async function _readSmallPlainFile(path: string): Promise<string> {
  // O_NONBLOCK: a fifo opens at once (and is refused below) instead of waiting for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > _MAX_STATUS_BYTES) {
      throw new Error(`${path} is not a status file`);
    }
    const buffer = new Uint8Array(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return new TextDecoder().decode(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/**
 * Saves a status atomically: a crash of the program at any instant leaves the old file or the new
 * one. Not flushed (two fsyncs after every pass of every resource would wear an SD card at one pass
 * a second): after a power cut the status may be an older one, or unreadable, which counts as none.
 */
export async function writeStatusFile(path: string, saved: SavedStatus): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(saved), { durable: false });
}

function _isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The fields of a saved status the mirror knows, each of its type; the rest is dropped, so that a
 * file edited by hand neither returns in every status answer nor is written back after each pass.
 */
function _knownStatus(saved: Record<string, unknown>): MirrorStatus {
  const count = (value: unknown) =>
    typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const text = (value: unknown) => typeof value === "string" ? value : undefined;
  const counts = (value: unknown, keys: readonly string[]) => {
    if (!_isRecord(value)) return undefined;
    const picked: Record<string, number> = {};
    for (const key of keys) picked[key] = count(value[key]) ?? 0;
    return picked;
  };
  const status: MirrorStatus = {
    state: "idle",
    passes: count(saved.passes) ?? 0,
    consecutiveFailures: count(saved.consecutiveFailures) ?? 0,
  };
  const optional: Partial<MirrorStatus> = {
    lastSummary: counts(saved.lastSummary, Object.keys(emptySummary())) as MirrorStatus[
      "lastSummary"
    ],
    lastError: text(saved.lastError),
    // What a failed pass had done (files deleted): without it, after a restart, 0 beside files gone.
    failedPass: counts(saved.failedPass, Object.keys(emptySummary())) as MirrorStatus["failedPass"],
    guard: text(saved.guard),
    // A time that does not parse is none: resumed, it was a RangeError that stopped the resource.
    nextPassAt: Number.isFinite(Date.parse(text(saved.nextPassAt) ?? ""))
      ? text(saved.nextPassAt)
      : undefined,
    backoffSeconds: typeof saved.backoffSeconds === "number" && saved.backoffSeconds >= 0 &&
        Number.isFinite(saved.backoffSeconds)
      ? saved.backoffSeconds
      : undefined,
    failingItems: count(saved.failingItems),
  };
  const push = counts(saved.lastPush, _PUSH_COUNTS);
  if (push !== undefined) {
    const error = _isRecord(saved.lastPush) ? text(saved.lastPush.error) : undefined;
    optional.lastPush = { ...push, ...(error === undefined ? {} : { error }) } as PushSummary;
  }
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (status as unknown as Record<string, unknown>)[key] = value;
  }
  return status;
}

const _PUSH_COUNTS = ["found", "uploaded", "skipped", "deleted", "failed", "bytes", "durationMs"];
