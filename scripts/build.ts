/**
 * `deno task build`: compiles the program with the production permission flags baked in
 * (`src/permissions.ts`), checks that each compiled binary really runs the program, then packs a Viam
 * registry tarball (`module.tar.gz`: `meta.json` and the executable named by its `entrypoint`).
 *
 * Usage:
 * - `deno task build` : this machine's target, into `dist/<target>/`.
 * - `deno task build --target aarch64-unknown-linux-gnu --unchecked-cross` : another target; see
 *   below for why it needs the flag.
 * - `deno task build --module-tarball dist/module.tar.gz` : the target `VIAM_BUILD_OS` /
 *   `VIAM_BUILD_ARCH` name (the registry's cloud build sets them), else this machine's; its tarball
 *   is also copied to the given path (`meta.json`'s `build.path`).
 * - `--out DIR` : another output folder.
 *
 * The check: `deno compile` glues the program onto Deno's runtime (`denort`, downloaded per target
 * from dl.deno.land, or the file `DENORT_BIN` names). A wrong runtime (a plain `deno` in
 * `DENORT_BIN`) gives a binary that behaves as `deno`, not as data-mirror. So before packing, the
 * binary for this machine's target is run with `--version` and must print deno.json's version. A
 * binary for another target cannot be run here: it is refused unless `--unchecked-cross` says so,
 * and then it must at least be an executable for that target's CPU (a host `deno` given as its
 * runtime is not), and the build says loudly that it was not run. Nothing unchecked is ever packed
 * silently, and a binary that failed the check is deleted.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PRODUCTION_FLAGS } from "../src/permissions.ts";
import denoJson from "../deno.json" with { type: "json" };
import { BUNDLE_DIR, programBundle } from "./program_bundle.ts";

/** The targets that can be built, with the Viam platform each one is uploaded as. */
export const TARGETS: Readonly<Record<string, string>> = Object.freeze({
  "x86_64-unknown-linux-gnu": "linux/amd64",
  "aarch64-unknown-linux-gnu": "linux/arm64",
  "aarch64-apple-darwin": "darwin/arm64",
});

