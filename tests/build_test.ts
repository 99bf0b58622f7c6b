import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildTarget, readEntrypoint, TARGETS, WORKER_ENTRY } from "../scripts/build.ts";
import { PRODUCTION_PERMISSIONS, type ProductionPermissions } from "../src/permissions.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const META = JSON.parse(await Deno.readTextFile(join(ROOT, "meta.json")));
const DENO_JSON = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));

// ---------------------------------------------------------------------------------------------
// meta.json

Deno.test("meta.json declares the module, both generic APIs of the model, and its entrypoint", () => {
  assert.equal(META.module_id, "viam-soleng:data-mirror");
  assert.equal(META.visibility, "public");
  assert.match(META.url, /^https:\/\/github\.com\/viam-soleng\//);
  assert.ok(META.description.length > 20);
  assert.deepEqual(
    META.models.map((model: { api: string; model: string }) => [model.api, model.model]),
    [
      ["rdk:service:generic", "viam-soleng:data:mirror"],
      ["rdk:component:generic", "viam-soleng:data:mirror"],
    ],
  );
  for (const model of META.models) assert.ok(model.short_description.length > 10);
  assert.equal(META.entrypoint, "data-mirror");
});

Deno.test("meta.json's build section installs Deno 2.9.6 from npm when missing and runs the build task for the build platform", () => {
  const { setup, build, path, arch } = META.build;
  assert.match(setup, /npm install --global deno@2\.9\.6/);
  assert.match(setup, /grep -q '\^deno 2\\\.9\\\.6 '/);
  assert.equal(build, `deno task build --module-tarball ${path}`);
  assert.deepEqual(arch, ["linux/amd64", "linux/arm64"]);
  for (const platform of arch) assert.ok(Object.values(TARGETS).includes(platform), platform);
  assert.ok(DENO_JSON.tasks.build.command.endsWith("scripts/build.ts"));
});

Deno.test("buildTarget maps the registry's VIAM_BUILD_OS / VIAM_BUILD_ARCH to a deno compile target", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    buildTarget(env({ VIAM_BUILD_OS: "linux", VIAM_BUILD_ARCH: "amd64" })),
    "x86_64-unknown-linux-gnu",
  );
  assert.equal(
    buildTarget(env({ VIAM_BUILD_OS: "linux", VIAM_BUILD_ARCH: "arm64" })),
    "aarch64-unknown-linux-gnu",
  );
  assert.equal(
    buildTarget(env({ VIAM_BUILD_OS: "darwin", VIAM_BUILD_ARCH: "arm64" })),
    "aarch64-apple-darwin",
  );
  assert.equal(buildTarget(env({})), Deno.build.target);
  assert.throws(
    () => buildTarget(env({ VIAM_BUILD_OS: "windows", VIAM_BUILD_ARCH: "amd64" })),
    /no target for platform windows\/amd64/,
  );
});

// ---------------------------------------------------------------------------------------------
// deno task build, for this machine's target. `DENORT_BIN` (the runtime deno compile would
// download) is this deno: the output then runs as plain deno, but carries exactly what the build
// embeds and bakes in, which is what is checked here.

/** What `deno compile` wrote into the executable (Deno 2.9's layout). */
interface Embedded {
  /** The compile options, permissions among them. */
  metadata: {
    argv: string[];
    permissions: Record<string, string[] | boolean | null>;
    unstable_config: { features: string[] };
  };
  /** Every embedded file, as a path relative to the project (npm packages under their name). */
  files: Set<string>;
}

/**
 * Reads the payload `deno compile` appends: after the marker `d3n0l4nd` twice, the metadata JSON
 * (8-byte little-endian length first), then binary sections, then the virtual file system as JSON
 * (length first), whose entries are `{Dir: {n, e}}` and `{File: {n}}`.
 */
function readEmbedded(bytes: Uint8Array): Embedded {
  // One character per byte, so that string offsets are byte offsets.
  const text = new TextDecoder("latin1").decode(bytes);
  const marker = text.lastIndexOf("d3n0l4ndd3n0l4nd");
  assert.ok(marker >= 0, "no deno compile payload");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthAt = (offset: number) => Number(view.getBigUint64(offset, true));
  const metaStart = marker + 16 + 8;
  const metaLength = lengthAt(marker + 16);
  const utf8 = (start: number, length: number) =>
    new TextDecoder().decode(bytes.subarray(start, start + length));
  const metadata = JSON.parse(utf8(metaStart, metaLength));
  const vfs = _lengthPrefixedJsonArray(text, metaStart + metaLength, (start, length) => {
    if (start + length > bytes.length) return undefined;
    return utf8(start, length);
  }, lengthAt);
  const files = new Set<string>();
  const walk = (entries: Record<string, { n: string; e?: unknown[] }>[], prefix: string) => {
    for (const entry of entries) {
      const [[kind, { n, e }]] = Object.entries(entry);
      if (kind === "Dir") walk(e as typeof entries, `${prefix}${n}/`);
      else files.add(`${prefix}${n}`);
    }
  };
  walk(vfs, "");
  return { metadata, files };
}

