/**
 * The production permission set, defined once and used two ways: the flags `deno task mirror` runs
 * the program with, and the flags `deno task build` bakes into the compiled binary.
 *
 * Two layers, because flags cannot name a path known only at run time (`~` and `$VAR` are not
 * expanded; compiled flag values are fixed at build time):
 * 1. The baked flags ({@linkcode PRODUCTION_FLAGS}) are broad on the file system: global read and
 *    write, so that the bootstrap (`main.ts`) can look at the machine.
 * 2. The bootstrap works out the real paths ({@linkcode resolveGrants}), refuses any that would open
 *    too much, and runs the program in a Worker limited to them ({@linkcode workerPermissions}). The
 *    Worker checks that it really is narrow before it runs the program ({@linkcode assertNarrowed}).
 *
 * This file has no npm imports: the bootstrap runs it with the broad grant. Nor `node:` ones: see
 * `posix_path.ts`.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, resolve } from "./posix_path.ts";
import type { Invocation } from "./invocation.ts";

/**
 * The environment variables the program may read. Every other name reads as `undefined`
 * (`--ignore-env`) rather than throwing, so that an npm package probing an optional variable
 * (commander reads `FORCE_COLOR`, grpc-js `GRPC_NODE_VERBOSITY`) cannot crash the program, while its
 * value stays unreadable.
 */
export const ALLOWED_ENV: readonly string[] = Object.freeze([
  // Where the Viam home is (`$VIAM_HOME`, else `$HOME/.viam`).
  "HOME",
  "VIAM_HOME",
  // Set by viam-server for a module (protocol reference, sections 2 and 3).
  "VIAM_MODULE_DATA",
  "VIAM_MODULE_ADDRESS",
  // The machine part a push uploads as (issue 11).
  "VIAM_MACHINE_PART_ID",
  "VIAM_MODULE_NAME",
  "VIAM_NO_MODULE_PARENT",
  "VIAM_API_KEY_ID",
  "VIAM_API_KEY",
  // Loopback is added to them so that no proxy sees an http:// loopback app URL's key (main.ts).
  "NO_PROXY",
  "no_proxy",
  // The proxy a push tunnels through, chosen as the mirror's fetch chooses it (proxy_tunnel.ts).
  "ALL_PROXY",
  "all_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  // The temp directory: a socket directory may not contain it.
  "TMPDIR",
  // protobuf-es reads it when it is imported.
  "BUF_BIGINT_DISABLE",
  // commander's colour choice for help and errors.
  "NO_COLOR",
  "FORCE_COLOR",
  "CLICOLOR_FORCE",
]);

/**
 * The `--allow-sys` names the program needs: free disk space (`node:fs` `statfs`), and the kernel's
 * release (the group sync needs Linux 5.8 or later, `src/fs/file_system_sync.ts`).
 */
export const ALLOWED_SYS: readonly string[] = Object.freeze(["statfs", "osRelease"]);

/**
 * The one program the program may run: `sync`, at the paths coreutils and BusyBox give it on Debian,
 * Raspberry Pi OS and Alpine. `sync -f <folder>` is one `syncfs(2)` of the mirror's file system for
 * a whole batch of written files (`src/fs/file_system_sync.ts`), which Deno cannot call itself; on
 * an SD card it is three times faster than an `fdatasync` per file. Run without an environment.
 * Where neither path exists, each file is synced on its own.
 */
export const SYNC_PROGRAMS: readonly string[] = Object.freeze(["/usr/bin/sync", "/bin/sync"]);

/**
 * The production set as data (the build test compares what a compiled binary bakes in with this).
 * `true` means the whole capability, a list means those names only, `false` means none.
 */
export interface ProductionPermissions {
  /** Any host: the Viam cloud, signed download URLs, the module socket. */
  readonly net: true;
  /** Global at the flag level; narrowed to {@linkcode Grants} in the Worker. */
  readonly read: true;
  /** Global at the flag level; narrowed to {@linkcode Grants} in the Worker. */
  readonly write: true;
  /** {@linkcode ALLOWED_ENV}. */
  readonly env: readonly string[];
  /** Unlisted variables read as `undefined` instead of throwing. */
  readonly ignoreEnv: true;
  /** {@linkcode ALLOWED_SYS}. */
  readonly sys: readonly string[];
  /** {@linkcode SYNC_PROGRAMS}, and no other program. */
  readonly run: readonly string[];
  /** No native libraries. */
  readonly ffi: false;
  /** Never prompt: a missing permission throws. */
  readonly prompt: false;
  /** Unstable features: Worker permission options (the narrowing needs them). */
  readonly unstable: readonly string[];
}