/** A build that cannot go on; its message says what is missing or wrong (no stack is printed). */
export class BuildError extends Error {
  /** @param message What is wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "BuildError";
  }
}

/** What to build. */
export interface BuildOptions {
  /** Rust target triples, keys of {@linkcode TARGETS}. */
  targets: readonly string[];
  /** Output folder; each target gets `<outDir>/<target>/`. */
  outDir: string;
  /**
   * Pack binaries for targets other than this machine's, which cannot be run here to check them
   * (`--unchecked-cross`). Default false: such targets are refused.
   */
  uncheckedCross?: boolean;
  /** Where progress and warnings go. Default: stderr. */
  log?: (line: string) => void;
}

/** What one target produced. */
export interface BuildArtifact {
  /** The Rust target triple. */
  target: string;
  /** The Viam platform (`linux/amd64`, ...). */
  platform: string;
  /** The compiled executable: `<outDir>/<target>/<entrypoint file name>`. */
  binary: string;
  /** The registry tarball: `<outDir>/<target>/module.tar.gz`. */
  tarball: string;
  /** True when the binary was run and printed the program's version; false for an unchecked cross build. */
  checked: boolean;
}

const _ROOT = fileURLToPath(new URL("../", import.meta.url));
const _TARBALL_NAME = "module.tar.gz";
/** How long the checked binary may take to print its version. */
const _CHECK_TIMEOUT_MS = 30_000;
/** ELF `e_machine` and Mach-O `cputype` per target. */
const _CPU: Readonly<Record<string, { format: "elf" | "macho"; cpu: number }>> = {
  "x86_64-unknown-linux-gnu": { format: "elf", cpu: 0x3e },
  "aarch64-unknown-linux-gnu": { format: "elf", cpu: 0xb7 },
  "aarch64-apple-darwin": { format: "macho", cpu: 0x0100000c },
};

/**
 * Compiles the program (its bundle, `scripts/program_bundle.ts`) for each target, checks each
 * binary, and packs its tarball.
 *
 * @throws {BuildError} naming the target and what is missing or wrong; nothing unchecked is left
 * under the binary's name and no tarball is written for that target.
 */
export async function build(options: BuildOptions): Promise<BuildArtifact[]> {
  const log = options.log ?? ((line: string) => console.error(line));
  const entrypoint = await readEntrypoint();
  // Every refusal that needs no compile comes first, before minutes of work.
  for (const target of options.targets) {
    if (TARGETS[target] === undefined) {
      throw new BuildError(
        `unknown target ${target}: use one of ${Object.keys(TARGETS).join(", ")}`,
      );
    }
    if (target !== Deno.build.target && !options.uncheckedCross) {
      throw new BuildError(
        `cannot check a binary for ${target} on this ${Deno.build.target} machine (it cannot run ` +
          `here): build it on a ${TARGETS[target]} machine, or pass --unchecked-cross to pack it ` +
          "without running it",
      );
    }
  }
  await _checkDenortBin(Deno.env.get("DENORT_BIN"));
  const artifacts: BuildArtifact[] = [];
  for (const target of options.targets) {
    const dir = resolve(options.outDir, target);
    await Deno.mkdir(dir, { recursive: true });
    const binary = join(dir, entrypoint.split("/").at(-1)!);
    const tarball = join(dir, _TARBALL_NAME);
    // A previous build's outputs must not survive a failed one.
    await _removeIfPresent(binary);
    await _removeIfPresent(tarball);
    const unchecked = join(dir, `.${entrypoint.split("/").at(-1)!}.unchecked`);
    log(`${target}: compiling`);
    try {
      await compileProgram(target, unchecked);
      const checked = await checkBinary(unchecked, target);
      if (!checked) await _refuseDenoCli(unchecked, target);
      if (!checked) {
        log(
          `WARNING: ${target}: the binary was NOT run (it cannot run on this ` +
            `${Deno.build.target} machine); only its format was checked. Run ` +
            `\`${entrypoint} --version\` on a ${TARGETS[target]} machine before publishing.`,
        );
      }
      await Deno.rename(unchecked, binary);
      await packTarball(binary, entrypoint, tarball);
      artifacts.push({ target, platform: TARGETS[target], binary, tarball, checked });
    } finally {
      await _removeIfPresent(unchecked);
    }
  }
  return artifacts;
}

/**
 * Runs `deno compile` of the program's bundle (made again first if a source changed) for `target`
 * into `output`, with the production flags baked in and the whole bundle embedded (the Worker's
 * entry, its chunks and source maps). `env` is added to the compile's environment (`DENORT_BIN`).
 *
 * @throws {BuildError} saying what is missing when the runtime cannot be had (no download, a
 * missing `DENORT_BIN`), else with the compiler's own error lines (no backtrace).
 */
export async function compileProgram(
  target: string,
  output: string,
  options: { env?: Record<string, string> } = {},
): Promise<void> {
  const main = fileURLToPath(await programBundle());
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--quiet",
      // `deno task check` is the type check; the build packs what it checked.
      "--no-check",
      "--target",
      target,
      "--output",
      output,
      "--config",
      join(_ROOT, "deno.json"),
      // The bundle embedded whole: the Worker's entry is loaded by URL, so `deno compile` must be
      // told to embed it (its chunks come with it), and the source maps stay with the code.
      "--include",
      join(_ROOT, BUNDLE_DIR),
      // The bundle holds the program's npm code; without this, every package of the lock file
      // (test tools too) would be embedded as well.
      "--exclude-unused-npm",
      ...PRODUCTION_FLAGS,
      main,
    ],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code === 0) return;
  const text = new TextDecoder().decode(stderr);
  const detail = _withoutBacktrace(text);
  if (/dl\.deno\.land|denort|Setting up base binary/i.test(text)) {
    const cause = detail.split("\n").map((line) => line.trim()).filter((line) => line !== "")
      .at(-1)?.replace(/^\d+:\s*/, "");
    throw new BuildError(
      `cannot compile for ${target}: deno compile needs Deno's runtime for that target ` +
        `(denort-${target}.zip from https://dl.deno.land/release/v${Deno.version.deno}/, cached after ` +
        `the first download) and could not get it${cause ? ` (${cause})` : ""}. Build once on a ` +
        `machine that can reach dl.deno.land, or set DENORT_BIN to that unzipped denort ` +
        `executable (not to a deno executable: the result would not run data-mirror)`,
    );
  }
  throw new BuildError(`deno compile for ${target} failed:\n${detail}`);
}

