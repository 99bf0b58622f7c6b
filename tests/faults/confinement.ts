/**
 * Row 11: under the production permissions, writes outside the allowed tree, reading
 * `/etc/passwd`, spawning a process other than `sync`, reading an unlisted variable all fail. A
 * probe (`tests/fixtures/probe_worker.ts`) runs in the program's place inside the production
 * bootstrap, started two ways: through the runner the demo uses (`scripts/mirror.ts`, a parent
 * process that passes signals on) and directly under the production flags on `main.ts`'s
 * bootstrap (as `deno task mirror` and the compiled binary start it), in CLI mode and in module
 * mode. Holds when every forbidden attempt fails, the allowed ones succeed, and the sandbox
 * outside the Viam home is unchanged.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { PRODUCTION_FLAGS } from "../../src/permissions.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

const _FIXTURES = new URL("../fixtures/", import.meta.url);
const _DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));
/** What the probe must be allowed to do (`ok`). */
const _ALLOWED = [
  "selfCheck",
  "writeInside",
  "renameInside",
  "statfs",
  "readConfig",
  "listenSocket",
  "syncMirror",
  "osRelease",
];
/** What it must be refused. */
const _FORBIDDEN = [
  "writeOutside",
  "readPasswd",
  "run",
  "runShell",
  "readBesideConfig",
  "writeBesideSocketDir",
];

/** Runs row 11. */
export async function confinement(): Promise<RowReport> {
  const problems: string[] = [];
  let refused = 0;
  let attempts = 0;
  const starts: { name: string; args: string[] }[] = [
    {
      name: "scripts/mirror.ts (the demo's runner)",
      args: [
        "run",
        "--allow-run",
        "--allow-read",
        fileURLToPath(new URL("probe_mirror.ts", _FIXTURES)),
      ],
    },
    {
      name: "the binary's flags",
      args: [
        "run",
        ...PRODUCTION_FLAGS,
        "--config",
        _DENO_JSON,
        fileURLToPath(new URL("probe_main.ts", _FIXTURES)),
      ],
    },
  ];
  for (const start of starts) {
    for (const mode of ["cli", "module"] as const) {
      await using sandbox = await Sandbox.create({ prefix: "data-mirror-confine-" });
      sandbox.own("viam/probe");
      const config = join(sandbox.dir, "config", "cfg.json");
      await sandbox.writeFile(config, "{}");
      await sandbox.writeFile(join(sandbox.dir, "config", "beside.txt"), "not granted");
      const socketDir = join(sandbox.dir, "sockets", "viam-module-probe");
      await Deno.mkdir(socketDir, { recursive: true });
      const before = await sandbox.snapshot();
      const env: Record<string, string> = {
        VIAM_HOME: sandbox.home,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        NO_COLOR: "1",
        PROBE_SECRET: "must-stay-unreadable",
      };
      const args = mode === "cli"
        ? ["sync", "--config", config]
        : [join(socketDir, "data-mirror.sock")];
      if (mode === "module") env.VIAM_MODULE_ADDRESS = join(socketDir, "data-mirror.sock");
      const output = await new Deno.Command(Deno.execPath(), {
        args: [...start.args, ...args],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      const where = `${start.name}, ${mode}`;
      const line = stdout.split("\n").find((text) => text.startsWith("PROBE {"));
      if (line === undefined) {
        problems.push(`${where}: no probe report: ${new TextDecoder().decode(output.stderr)}`);
        continue;
      }
      const report = JSON.parse(line.slice("PROBE ".length)) as Record<string, string>;
      for (const [name, result] of Object.entries(report)) {
        if (_FORBIDDEN.includes(name)) {
          attempts++;
          if (result === "ok") problems.push(`${where}: ${name} succeeded`);
          else refused++;
        }
        if (_ALLOWED.includes(name) && result !== "ok") {
          problems.push(`${where}: ${name} was refused (${result})`);
        }
      }
      if (report.envSecret !== "undefined") problems.push(`${where}: read an unlisted variable`);
      for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
        // The module mode's socket is its own to create.
        if (!change.startsWith("created sockets/viam-module-probe/")) {
          problems.push(`${where}: outside the Viam home: ${change}`);
        }
      }
    }
  }
  return {
    row: 11,
    fault: "permissions",
    figure: `${refused}/${attempts} forbidden attempts refused (writes outside, /etc/passwd, ` +
      `programs other than sync, beside the config and socket) in ${starts.length} start-ups × CLI and module`,
    problems,
  };
}