/** The production permission set. */
export const PRODUCTION_PERMISSIONS: ProductionPermissions = Object.freeze({
  net: true,
  read: true,
  write: true,
  env: ALLOWED_ENV,
  ignoreEnv: true,
  sys: ALLOWED_SYS,
  run: SYNC_PROGRAMS,
  ffi: false,
  prompt: false,
  unstable: Object.freeze(["worker-options"]),
});

/**
 * V8's limits for the program, baked in with the permissions. V8 sizes its heap from the machine's
 * memory and collects lazily on a big one; on a Raspberry Pi with 1 GB a mirror must not grow
 * without bound. 256 MB of old space leaves a 1 GB robot most of its memory; a pass holds some
 * 370 bytes of heap per listed item, so it lists up to `listingCapacity()` items (424,000 with
 * these flags) and refuses a larger filter with an error. 128 MB (until 2026-12-02) ran out of
 * memory in a fresh copy of 300,000 items, a fatal error for the whole process, pass after pass;
 * at 256 the 100,000-item fresh copy peaked 8-10 MiB higher (181-184 against 173-175 MiB, three
 * alternated pairs) and the 100,000-item no-op 0-6 MiB higher (157-158 against 152-157). The young
 * generation is held to 1 MB semi-spaces (V8's default here is 8 MB). Measured at 8 → 4 MB: the
 * 10,020-file fresh copy peaked at 208-219 MB resident instead of 297-303, a no-op at 134 MB
 * instead of 165-185. At 4 → 1 MB, once responses stopped making garbage: the fresh copy 177-183 →
 * 168 MiB for 0.1-0.2 s more CPU, a 1 GiB download 99-100 → 94-95 MiB, the no-op unchanged. Tried
 * again at 4 MB on the leaner pass without the SDK: by hand the fresh copy took 3.65 s instead of
 * 3.84 s (medians of six alternated pairs), but in the benchmark it stayed at 4.68 s against 4.64,
 * and a push of a 256 MiB file peaked at 108-111 MB instead of 89-92 (its target is 100): kept at 1.
 *
 * V8 optimizes no further than Maglev (`--max-opt=2`: no TurboFan). The pass spends its CPU in
 * Deno's native code (HTTP, files), not in hot JavaScript, and TurboFan's compilations cost memory:
 * its code, mapped in from the executable as it first runs (2.7 MiB of the 10,020-file fresh copy's
 * peak), and its compiler's working memory. Alternated pairs, bundled program: the fresh copy 97.1
 * against 99.5 MB (six; 97.4 against 100.2 in four more), the no-op 88.5 against 90.9 and the churn
 * 98.2 against 98.7 (four each), in the same wall and CPU time; 100,000 items fresh 132.5 against
 * 136.9 MB in 18.4 s against 18.8, no-op 127.4 against 135.1 MB in 6.0 s against 5.5 (two each).
 * Sparkplug only (`--max-opt=1`) took 9.7 MB off the fresh copy but 0.7 s more (0.8 s of CPU);
 * `--no-maglev` or `--optimize-for-size` changed nothing.
 */
export const PRODUCTION_V8_FLAGS: readonly string[] = Object.freeze([
  "--max-old-space-size=256",
  "--max-semi-space-size=1",
  "--max-opt=2",
  "--expose-gc",
]);

/**
 * {@linkcode PRODUCTION_PERMISSIONS} as `deno run` / `deno compile` flags. `--allow-run` names the
 * `sync` programs only; without an `--allow-ffi` flag, native libraries are denied.
 */
export const PRODUCTION_FLAGS: readonly string[] = Object.freeze([
  "--allow-net",
  "--allow-read",
  "--allow-write",
  `--allow-env=${PRODUCTION_PERMISSIONS.env.join(",")}`,
  "--ignore-env",
  `--allow-sys=${PRODUCTION_PERMISSIONS.sys.join(",")}`,
  `--allow-run=${PRODUCTION_PERMISSIONS.run.join(",")}`,
  "--no-prompt",
  ...PRODUCTION_PERMISSIONS.unstable.map((feature) => `--unstable-${feature}`),
  `--v8-flags=${PRODUCTION_V8_FLAGS.join(",")}`,
]);

/** The paths the program is confined to at run time: absolute, without duplicates. */
export interface Grants {
  /** Read access (directories include their whole subtree). */
  read: string[];
  /** Write access (directories include their whole subtree). */
  write: string[];
}

/** Where {@linkcode resolveGrants} reads the environment from. */
export interface ResolveGrantsOptions {
  /** Reads one variable of {@linkcode ALLOWED_ENV}. */
  env: (name: string) => string | undefined;
}

