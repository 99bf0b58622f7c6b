/**
 * `deno task build`: compiles the program per target with the production permission flags baked in
 * (`src/permissions.ts`), then packs a Viam registry tarball (`module.tar.gz`: `meta.json` and the
 * executable named by its `entrypoint`) per target.
 *
 * Usage:
 * - `deno task build` : every target, into `dist/<target>/`.
 * - `deno task build --target x86_64-unknown-linux-gnu --out /tmp/dist` : chosen targets and folder.
 * - `deno task build --module-tarball dist/module.tar.gz` : one target, the one `VIAM_BUILD_OS` /
 *   `VIAM_BUILD_ARCH` name (the registry's cloud build sets them), else this machine's; its tarball
 *   is also copied to the given path (`meta.json`'s `build.path`).
 *
 * `deno compile` downloads its runtime (`denort`) per target from dl.deno.land, once (cached). Where
 * that is unreachable, `DENORT_BIN` pointing at a `deno` executable lets the compile finish; the
 * output then runs as plain `deno`, but carries the same embedded files and baked flags.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PRODUCTION_FLAGS } from "../src/permissions.ts";

/** The targets built by default, with the Viam platform each one is uploaded as. */
export const TARGETS: Readonly<Record<string, string>> = Object.freeze({
  "x86_64-unknown-linux-gnu": "linux/amd64",
  "aarch64-unknown-linux-gnu": "linux/arm64",
  "aarch64-apple-darwin": "darwin/arm64",
});

/** The file the Worker runs: loaded by URL, so `deno compile` must be told to embed it. */
export const WORKER_ENTRY = "src/worker_main.ts";

/** What to build. */
export interface BuildOptions {
  /** Rust target triples, keys of {@linkcode TARGETS}. */
  targets: readonly string[];
  /** Output folder; each target gets `<outDir>/<target>/`. */
  outDir: string;
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
}

const _ROOT = fileURLToPath(new URL("../", import.meta.url));
const _TARBALL_NAME = "module.tar.gz";

/**
 * Compiles `main.ts` for each target and packs its tarball.
 *
 * @throws {Error} naming the target or the step (`deno compile`, `tar`) that failed.
 */
export async function build(options: BuildOptions): Promise<BuildArtifact[]> {
  const entrypoint = await readEntrypoint();
  const artifacts: BuildArtifact[] = [];
  for (const target of options.targets) {
    const platform = TARGETS[target];
    if (platform === undefined) {
      throw new Error(`unknown target ${target}: use one of ${Object.keys(TARGETS).join(", ")}`);
    }
    const dir = resolve(options.outDir, target);
    const binary = join(dir, entrypoint.split("/").at(-1)!);
    await _compile(target, binary);
    const tarball = join(dir, _TARBALL_NAME);
    await _pack(binary, entrypoint, tarball);
    artifacts.push({ target, platform, binary, tarball });
  }
  return artifacts;
}

/**
 * The target for a registry build: from `VIAM_BUILD_OS` and `VIAM_BUILD_ARCH` when set (`linux`,
 * `amd64`), else this machine's.
 *
 * @throws {Error} when the platform is not one of {@linkcode TARGETS}.
 */
export function buildTarget(env: (name: string) => string | undefined): string {
  const os = env("VIAM_BUILD_OS") || Deno.build.os;
  const arch = env("VIAM_BUILD_ARCH") || Deno.build.arch;
  const platform = `${os}/${{ x86_64: "amd64", aarch64: "arm64" }[arch] ?? arch}`;
  const target = Object.keys(TARGETS).find((key) => TARGETS[key] === platform);
  if (target === undefined) {
    throw new Error(
      `no target for platform ${platform}: use one of ${Object.values(TARGETS).join(", ")}`,
    );
  }
  return target;
}

/** The `entrypoint` of `meta.json`: the executable's path inside the tarball. */
export async function readEntrypoint(): Promise<string> {
  const meta = JSON.parse(await Deno.readTextFile(join(_ROOT, "meta.json")));
  if (typeof meta.entrypoint !== "string" || meta.entrypoint === "") {
    throw new Error("meta.json: entrypoint must be a non-empty string");
  }
  return meta.entrypoint;
}

async function _compile(target: string, output: string): Promise<void> {
  await _run(Deno.execPath(), [
    "compile",
    "--target",
    target,
    "--output",
    output,
    "--config",
    join(_ROOT, "deno.json"),
    "--include",
    join(_ROOT, WORKER_ENTRY),
    // Without it, every package of the lock file (test tools too) would be embedded.
    "--exclude-unused-npm",
    ...PRODUCTION_FLAGS,
    join(_ROOT, "main.ts"),
  ], `deno compile for ${target}`);
}

/** Packs `meta.json` and the executable (at `entrypoint`, mode 0755) into a gzipped tarball. */
async function _pack(binary: string, entrypoint: string, tarball: string): Promise<void> {
  const staging = await Deno.makeTempDir({ prefix: "data-mirror-pack-" });
  try {
    await Deno.copyFile(join(_ROOT, "meta.json"), join(staging, "meta.json"));
    const packed = join(staging, entrypoint);
    await Deno.mkdir(dirname(packed), { recursive: true });
    await Deno.copyFile(binary, packed);
    await Deno.chmod(packed, 0o755);
    await _run("tar", ["-czf", tarball, "-C", staging, "meta.json", entrypoint], "tar");
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

async function _run(command: string, args: string[], what: string): Promise<void> {
  const { code } = await new Deno.Command(command, { args, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${what} failed with exit code ${code}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", multiple: true },
      out: { type: "string", default: join(_ROOT, "dist") },
      "module-tarball": { type: "string" },
    },
    strict: true,
  });
  const moduleTarball = values["module-tarball"];
  try {
    const targets = values.target ??
      (moduleTarball ? [buildTarget((name) => Deno.env.get(name))] : Object.keys(TARGETS));
    const artifacts = await build({ targets, outDir: values.out });
    if (moduleTarball) {
      if (artifacts.length !== 1) throw new Error("--module-tarball needs exactly one target");
      await Deno.mkdir(dirname(resolve(moduleTarball)), { recursive: true });
      await Deno.copyFile(artifacts[0].tarball, moduleTarball);
    }
    for (const artifact of artifacts) {
      console.log(`${artifact.platform}: ${artifact.binary}, ${artifact.tarball}`);
    }
  } catch (error) {
    console.error(`build: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