/**
 * The first JSON array after `from` that is preceded by its own length (the virtual file system;
 * the sections before it are binary).
 */
function _lengthPrefixedJsonArray(
  text: string,
  from: number,
  slice: (start: number, length: number) => string | undefined,
  lengthAt: (offset: number) => number,
): Record<string, { n: string; e?: unknown[] }>[] {
  for (let at = text.indexOf('[{"', from); at >= 0; at = text.indexOf('[{"', at + 1)) {
    const candidate = slice(at, lengthAt(at - 8));
    if (candidate === undefined) continue;
    try {
      return JSON.parse(candidate);
    } catch {
      // Not the file system: bytes that happen to look like the start of JSON.
    }
  }
  assert.fail("no embedded file system");
}

/** The production set as the metadata records it (a flag without a list is an empty list). */
function bakedPermissions(embedded: Embedded): ProductionPermissions {
  const p = embedded.metadata.permissions;
  const all = (value: unknown) => Array.isArray(value) && value.length === 0;
  return {
    net: all(p.allow_net),
    read: all(p.allow_read),
    write: all(p.allow_write),
    env: p.allow_env,
    ignoreEnv: all(p.ignore_env),
    sys: p.allow_sys,
    run: p.allow_run !== null,
    ffi: p.allow_ffi !== null,
    prompt: p.prompt,
    unstable: embedded.metadata.unstable_config.features,
  } as unknown as ProductionPermissions;
}

/** The npm packages the program imports: bare specifiers under src/ mapped through deno.json. */
async function programNpmPackages(): Promise<Set<string>> {
  const packages = new Set<string>();
  const imports = DENO_JSON.imports as Record<string, string>;
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const source = await Deno.readTextFile(path);
        for (
          const [, specifier] of source.matchAll(/^import (?!type )[^;]*? from "([^".][^"]*)";/gms)
        ) {
          const target = imports[specifier];
          if (target?.startsWith("npm:")) packages.add(target.slice(4).replace(/@[^@/]+$/, ""));
        }
      }
    }
  };
  await walk(join(ROOT, "src"));
  return packages;
}

Deno.test("deno task build bakes exactly the production set into the binary, embeds the Worker, and packs meta.json with an executable entrypoint", async () => {
  const target = Deno.build.target;
  assert.ok(target in TARGETS, `this machine's target ${target} is not built`);
  const out = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        join(ROOT, "scripts/build.ts"),
        "--target",
        target,
        "--out",
        out,
      ],
      env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));

    const entrypoint = await readEntrypoint();
    const binary = join(out, target, entrypoint);
    assert.ok(((await Deno.stat(binary)).mode! & 0o111) !== 0, "the binary is not executable");
    const embedded = readEmbedded(await Deno.readFile(binary));
    assert.deepEqual(bakedPermissions(embedded), { ...PRODUCTION_PERMISSIONS });
    for (const [name, value] of Object.entries(embedded.metadata.permissions)) {
      if (name.startsWith("deny_") || name === "ignore_read") assert.equal(value, null, name);
    }
    assert.deepEqual(embedded.metadata.argv, [], "no arguments may be baked in");

    for (const file of ["main.ts", WORKER_ENTRY, "src/program.ts", "src/permissions.ts"]) {
      assert.ok(embedded.files.has(file), `${file} is not embedded`);
    }
    const npm = [...embedded.files].filter((file) =>
      file.startsWith(".deno_compile_node_modules/")
    );
    const packages = await programNpmPackages();
    assert.ok(packages.has("@viamrobotics/sdk"));
    for (const name of packages) {
      assert.ok(
        npm.some((file) => file.includes(`/${name}/`)),
        `npm package ${name} is not embedded`,
      );
    }
    // Test tools stay out of the binary.
    assert.ok(!npm.some((file) => file.includes("/fast-check/")), "fast-check is embedded");

    const tarball = join(out, target, "module.tar.gz");
    const listing = await new Deno.Command("tar", { args: ["-tvzf", tarball] }).output();
    assert.equal(listing.code, 0);
    const entries = new TextDecoder().decode(listing.stdout).trim().split("\n")
      .map((line) => line.split(/\s+/))
      .map((fields) => ({ mode: fields[0], name: fields.at(-1) }));
    assert.deepEqual(entries.map((entry) => entry.name).sort(), [entrypoint, "meta.json"].sort());
    const packed = entries.find((entry) => entry.name === entrypoint)!;
    assert.match(packed.mode, /^-rwx/, "the entrypoint must be a regular, executable file");
    const packedMeta = await new Deno.Command("tar", { args: ["-xzOf", tarball, "meta.json"] })
      .output();
    assert.deepEqual(JSON.parse(new TextDecoder().decode(packedMeta.stdout)), META);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
