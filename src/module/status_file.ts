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

/** Reads a saved status; undefined when there is none or it cannot be read (it is only a hint). */
export async function readStatusFile(path: string): Promise<SavedStatus | undefined> {
  try {
    const saved = JSON.parse(await Deno.readTextFile(path));
    if (typeof saved?.fingerprint !== "string" || typeof saved?.status !== "object") {
      return undefined;
    }
    return saved as SavedStatus;
  } catch {
    return undefined;
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
