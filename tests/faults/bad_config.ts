/**
 * Row 9: bad configuration, from files (`validate --config` and `sync --config`) and from
 * viam-server (ValidateConfig through the module protocol): wrong types, missing keys, huge lists
 * and values, escaping and symlinked `mirror_path`, `sync_frequency: 1e-300`, non-UTF-8 bytes, a
 * file of secrets that is not JSON, and special files (`/dev/zero`, a fifo, a directory). Holds
 * when each is refused within seconds with an error naming the field (or the file), no output is
 * larger than 64 KiB, no file content is quoted, and the module stays up and serves its good
 * resource.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import type { ProgramOutput } from "../_program.ts";
import { componentConfig, fromStruct, toStruct } from "../module/_viam_client.ts";
import type { FaultRig } from "./fault_rig.ts";
import { startModuleProcess } from "./module_process.ts";
import { outputTail } from "./pass_output.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

/** Options of {@linkcode badConfig}. */
export interface BadConfigOptions {
  /** Entries of the huge list (default 100,000). */
  hugeListLength?: number;
  /** Bytes of the huge attribute name and value (default 2,000,000). */
  hugeValueBytes?: number;
}

/** A refused config must be refused this fast (a program reading /dev/zero grows ~200 MB/s). */
const _LIMIT_MS = 15_000;
/** No output of a refusal may be larger. */
const _MAX_OUTPUT = 64 * 1024;
const _SHADOW = "root:*:20211:0:99999:7:::SHADOW-CONTENT-7f3a\ndaemon:*:20211:0:99999:7:::\n";

interface _FileCase {
  name: string;
  /** Makes the config file in the sandbox; returns its path. */
  make(sandbox: Sandbox): Promise<string>;
  /** What the error must name (a field, or what is wrong with the file); absent: may be valid. */
  names?: RegExp;
  /** Text that must not appear in any output (file content). */
  never?: string[];
  /** Also run `sync --config` (default: `validate` only, which reads and checks the same way). */
  sync?: boolean;
}

