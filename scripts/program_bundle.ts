/**
 * The program as it runs in production: `main.ts` and its Worker (`src/worker_main.ts`) bundled by
 * `deno bundle` (esbuild) into minified JavaScript under `dist/program/`, one file per entry and a
 * chunk per dynamically imported mode. `deno task mirror`, the compiled binary, the demo, the
 * benchmarks and the end-to-end tests all run it.
 *
 * Why: V8 keeps the source text of every module it loaded for as long as the program runs (it
 * compiles functions lazily, from that text). Run from TypeScript, that text is Deno's emit, which
 * keeps every comment and ends in an inline source map holding the TypeScript again (V8 keeps the
 * map's URL as a second string), two bytes a character in a file with one character outside
 * Latin-1: 4.1 MiB of the Worker's heap in a sync. npm packages loaded by Deno bring their comments
 * and Deno's resolution of them too. Measured in alternated pairs against the program run from
 * source (20 ms a request, the benchmark's sets, four pairs each): the 10,020-file fresh copy 101.5
 * MB against 107.1, the no-op pass 89.6 against 95.0, in the same time.
 *
 * Names of classes and functions are kept (error messages and stack traces show them); a stack
 * trace's positions are the bundle's, which the source maps written beside it (`*.js.map`) map
 * back to the TypeScript.
 *
 * `deno task bundle` makes it; {@linkcode programBundle} remakes it first whenever a source
 * (`main.ts`, `src/`, `deno.json`, `deno.lock`) or Deno itself differs from what it was made from,
 * so nothing runs a stale bundle.
 *
 * @example
 * ```ts
 * import { programBundle } from "./program_bundle.ts";
 *
 * const main = await programBundle(); // file:///…/dist/program/main.js
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository this script belongs to. */
const _REPO = fileURLToPath(new URL("../", import.meta.url));

/** The bundle's folder, relative to the repository. */
export const BUNDLE_DIR = "dist/program";

/**
 * The npm packages left out of the bundle, for Deno to load through deno.json's import map when
 * they are imported, as it does from source: CommonJS code that requires one of Node's built-ins
 * (`cli-progress` `node:events`, `mime-types` `node:path`, undici under `connect-node`
 * `node:assert`), which code in an ES module bundle cannot do. Each is imported only by a mode or a
 * feature that needs it (the module server, a progress bar on a terminal, a push's MIME types).
 * A bundle in which such a require is left fails to be made ({@linkcode bundleProgram}).
 */
export const UNBUNDLED_PACKAGES: readonly string[] = [
  "@connectrpc/connect-node",
  "cli-progress",
  "mime-types",
];

/** What esbuild's stand-in for `require` throws: a bundled module requires one at run time. */
const _RUNTIME_REQUIRE = "Dynamic require of";

/** What the bundle records of its inputs, to know whether it is still theirs. */
const _INPUTS_FILE = ".inputs";

/** The lock file (in `dist/`) that lets one process at a time make the bundle. */
const _LOCK_FILE = ".program_bundle.lock";

/** Options of {@linkcode programBundle} and {@linkcode bundleProgram}. */
export interface BundleOptions {
  /** The repository to bundle (default: this one). */
  root?: string;
  /** Called when {@linkcode programBundle} finds the bundle stale, before it bundles. */
  onBundle?: () => void;
}

/**
 * The URL of the bundle's `main.js`, made again first if it is missing or was made from other
 * sources (or another Deno) than the ones there now.
 *
 * @throws {Error} with `deno bundle`'s own message when the bundle cannot be made.
 */
export async function programBundle(options: BundleOptions = {}): Promise<URL> {
  const root = options.root ?? _REPO;
  if (await _isCurrent(root)) return _mainOf(root);
  // Stale: one process bundles at a time (two `deno task mirror` started together, a test run
  // beside one), and a process that waited finds the bundle the other made.
  using _lock = await _lockBundling(root);
  const inputs = await _inputsOf(root);
  if (!(await _isCurrent(root, inputs))) {
    options.onBundle?.();
    await _bundle(root, inputs);
  }
  return _mainOf(root);
}

