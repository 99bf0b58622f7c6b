/**
 * rclone, the tool a user would pick instead: found on PATH or installed from Debian
 * (`apt-get install -y rclone`), and run as `rclone sync :http: <dir> --http-url <url>` against the
 * directory-index server, measured by {@linkcode measureCommand}.
 *
 * @example
 * ```ts
 * const rclone = await findOrInstallRclone((line) => console.error(line));
 * if (rclone.path) await runRcloneSync({ rclone: rclone.path, url, dir, parallel: 16, timeoutMs });
 * ```
 *
 * @module
 */

import { measureCommand, type Measurement } from "./process_usage.ts";

/** Where rclone is, or why there is none. */
export type RcloneLookup =
  | { path: string; version: string; installed: boolean }
  | { path: undefined; reason: string };

/** Finds `rclone` on PATH; when absent, installs Debian's package with apt-get and looks again. */
export async function findOrInstallRclone(say: (line: string) => void): Promise<RcloneLookup> {
  const found = await _version();
  if (found !== undefined) return { path: "rclone", version: found, installed: false };
  say("rclone is not on PATH: installing Debian's package (apt-get install -y rclone) ...");
  let reason: string;
  try {
    const apt = await new Deno.Command("apt-get", {
      args: ["install", "-y", "rclone"],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const installedVersion = apt.success ? await _version() : undefined;
    if (installedVersion !== undefined) {
      return { path: "rclone", version: installedVersion, installed: true };
    }
    const tail = new TextDecoder().decode(apt.stderr).trim().split("\n").slice(-3).join(" / ");
    reason = `apt-get install -y rclone failed (exit ${apt.code}): ${tail}`;
  } catch (error) {
    reason = `apt-get could not run: ${(error as Error).message}`;
  }
  return { path: undefined, reason };
}

async function _version(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("rclone", { args: ["version"], stdout: "piped" }).output();
    if (!out.success) return undefined;
    return new TextDecoder().decode(out.stdout).split("\n")[0].trim();
  } catch {
    return undefined;
  }
}

/** Options of {@linkcode runRcloneSync}. */
export interface RcloneSyncOptions {
  /** The rclone binary. */
  rclone: string;
  /** The directory-index server's base URL. */
  url: string;
  /** The destination folder. */
  dir: string;
  /** `--transfers N --checkers N`; rclone's defaults (4 transfers, 8 checkers) when absent. */
  parallel?: number;
  /** Killed after this long. */
  timeoutMs: number;
}

/** Runs `rclone sync :http: <dir> --http-url <url>/` (quietly; sync deletes what the source lacks). */
export function runRcloneSync(options: RcloneSyncOptions): Promise<Measurement> {
  const parallel = options.parallel === undefined
    ? []
    : ["--transfers", String(options.parallel), "--checkers", String(options.parallel)];
  return measureCommand({
    command: options.rclone,
    args: [
      "sync",
      ":http:",
      options.dir,
      "--http-url",
      `${options.url}/`,
      "--config",
      "/dev/null",
      "--quiet",
      ...parallel,
    ],
    timeoutMs: options.timeoutMs,
  });
}