/**
 * Works out the paths the program may touch, for how it was started ({@linkcode Invocation}, read
 * by `src/invocation.ts`, which the program reads the same way):
 * - read and write on the Viam home (`$VIAM_HOME`, else `$HOME/.viam`) and on `$VIAM_MODULE_DATA`;
 * - for a module on a unix socket, read and write on the socket's directory (a TCP module needs no
 *   path: the network is granted);
 * - for a CLI command, read on each file named by `--config`.
 *
 * Each path is granted both as written and as its real path (a symlink in it resolved), because
 * Deno matches permissions on the path string: the program uses the path as written, the kernel
 * lands on the real one. A path that does not exist yet (a fresh `$VIAM_HOME`) is granted as it
 * will be once created; the program creates it when it first writes.
 *
 * A relative `$VIAM_HOME`, `$HOME` or `$VIAM_MODULE_DATA` grants nothing (the program's config check
 * reports it); an unset one grants nothing either.
 *
 * @throws {Error} naming the variable or argument, when a directory is too broad to grant: the root
 * or a top-level directory (`/`, `/tmp`, `/home`), or one that contains the home or the temp
 * directory; or when `--config` names a directory.
 */
export function resolveGrants(invocation: Invocation, options: ResolveGrantsOptions): Grants {
  const { env } = options;
  const readWrite: string[] = [];
  const readOnly: string[] = [];
  const broad = _broadLimits(env);

  const viamHomeVar = env("VIAM_HOME") ? "VIAM_HOME" : "HOME";
  const viamHome = env("VIAM_HOME") || (env("HOME") ? join(env("HOME")!, ".viam") : undefined);
  if (viamHome !== undefined && isAbsolute(viamHome)) {
    readWrite.push(..._checkedDirectory(viamHome, `the Viam home (${viamHomeVar})`, broad));
  }
  const moduleData = env("VIAM_MODULE_DATA");
  if (moduleData && isAbsolute(moduleData)) {
    readWrite.push(..._checkedDirectory(moduleData, "VIAM_MODULE_DATA", broad));
  }
  if (invocation.mode === "module" && invocation.address.kind === "unix") {
    const { path, from } = invocation.address;
    readWrite.push(
      ..._checkedDirectory(
        dirname(resolve(path)),
        `the directory of the module socket (${from})`,
        broad,
      ),
    );
  }
  if (invocation.mode === "cli") {
    for (const config of invocation.configFiles) readOnly.push(..._checkedFile(config, "--config"));
  }

  const write = _unique(readWrite);
  return { read: _unique([...readWrite, ...readOnly]), write };
}

/**
 * The Worker's permissions: {@linkcode PRODUCTION_PERMISSIONS} with the file system narrowed to
 * `grants`.
 */
export function workerPermissions(grants: Grants): Deno.PermissionOptionsObject {
  return {
    net: PRODUCTION_PERMISSIONS.net,
    read: [...grants.read],
    write: [...grants.write],
    env: [...PRODUCTION_PERMISSIONS.env],
    sys: [...PRODUCTION_PERMISSIONS.sys] as Deno.PermissionOptionsObject["sys"],
    run: [...PRODUCTION_PERMISSIONS.run],
    ffi: PRODUCTION_PERMISSIONS.ffi,
    import: false,
  };
}

/**
 * The fail-closed self-check the Worker runs before it loads the program: throws when the current
 * permissions are broader than the narrowed set (a global read, write or env, reading `/etc`,
 * running any program but `sync`, or loading native libraries is granted). A broken
 * bootstrap or a program started the wrong way then stops instead of running unconfined.
 *
 * @throws {Error} naming every capability that should not be there.
 */
export function assertNarrowed(): void {
  const forbidden: [Deno.PermissionDescriptor, string][] = [
    [{ name: "write" }, "writing anywhere"],
    [{ name: "read" }, "reading anywhere"],
    // A folder, as no grant is (a config file named on the command line may be /etc/passwd, and a
    // Viam home at the top level is refused): granted only by a grant of / or /etc.
    [{ name: "read", path: "/etc" }, "reading /etc"],
    [{ name: "env" }, "reading every environment variable"],
    [{ name: "run" }, "running any program"],
    [{ name: "run", command: "/bin/sh" }, "running /bin/sh"],
    [{ name: "ffi" }, "loading native libraries"],
  ];
  const granted = forbidden
    .filter(([descriptor]) => Deno.permissions.querySync(descriptor).state === "granted")
    .map(([, what]) => what);
  if (granted.length > 0) {
    throw new Error(
      `refusing to run with permissions broader than the production set (granted: ` +
        `${granted.join(", ")}); start the program through main.ts, the narrowing bootstrap`,
    );
  }
}