/** Whether the bundle was made from `inputs` (default: the sources as they are now). */
async function _isCurrent(root: string, inputs?: string): Promise<boolean> {
  const recorded = await Deno.readTextFile(join(root, BUNDLE_DIR, _INPUTS_FILE)).catch(() => "");
  return recorded === (inputs ?? await _inputsOf(root));
}

/** Makes the bundle again, whatever is there, and returns the URL of its `main.js`. */
export async function bundleProgram(options: BundleOptions = {}): Promise<URL> {
  const root = options.root ?? _REPO;
  using _lock = await _lockBundling(root);
  await _bundle(root, await _inputsOf(root));
  return _mainOf(root);
}

/** Waits until no other process is making the bundle; closing the file lets the next one go. */
async function _lockBundling(root: string): Promise<Deno.FsFile> {
  await Deno.mkdir(join(root, "dist"), { recursive: true });
  const lock = await Deno.open(join(root, "dist", _LOCK_FILE), { create: true, write: true });
  try {
    await lock.lock(true);
  } catch (error) {
    lock.close();
    throw error;
  }
  return lock;
}

function _mainOf(root: string): URL {
  return pathToFileURL(join(root, BUNDLE_DIR, "main.js"));
}

/**
 * Bundles into a fresh folder beside the bundle, then puts it in the bundle's place: a bundle that
 * failed halfway never replaces a whole one. `inputs` is taken before bundling, so a source edited
 * meanwhile makes the next call bundle again.
 */
async function _bundle(root: string, inputs: string): Promise<void> {
  const out = join(root, BUNDLE_DIR);
  const building = `${out}.${Deno.pid}.tmp`;
  await _removeIfPresent(building);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--config",
      join(root, "deno.json"),
      "--platform",
      "deno",
      "--format",
      "esm",
      "--minify",
      // Class and function names stay: error messages and stack traces show them.
      "--keep-names",
      // One chunk per mode, loaded when a mode starts: a sync does not load the module server.
      "--code-splitting",
      ...UNBUNDLED_PACKAGES.flatMap((name) => ["--external", name]),
      // Maps beside the files for a developer's tools, named by no file: Deno reads a map a file
      // names when it loads the file, and keeps it (1-1.5 MB).
      "--sourcemap",
      "external",
      "--outdir",
      building,
      join(root, "main.ts"),
      join(root, "src", "worker_main.ts"),
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    await _removeIfPresent(building);
    throw new Error(
      `deno bundle failed (exit ${code}):\n${new TextDecoder().decode(stderr).trim()}`,
    );
  }
  for (const file of await _filesUnder(building, ".")) {
    if (!file.endsWith(".js")) continue;
    const code = await Deno.readTextFile(join(building, file));
    const problem = code.includes(_RUNTIME_REQUIRE)
      ? `the bundle's ${file} requires a module at run time, which fails when that code runs: ` +
        "add the npm package that does it to UNBUNDLED_PACKAGES in scripts/program_bundle.ts"
      : _droppedDisposals(file, code, await Deno.readTextFile(join(building, `${file}.map`)));
    if (problem !== undefined) {
      await _removeIfPresent(building);
      throw new Error(problem);
    }
  }
  await Deno.writeTextFile(join(building, _INPUTS_FILE), inputs);
  await _removeIfPresent(out);
  await Deno.rename(building, out);
}

/** A `using` (or `await using`) declaration in TypeScript source, at the start of a line. */
const _SOURCE_USING = /^\s*(?:await\s+)?using\s+[A-Za-z_$][\w$]*\s*=/gm;
/** The same in minified output, where one may name several (`await using a=x(),b=y()`). */
const _BUNDLED_USING = /(?<![\w$.])using\s+[A-Za-z_$][\w$]*\s*=/g;