/** Runs row 9. */
export async function badConfig(rig: FaultRig, options: BadConfigOptions = {}): Promise<RowReport> {
  rig.serve(describeDataset([{ name: "c", count: 2, tags: ["cfg"] }]));
  const hugeList = options.hugeListLength ?? 100_000;
  const hugeBytes = options.hugeValueBytes ?? 2_000_000;
  const key = { app_api_key_id: rig.key.id, app_api_key: rig.key.key, app_url: rig.platform.url };
  const good = { ...key, tags: ["cfg"], sync_frequency: 3600 };
  const json = (name: string, value: unknown) => async (sandbox: Sandbox) => {
    const path = join(sandbox.dir, "config", name);
    await sandbox.writeFile(path, JSON.stringify(value));
    return path;
  };
  const attributeCases: {
    name: string;
    attributes: Record<string, unknown>;
    names?: RegExp;
    sync?: boolean;
  }[] = [
    {
      name: "wrong types",
      attributes: { ...good, concurrency: "abc", tags: 5, delete: "yes" },
      names: /concurrency/,
    },
    { name: "missing key", attributes: { tags: ["cfg"] }, names: /app_api_key/ },
    {
      name: "sync_frequency 1e-300",
      attributes: { ...good, sync_frequency: 1e-300 },
      names: /sync_frequency/,
    },
    {
      name: "escaping mirror_path",
      attributes: { ...good, mirror_path: "../escape" },
      names: /mirror_path/,
    },
    {
      name: "absolute mirror_path",
      attributes: { ...good, mirror_path: "/etc" },
      names: /mirror_path/,
    },
    {
      name: "mirror_path packages",
      attributes: { ...good, mirror_path: "packages" },
      names: /mirror_path/,
    },
    {
      name: "mirror_path symlinked to the Viam home",
      attributes: { ...good, mirror_path: "loop" },
      names: /mirror_path/,
      sync: true,
    },
    {
      name: "huge list",
      attributes: { ...good, tags: Array.from({ length: hugeList }, (_, i) => `t${i}`) },
    },
    {
      name: "huge unknown attribute name",
      attributes: { ...good, ["n".repeat(hugeBytes)]: 1 },
      sync: true,
    },
    {
      name: "huge mirror_path",
      attributes: { ...good, mirror_path: "m".repeat(hugeBytes) },
      names: /mirror_path/,
    },
  ];
  const fileCases: _FileCase[] = [
    ...attributeCases.map((c) => ({
      name: c.name,
      make: json(`${c.name}.json`, c.attributes),
      names: c.names,
      sync: c.sync,
    })),
    {
      name: "non-UTF-8 bytes",
      make: async (sandbox) => {
        const path = join(sandbox.dir, "config", "latin1.json");
        await sandbox.writeFile(
          path,
          new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0xe9, 0x22, 0x3a, 0x31, 0x7d]),
        );
        return path;
      },
      names: /UTF-8|utf8|encoding|JSON|latin1\.json/i,
    },
    {
      name: "a file of secrets, not JSON",
      make: async (sandbox) => {
        const path = join(sandbox.dir, "config", "shadow");
        await sandbox.writeFile(path, _SHADOW);
        return path;
      },
      names: /JSON|shadow/i,
      sync: true,
      never: ["root:*", "SHADOW-CONTENT", "daemon:*"],
    },
    {
      // Granted to the confined program as its config: the self-check must not take that grant for
      // a broad one (it once refused to start, with no JSON and exit 1).
      name: "/etc/passwd",
      make: () => Promise.resolve("/etc/passwd"),
      names: /\/etc\/passwd/,
      sync: true,
      never: ["root:x:", "/bin/bash"],
    },
    {
      name: "/etc, a system folder",
      make: () => Promise.resolve("/etc"),
      names: /\/etc/,
    },
    {
      name: "/dev/zero",
      make: () => Promise.resolve("/dev/zero"),
      names: /\/dev\/zero/,
      sync: true,
    },
    {
      name: "a fifo",
      make: async (sandbox) => {
        const path = join(sandbox.dir, "config", "fifo.json");
        await Deno.mkdir(join(path, ".."), { recursive: true });
        await new Deno.Command("mkfifo", { args: [path] }).output();
        return path;
      },
      names: /fifo\.json/,
      sync: true,
    },
    {
      name: "a directory",
      make: async (sandbox) => {
        const path = join(sandbox.dir, "config", "a-directory.json");
        await Deno.mkdir(path, { recursive: true });
        return path;
      },
      names: /a-directory\.json/,
    },
  ];

  const problems: string[] = [];
  let refused = 0;
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-config-" });
  await Deno.symlink(".", join(sandbox.home, "loop"));
  const paths: string[] = [];
  for (const c of fileCases) paths.push(await c.make(sandbox));
  const before = await sandbox.snapshot();
  const runOne = async (c: _FileCase, path: string, command: string): Promise<void> => {
    const args = command === "sync"
      ? ["sync", "--config", path, "--json"]
      : ["validate", "--config", path];
    const output = await _runLimited(rig, args, sandbox.home);
    const where = `${command} --config (${c.name})`;
    const text = output.stdout + output.stderr;
    const found: string[] = [];
    if (output.signal === "SIGKILL") found.push(`still running after ${_LIMIT_MS} ms`);
    if (output.stdout.length + output.stderr.length > _MAX_OUTPUT) {
      found.push(`${output.stdout.length + output.stderr.length} characters of output`);
    }
    for (const secret of c.never ?? []) {
      if (text.includes(secret)) found.push(`quotes the file's content (${secret})`);
    }
    if (command === "sync" && !_isOneJsonDocument(output.stdout)) {
      found.push("stdout is not one JSON document (--json)");
    }
    if (c.names !== undefined) {
      if (output.code !== 2) found.push(`exit ${output.code}, not 2`);
      if (!c.names.test(output.stderr)) found.push(`the error does not name ${c.names}`);
    }
    if (found.length === 0) refused++;
    else problems.push(`${where}: ${found.join("; ")}: ${outputTail(output).slice(0, 900)}`);
  };
  // Three at a time; the special files that can hang a reader (a fifo, /dev/zero) last, together,
  // so that one spinning on /dev/zero does not starve the others of their time limit.
  const special = new Set(["/dev/zero", "a fifo"]);
  const runsOf = (cases: _FileCase[]) =>
    cases.flatMap((c) =>
      (c.sync ? ["validate", "sync"] : ["validate"]).map((command) => () =>
        runOne(c, paths[fileCases.indexOf(c)], command)
      )
    );
  const ordinary = runsOf(fileCases.filter((c) => !special.has(c.name)));
  const hanging = runsOf(fileCases.filter((c) => special.has(c.name)));
  for (let i = 0; i < ordinary.length; i += 3) {
    await Promise.all(ordinary.slice(i, i + 3).map((run) => run()));
  }
  await Promise.all(hanging.map((run) => run()));
  const runs = ordinary.length + hanging.length;
  for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
    if (!change.includes("data_mirror")) problems.push(`outside the mirror: ${change}`);
  }

  // The same attributes from viam-server: ValidateConfig, while a good resource runs.
  let moduleRefused = 0;
  let moduleCases = 0;
  await using module = await startModuleProcess(rig, sandbox.home);
  const { client } = module;
  const api = "rdk:service:generic";
  await client.call(client.module, "AddResource", {
    config: componentConfig("good", api, good),
    dependencies: [],
  });
  for (const c of attributeCases) {
    if (c.names === undefined && JSON.stringify(c.attributes).length > 4_000_000) continue;
    moduleCases++;
    const request = { config: componentConfig("bad", api, c.attributes) };
    let details = "";
    let code = grpc.status.OK;
    try {
      await client.call(client.module, "ValidateConfig", request, 20_000);
    } catch (error) {
      ({ code, details } = error as { code: grpc.status; details: string });
    }
    rig.checkNoSecret(`ValidateConfig's error (${c.name})`, details);
    const found: string[] = [];
    if (details.length > _MAX_OUTPUT) found.push(`${details.length} characters of error`);
    if (c.names !== undefined && (code === grpc.status.OK || !c.names.test(details))) {
      found.push(`code ${code}, details ${details.slice(0, 300)}`);
    }
    if (found.length === 0) moduleRefused++;
    else problems.push(`ValidateConfig (${c.name}): ${found.join("; ")}`);
  }
  // Still up, still serving the good resource.
  try {
    await client.ready();
    const status = fromStruct(
      (await client.call(client.service, "DoCommand", {
        name: "good",
        command: toStruct({ command: "status" }),
      })).result,
    );
    rig.checkNoSecret("the good resource's status", JSON.stringify(status));
    if (typeof status.state !== "string") {
      problems.push(`status of the good resource: ${JSON.stringify(status)}`);
    }
  } catch (error) {
    problems.push(`the module stopped serving after bad configs: ${JSON.stringify(error)}`);
  }
  if (!module.running()) problems.push("the module exited");
  // How it ends on SIGTERM is not this row's promise (module_e2e_test.ts checks it): reported only.
  const exit = await module.stop();
  return {
    row: 9,
    fault: "bad config from files and from viam-server",
    figure: `${refused}/${runs} bad config files handled (refused naming the field or file, ` +
      `bounded output, no content quoted); ${moduleRefused}/${moduleCases} through ValidateConfig; ` +
      `the module stayed up (exit ${exit.code} on SIGTERM)`,
    problems,
  };
}

/** Runs the program; SIGKILLs it after {@linkcode _LIMIT_MS}. */
async function _runLimited(rig: FaultRig, args: string[], home: string): Promise<ProgramOutput> {
  await using program = rig.spawn(args, { home, keyInEnv: false, appUrl: false });
  const timer = setTimeout(() => program.kill("SIGKILL"), _LIMIT_MS);
  try {
    return await program.done;
  } finally {
    clearTimeout(timer);
  }
}

function _isOneJsonDocument(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
