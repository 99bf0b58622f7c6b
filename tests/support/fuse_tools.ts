/**
 * What the tests on FUSE file systems (exfat-fuse, mergerfs) need of the machine: root, `/dev/fuse`
 * and the tools (`.ci/run` installs them), and a way to run those tools that fails with what they
 * said.
 *
 * @module
 */

/** Whether this machine can mount FUSE file systems with `programs` (run as root, `/dev/fuse`). */
export function fuseUsableWith(programs: readonly string[]): boolean {
  return Deno.uid() === 0 && _exists("/dev/fuse") && programs.every(_has);
}

/** Runs `program` with `args`; its stdout, trimmed. Throws with its stderr when it fails. */
export function runTool(program: string, args: readonly string[]): string {
  const out = new Deno.Command(program, { args: [...args] }).outputSync();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

function _has(program: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${program}`] }).outputSync().success;
  } catch {
    return false;
  }
}

function _exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