/**
 * Why the bundle's `file` cannot ship when it holds fewer `using` declarations than the sources
 * its map says it was made of, else undefined. esbuild's minifier (Deno 2.9.6 bundles with 0.25.5;
 * evanw/esbuild#4482) drops a `using` whose binding is used once, in the statement after it, and
 * keeps the call: the resource is never disposed of. Four did so before 2026-12-08 (a folder's and
 * a file's fsync, the push journal's, a claim's), and the module leaked two file descriptors a
 * pass that changed the mirror: out of them in about a week at a pass a minute.
 */
function _droppedDisposals(file: string, code: string, map: string): string | undefined {
  const { sources, sourcesContent } = JSON.parse(map) as {
    sources: string[];
    sourcesContent?: (string | null)[];
  };
  const inSources = (sourcesContent ?? []).map((text) => text?.match(_SOURCE_USING)?.length ?? 0);
  const expected = inSources.reduce((sum, n) => sum + n, 0);
  let found = 0;
  for (const match of code.matchAll(_BUNDLED_USING)) {
    found += _declarators(code, match.index + match[0].length);
  }
  if (found >= expected) return undefined;
  const holding = sources.filter((_, i) => inSources[i] > 0).join(", ");
  return `the bundle's ${file} holds ${found} of the ${expected} \`using\` declarations of its ` +
    `sources (${holding}): the minifier dropped a disposal (a \`using\` whose binding is used ` +
    "once, in the next statement; evanw/esbuild#4482). Close that resource in a try/finally.";
}

/**
 * How many declarators the declaration whose first initializer starts at `from` in minified `code`
 * has: one, and one more for each comma outside brackets and string literals before the `;` (or
 * the closing bracket) that ends it. The minifier joins consecutive declarations into one.
 */
function _declarators(code: string, from: number): number {
  let count = 1;
  let depth = 0;
  for (let i = from; i < code.length; i++) {
    const c = code[i];
    if (c === '"' || c === "'" || c === "`") {
      // To the closing quote (a template's `${...}` holding a backtick is not told apart).
      for (i++; i < code.length && code[i] !== c; i++) if (code[i] === "\\") i++;
    } else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      if (--depth < 0) break;
    } else if (depth === 0 && c === ";") break;
    else if (depth === 0 && c === ",") count++;
  }
  return count;
}

/**
 * The bundle's inputs as one string: Deno's version, then the path, size and modification time of
 * `deno.json`, `deno.lock`, `main.ts` and every file under `src/` (npm packages are pinned by the
 * lock file).
 */
async function _inputsOf(root: string): Promise<string> {
  const files = ["deno.json", "deno.lock", "main.ts", ...await _filesUnder(root, "src")];
  const lines = [`deno ${Deno.version.deno}`];
  for (const file of files.sort()) {
    const info = await Deno.stat(join(root, file)).catch(() => null);
    lines.push(`${file} ${info?.size ?? "-"} ${info?.mtime?.getTime() ?? "-"}`);
  }
  return lines.join("\n") + "\n";
}

async function _filesUnder(root: string, dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(root, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await _filesUnder(root, path));
    else files.push(path);
  }
  return files;
}

async function _removeIfPresent(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

if (import.meta.main) {
  // `deno task bundle` (and before `deno task mirror`): remakes the bundle if its sources changed,
  // saying so on stderr; `--force`: always.
  const say = () => console.error(`data-mirror: bundling the program into ${BUNDLE_DIR}/`);
  try {
    if (Deno.args.includes("--force")) {
      say();
      await bundleProgram();
    } else {
      await programBundle({ onBundle: say });
    }
  } catch (error) {
    console.error(
      `data-mirror: cannot make the bundle in ${BUNDLE_DIR}/: ${(error as Error).message}`,
    );
    Deno.exit(1);
  }
}
