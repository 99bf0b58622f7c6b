import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildTarget,
  checkBinary,
  compileProgram,
  packTarball,
  readEntrypoint,
  TARGETS,
} from "../scripts/build.ts";
import { PRODUCTION_PERMISSIONS, type ProductionPermissions } from "../src/permissions.ts";
import { BUNDLE_DIR, UNBUNDLED_PACKAGES } from "../scripts/program_bundle.ts";

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

Deno.test("meta.json's markdown_link (module and each model) points at a README heading that exists", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  // GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    [...readme.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) =>
      heading.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replaceAll(" ", "-")
    ),
  );
  const links = [
    META.markdown_link,
    ...META.models.map((m: { markdown_link: string }) => m.markdown_link),
  ];
  for (const link of links) {
    const [file, anchor] = String(link).split("#");
    assert.equal(file, "README.md", String(link));
    assert.ok(anchors.has(anchor), `README.md has no heading for #${anchor}`);
  }
});

Deno.test("meta.json's build section installs Deno 2.9.6 from npm when missing and runs the build task for the build platform", () => {
  const { setup, build, path, arch } = META.build;
  assert.match(setup, /npm install --global deno@2\.9\.6/);
  assert.match(setup, /grep -q '\^deno 2\\\.9\\\.6 '/);
  // A cloud build may run on another CPU than VIAM_BUILD_ARCH names: the opt-in lets it pack a
  // binary it cannot run (its format still checked, a warning printed); on the same CPU the
  // binary is still run and checked.
  assert.equal(build, `deno task build --module-tarball ${path} --unchecked-cross`);
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
    run: p.allow_run ?? false,
    ffi: p.allow_ffi !== null,
    prompt: p.prompt,
    unstable: embedded.metadata.unstable_config.features,
  } as unknown as ProductionPermissions;
}

/** Runs `deno task build`'s script with `args` and the environment `env` added. */
async function runBuild(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(ROOT, "scripts/build.ts"), ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Every file under `dir`, relative to it (hidden ones included). */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) files.push(...await listFiles(dir, path));
    else files.push(path);
  }
  return files.sort();
}

async function withOutDir(fn: (out: string) => Promise<void>): Promise<void> {
  const out = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    await fn(out);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("the compiled binary bakes exactly the production set and embeds the whole bundle and the program's npm packages", async () => {
  const target = Deno.build.target;
  assert.ok(target in TARGETS, `this machine's target ${target} is not built`);
  await withOutDir(async (out) => {
    const binary = join(out, "data-mirror");
    await compileProgram(target, binary, { env: { DENORT_BIN: Deno.execPath() } });
    const embedded = readEmbedded(await Deno.readFile(binary));
    assert.deepEqual(bakedPermissions(embedded), { ...PRODUCTION_PERMISSIONS });
    for (const [name, value] of Object.entries(embedded.metadata.permissions)) {
      if (name.startsWith("deny_") || name === "ignore_read") assert.equal(value, null, name);
    }
    assert.deepEqual(embedded.metadata.argv, [], "no arguments may be baked in");

    // The entry, the Worker's entry (loaded by URL) and the chunks of the modes, imported
    // dynamically (src/program.ts, src/module/module_server.ts), with their source maps: every
    // file of the bundle, under the bundle's own layout.
    const bundle = await listFiles(join(ROOT, BUNDLE_DIR));
    assert.ok(bundle.includes("main.js") && bundle.includes("src/worker_main.js"), bundle.join());
    assert.ok(bundle.filter((file) => file.endsWith(".js")).length > 10, "no chunk per mode");
    const files = [...embedded.files];
    for (const file of bundle.filter((file) => !file.startsWith("."))) {
      assert.ok(
        files.some((path) => path === file || path.endsWith(`/${file}`)),
        `${file} is not embedded`,
      );
    }
    // The npm packages left out of the bundle are embedded beside it, loaded through the import
    // map as from source (the others are in the bundle).
    const npm = files.filter((file) => file.startsWith(".deno_compile_node_modules/"));
    assert.ok(UNBUNDLED_PACKAGES.includes("@connectrpc/connect-node"));
    for (const name of UNBUNDLED_PACKAGES) {
      assert.ok(
        npm.some((file) => file.includes(`/${name}/`)),
        `npm package ${name} is not embedded`,
      );
    }
    // Test tools stay out of the binary, the SDK too (the tests' reference client).
    assert.ok(!npm.some((file) => file.includes("/fast-check/")), "fast-check is embedded");
    assert.ok(!npm.some((file) => file.includes("/@viamrobotics/sdk/")), "the SDK is embedded");
  });
});

Deno.test("deno task build with a plain deno as the runtime (DENORT_BIN) fails, says so, and leaves no binary and no tarball", async () => {
  await withOutDir(async (out) => {
    const result = await runBuild(["--out", out], { DENORT_BIN: Deno.execPath() });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `build: the compiled binary for ${Deno.build.target} does not run data-mirror: ` +
          '`data-mirror --version` printed "deno 2\\.9\\.6 [^"]*" instead of ' +
          `"${DENO_JSON.version.replaceAll(".", "\\.")}"\\. It is a plain deno`,
      ),
    );
    assert.match(result.stderr, /It was deleted and no tarball was written/);
    assert.doesNotMatch(result.stderr, /Stack backtrace|at file:| {4}at /);
    assert.deepEqual(await listFiles(out), []);
  });
});