/**
 * Checks that `binary` is data-mirror for `target`. For this machine's target it is run with
 * `--version` (no environment, no stdin) and must print deno.json's version: resolves true. For
 * another target it cannot be run: it must be an executable for that target's CPU; resolves false
 * (not run).
 *
 * @throws {BuildError} saying what the binary is instead (e.g. a plain `deno`).
 */
export async function checkBinary(binary: string, target: string): Promise<boolean> {
  if (target !== Deno.build.target) {
    await _checkFormat(binary, target);
    return false;
  }
  const expected = denoJson.version;
  let printed: string;
  try {
    const child = new Deno.Command(binary, {
      args: ["--version"],
      clearEnv: true,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(_CHECK_TIMEOUT_MS),
    });
    const { stdout, stderr } = await child.output();
    printed = `${new TextDecoder().decode(stdout)}${new TextDecoder().decode(stderr)}`.trim();
  } catch (error) {
    throw new BuildError(
      `the compiled binary for ${target} could not be run to check it: ${(error as Error).message}`,
    );
  }
  if (printed !== expected) {
    const firstLine = printed.split("\n")[0].slice(0, 120);
    const standIn = /^deno \d/.test(printed)
      ? " It is a plain deno: the runtime it was built on (DENORT_BIN?) is a deno executable, " +
        "not denort."
      : "";
    throw new BuildError(
      `the compiled binary for ${target} does not run data-mirror: \`data-mirror --version\` ` +
        `printed ${JSON.stringify(firstLine)} instead of ${JSON.stringify(expected)}.${standIn} ` +
        "It was deleted and no tarball was written",
    );
  }
  return true;
}