/** Directories that no grant may equal or contain: the home and the temp directory, real paths. */
function _broadLimits(env: ResolveGrantsOptions["env"]): string[] {
  const home = env("HOME");
  const tmp = env("TMPDIR");
  const limits = [tmp && isAbsolute(tmp) ? tmp : "/tmp"];
  if (home && isAbsolute(home)) limits.push(home);
  return limits.flatMap((path) => _asWrittenAndReal(resolve(path)));
}

/** `path` as written (normalised) and as its real path; refused when either is too broad. */
function _checkedDirectory(path: string, what: string, broad: readonly string[]): string[] {
  const paths = _resolved(path, what);
  for (const candidate of paths) {
    const reason = _tooBroad(candidate, broad);
    if (reason !== undefined) {
      // A disk mounted at a top-level folder (`/data`, `/ssd`) for the Viam home, or `~/.viam` a
      // link to one, is a dedicated directory to its operator: the advice names a folder on it.
      const topLevel = candidate !== "/" && reason === _TOP_LEVEL;
      throw new Error(
        `refusing to grant ${what} ${JSON.stringify(candidate)}: ${reason}; ` +
          (topLevel
            ? `use a folder below it (${JSON.stringify(join(candidate, "viam"))}, say)` +
              (candidate === paths[0] ? "" : `, as the target of ${JSON.stringify(paths[0])}`)
            : "point it at a dedicated directory"),
      );
    }
  }
  return paths;
}

/** A file to read: as written and as its real path; a directory is refused. */
function _checkedFile(path: string, what: string): string[] {
  const paths = _resolved(path, what);
  if (paths.some(_isDirectory)) {
    throw new Error(`${what} ${JSON.stringify(path)} is a directory: it must name a file`);
  }
  return paths;
}

/**
 * A path to grant that could not be looked at for a reason of the moment, not of the configuration
 * (its disk gone: an I/O error, a FUSE mount whose driver died): the program fails (exit 1, which a
 * service manager such as the unit in docs/systemd/ restarts) rather than exiting as for a
 * configuration error (2, which the unit does not restart: it would stay stopped once the disk is
 * back).
 */
export class GrantUnavailableError extends Error {
  override name = "GrantUnavailableError";
}

/** Error codes of a file system that is unreachable for now, not misconfigured. */
const _UNAVAILABLE_CODES = new Set([
  "EIO",
  "ENOTCONN",
  "ECONNABORTED",
  "ESTALE",
  "ENODEV",
  "ENXIO",
  "ENOMEDIUM",
  "ETIMEDOUT",
  "EHOSTDOWN",
]);

/** {@linkcode _asWrittenAndReal} of the absolute `path`, with `what` named when that fails. */
function _resolved(path: string, what: string): string[] {
  const absolute = resolve(path);
  try {
    return _asWrittenAndReal(absolute);
  } catch (error) {
    const message = `cannot resolve ${what} ${JSON.stringify(absolute)}: ${
      error instanceof Deno.errors.NotCapable && _KERNEL_FS.test(absolute)
        // Deno's own words would ask for --allow-all, a flag a user of the binary cannot give.
        ? "it lies in /proc, /dev or /sys, which the program does not read: name one on a disk" +
          (what === "--config"
            ? " (process substitution `<(...)` and /dev/stdin are such paths: write it to a file)"
            : "")
        : (error as Error).message
    }`;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && _UNAVAILABLE_CODES.has(code)) {
      throw new GrantUnavailableError(message);
    }
    throw new Error(message);
  }
}

/** Paths of the kernel's file systems, which Deno opens only with every permission granted. */
const _KERNEL_FS = /^\/(proc|dev|sys)(\/|$)/;

const _TOP_LEVEL = "it is the root or a top-level directory";

/** Why `path` is too broad to grant, or undefined. */
function _tooBroad(path: string, broad: readonly string[]): string | undefined {
  if (path.split("/").filter((part) => part !== "").length < 2) {
    return _TOP_LEVEL;
  }
  const contained = broad.find((limit) => limit === path || limit.startsWith(`${path}/`));
  return contained === undefined ? undefined : `it is or contains ${JSON.stringify(contained)}`;
}

/**
 * The absolute `path` and its real path (the longest existing prefix resolved, the rest appended),
 * one entry when they are the same.
 */
function _asWrittenAndReal(path: string): string[] {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    try {
      return _unique([path, join(Deno.realPathSync(existing), ...missing)]);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const parent = dirname(existing);
    if (parent === existing) return [path];
    missing.unshift(basename(existing));
    existing = parent;
  }
}

function _isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function _unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}
