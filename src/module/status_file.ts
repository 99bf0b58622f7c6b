import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { MirrorConfig } from "../config.ts";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import type { MirrorStatus } from "../mirror_controller.ts";
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
    if (typeof saved?.fingerprint !== "string" || typeof saved?.status !== "object") {
      return undefined;
    }
    return saved as SavedStatus;
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