/** Packs `meta.json` and the executable (at `entrypoint`, mode 0755) into a gzipped tarball. */
export async function packTarball(
  binary: string,
  entrypoint: string,
  tarball: string,
): Promise<void> {
  const staging = await Deno.makeTempDir({ prefix: "data-mirror-pack-" });
  try {
    await Deno.copyFile(join(_ROOT, "meta.json"), join(staging, "meta.json"));
    const packed = join(staging, entrypoint);
    await Deno.mkdir(dirname(packed), { recursive: true });
    await Deno.copyFile(binary, packed);
    await Deno.chmod(packed, 0o755);
    const { code, stderr } = await new Deno.Command("tar", {
      args: ["-czf", tarball, "-C", staging, "meta.json", entrypoint],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new BuildError(`tar failed (exit ${code}): ${new TextDecoder().decode(stderr).trim()}`);
    }
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

/**
 * The target for a registry build: from `VIAM_BUILD_OS` and `VIAM_BUILD_ARCH` when set (`linux`,
 * `amd64`), else this machine's.
 *
 * @throws {BuildError} when the platform is not one of {@linkcode TARGETS}.
 */
export function buildTarget(env: (name: string) => string | undefined): string {
  const os = env("VIAM_BUILD_OS") || Deno.build.os;
  const arch = env("VIAM_BUILD_ARCH") || Deno.build.arch;
  const platform = `${os}/${{ x86_64: "amd64", aarch64: "arm64" }[arch] ?? arch}`;
  const target = Object.keys(TARGETS).find((key) => TARGETS[key] === platform);
  if (target === undefined) {
    throw new BuildError(
      `no target for platform ${platform}: use one of ${Object.values(TARGETS).join(", ")}`,
    );
  }
  return target;
}

/** The `entrypoint` of `meta.json`: the executable's path inside the tarball. */
export async function readEntrypoint(): Promise<string> {
  const meta = JSON.parse(await Deno.readTextFile(join(_ROOT, "meta.json")));
  if (typeof meta.entrypoint !== "string" || meta.entrypoint === "") {
    throw new BuildError("meta.json: entrypoint must be a non-empty string");
  }
  return meta.entrypoint;
}

/** A `DENORT_BIN` that names no file is refused before any compile. */
async function _checkDenortBin(path: string | undefined): Promise<void> {
  if (path === undefined || path === "") return;
  try {
    if ((await Deno.stat(path)).isFile) return;
  } catch {
    // Reported below.
  }
  throw new BuildError(
    `DENORT_BIN is set to ${JSON.stringify(path)}, which is not a file: point it at the unzipped ` +
      "denort executable for the target, or unset it to let deno compile download the runtime",
  );
}

/** Refuses a binary that is not an executable for `target`'s CPU (read from its header). */
async function _checkFormat(binary: string, target: string): Promise<void> {
  const expected = _CPU[target];
  const file = await Deno.open(binary);
  const header = new Uint8Array(20);
  try {
    await file.read(header);
  } finally {
    file.close();
  }
  const view = new DataView(header.buffer);
  const elf = view.getUint32(0) === 0x7f454c46;
  const macho = view.getUint32(0, true) === 0xfeedfacf;
  const cpu = elf ? view.getUint16(18, true) : macho ? view.getUint32(4, true) : undefined;
  if ((expected.format === "elf" ? elf : macho) && cpu === expected.cpu) return;
  throw new BuildError(
    `the compiled binary for ${target} is not a ${TARGETS[target]} executable (${
      elf ? "ELF" : macho ? "Mach-O" : "unknown format"
    }, CPU 0x${cpu?.toString(16) ?? "?"}): its runtime (DENORT_BIN?) is for another platform. ` +
      "It was deleted and no tarball was written",
  );
}

/**
 * Text only the `deno` command line holds (its subcommands' help, its language server), never the
 * runtime `deno compile` builds on (`denort`), nor the program it embeds.
 */
const _DENO_CLI_MARKERS = ["Run a JavaScript or TypeScript program", "deno_lsp"];

/**
 * Refuses a binary built on a plain `deno` instead of `denort` when it cannot be run here to tell
 * (another target): an arm64 `deno` from npm in `DENORT_BIN` gives a binary that is deno, not
 * data-mirror, with the right CPU in its header. Read in chunks, each overlapping the last.
 */
async function _refuseDenoCli(binary: string, target: string): Promise<void> {
  const encoder = new TextEncoder();
  const markers = _DENO_CLI_MARKERS.map((marker) => encoder.encode(marker));
  const overlap = Math.max(...markers.map((marker) => marker.length));
  using file = await Deno.open(binary);
  const chunk = new Uint8Array(4 * 1024 * 1024);
  let carried = 0;
  for (;;) {
    const read = await file.read(chunk.subarray(carried));
    if (read === null) return;
    const held = chunk.subarray(0, carried + read);
    if (markers.some((marker) => _indexOf(held, marker) >= 0)) {
      throw new BuildError(
        `the compiled binary for ${target} is a plain deno, not data-mirror: its runtime ` +
          "(DENORT_BIN?) is a deno executable, not denort. It was deleted and no tarball was written",
      );
    }
    carried = Math.min(overlap, held.length);
    chunk.copyWithin(0, held.length - carried, held.length);
  }
}

/** Where `needle` first occurs in `haystack`, or -1. */
function _indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** The compiler's error without Rust's "Stack backtrace:" section. */
function _withoutBacktrace(text: string): string {
  const cut = text.indexOf("Stack backtrace:");
  return (cut >= 0 ? text.slice(0, cut) : text).trim();
}

async function _removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        target: { type: "string", multiple: true },
        out: { type: "string", default: join(_ROOT, "dist") },
        "module-tarball": { type: "string" },
        "unchecked-cross": { type: "boolean", default: false },
      },
      strict: true,
    });
    const moduleTarball = values["module-tarball"];
    // An upload after a failed build must not find the previous one's tarball there.
    if (moduleTarball) await _removeIfPresent(resolve(moduleTarball));
    const targets = values.target ??
      [moduleTarball ? buildTarget((name) => Deno.env.get(name)) : Deno.build.target];
    const artifacts = await build({
      targets,
      outDir: values.out,
      uncheckedCross: values["unchecked-cross"],
    });
    if (moduleTarball) {
      if (artifacts.length !== 1) throw new BuildError("--module-tarball needs exactly one target");
      await Deno.mkdir(dirname(resolve(moduleTarball)), { recursive: true });
      await Deno.copyFile(artifacts[0].tarball, moduleTarball);
    }
    for (const artifact of artifacts) {
      const state = artifact.checked ? "checked" : "NOT RUN";
      console.log(`${artifact.platform} (${state}): ${artifact.binary}, ${artifact.tarball}`);
    }
  } catch (error) {
    console.error(`build: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