Deno.test("deno task build without the runtime download says what is missing, with no Deno error or backtrace", async () => {
  // A Deno cache without the runtime (the npm packages shared), and the download refused.
  await withOutDir(async (out) => {
    const denoDir = join(out, "deno-dir");
    await Deno.mkdir(denoDir);
    const info = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output()).stdout,
      ),
    );
    await Deno.symlink(info.npmCache, join(denoDir, "npm"));
    const dist = join(out, "dist");
    const result = await runBuild(["--out", dist], {
      DENO_DIR: denoDir,
      HTTPS_PROXY: "http://127.0.0.1:9",
      https_proxy: "http://127.0.0.1:9",
    });
    assert.equal(result.code, 1, result.stderr);
    const target = Deno.build.target;
    assert.equal(
      result.stderr.split("\n").filter((line) => line.startsWith("build: ")).length,
      1,
      result.stderr,
    );
    assert.match(
      result.stderr,
      new RegExp(
        `build: cannot compile for ${target}: deno compile needs Deno's runtime for that target ` +
          `\\(denort-${target}\\.zip from https://dl\\.deno\\.land/release/v2\\.9\\.6/, ` +
          "cached after the first download\\) and could not get it \\(.*refused.*\\)\\. " +
          "Build once on a machine that can reach dl\\.deno\\.land, or set DENORT_BIN",
      ),
    );
    assert.doesNotMatch(result.stderr, /Stack backtrace|Caused by|error sending request/);
    assert.deepEqual(await listFiles(dist), []);
  });
});

Deno.test("deno task build refuses a cross target it cannot run unless --unchecked-cross, and then refuses a runtime for the wrong CPU", async () => {
  const cross = Object.keys(TARGETS).find((target) =>
    target !== Deno.build.target && TARGETS[target].startsWith(`${Deno.build.os}/`)
  )!;
  await withOutDir(async (out) => {
    const refused = await runBuild(["--target", cross, "--out", out]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      `build: cannot check a binary for ${cross} on this ${Deno.build.target} machine (it cannot ` +
        `run here): build it on a ${TARGETS[cross]} machine, or pass --unchecked-cross to pack ` +
        "it without running it",
    );
    // The host's deno as the runtime of another CPU's binary: caught by its header.
    const wrongCpu = await runBuild(["--target", cross, "--unchecked-cross", "--out", out], {
      DENORT_BIN: Deno.execPath(),
    });
    assert.equal(wrongCpu.code, 1, wrongCpu.stderr);
    assert.match(
      wrongCpu.stderr,
      new RegExp(
        `build: the compiled binary for ${cross} is not a ${TARGETS[cross]} executable \\(ELF, ` +
          "CPU 0x[0-9a-f]+\\): its runtime \\(DENORT_BIN\\?\\) is for another platform",
      ),
    );
    assert.deepEqual(await listFiles(out), []);
  });
});

Deno.test("deno task build refuses a plain deno for the other CPU as a cross target's runtime, and drops a stale --module-tarball", async () => {
  const cross = "aarch64-unknown-linux-gnu";
  if (Deno.build.target === cross) return; // the stand-in below is for an x86_64 host
  await withOutDir(async (out) => {
    // This machine's deno with its ELF header saying arm64: what an arm64 deno from npm would be,
    // pointed at by DENORT_BIN. Its header passes; it is still deno, not denort.
    const standIn = join(out, "deno-arm64");
    await Deno.copyFile(Deno.execPath(), standIn);
    using file = await Deno.open(standIn, { write: true });
    await file.seek(18, Deno.SeekMode.Start);
    await file.write(new Uint8Array([0xb7, 0x00]));
    const dist = join(out, "dist");
    const tarball = join(out, "module.tar.gz");
    await Deno.writeTextFile(tarball, "an earlier build");
    const result = await runBuild(
      ["--target", cross, "--unchecked-cross", "--out", dist, "--module-tarball", tarball],
      { DENORT_BIN: standIn },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `build: the compiled binary for ${cross} is a plain deno, not data-mirror: its runtime ` +
          "\\(DENORT_BIN\\?\\) is a deno executable, not denort",
      ),
    );
    assert.deepEqual(await listFiles(dist), []);
    assert.equal(await Deno.lstat(tarball).then(() => "present", () => "gone"), "gone");
  });
});

Deno.test("checkBinary runs the binary for this machine and accepts only the program's version; packTarball packs it executable beside meta.json", async () => {
  await withOutDir(async (out) => {
    const script = (name: string, body: string) => {
      const path = join(out, name);
      Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`);
      Deno.chmodSync(path, 0o755);
      return path;
    };
    const program = script("program", `echo ${DENO_JSON.version}`);
    const plainDeno = script("plain-deno", 'echo "deno 2.9.6 (stable, release)"; echo "v8 x"');
    const target = Deno.build.target;
    assert.equal(await checkBinary(program, target), true);
    await assert.rejects(
      () => checkBinary(plainDeno, target),
      /printed "deno 2\.9\.6 \(stable, release\)" instead of .* It is a plain deno/,
    );

    const entrypoint = await readEntrypoint();
    const tarball = join(out, "module.tar.gz");
    await packTarball(program, entrypoint, tarball);
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
  });
});
