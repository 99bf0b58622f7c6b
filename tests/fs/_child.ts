// A second process for the tests of src/fs/: it takes a mirror lock, writes state files or stages a
// download, reports on stdout, and then waits to be killed (SIGKILL) or told to finish (stdin closed).
// Imported by the tests for `spawnChild`; run as a script by `spawnChild`.
import { writeFileAtomic } from "../../src/fs/atomic_write.ts";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { LockedError } from "../../src/fs/mirror_lock.ts";

/** A running child process with a line reader on its stdout. */
export interface Child {
  /** The child's process id. */
  pid: number;
  /** The next line the child printed. */
  readLine(): Promise<string>;
  /** Kills the child with SIGKILL and waits for it to end. */
  kill(): Promise<void>;
  /** Closes the child's stdin (its signal to finish) and waits for its exit code. */
  finish(): Promise<number>;
}

const _SCRIPT = new URL(import.meta.url).pathname;
const _CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/**
 * Starts this file as a separate Deno process running `mode` with `args`, with read and write
 * permission on `dir` only (as the program runs: no run, no sys permission but statfs).
 */
export function spawnChild(dir: string, mode: string, args: string[]): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--config=${_CONFIG}`,
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-sys=statfs",
      _SCRIPT,
      mode,
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())
    .getReader();
  const stdin = process.stdin.getWriter();
  const end = async (): Promise<number> => {
    await stdin.close().catch(() => {}); // the pipe is broken when the child is already gone
    const { code } = await process.status;
    await lines.cancel();
    return code;
  };
  return {
    pid: process.pid,
    async readLine(): Promise<string> {
      const { value, done } = await lines.read();
      if (done) throw new Error(`child ${mode} ended before printing a line`);
      return value;
    },
    async kill(): Promise<void> {
      process.kill("SIGKILL");
      await end();
    },
    finish: end,
  };
}

/** Splits a text stream into lines. */
function splitLines(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}

/** The bytes `pattern(n)` the stage mode writes: byte i is `i % 251` (a prime, so no page aligns). */
export function pattern(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => i % 251);
}

async function print(line: string): Promise<void> {
  await Deno.stdout.write(new TextEncoder().encode(`${line}\n`));
}

/** Resolves when the parent closes stdin. */
async function untilStdinCloses(): Promise<void> {
  const buffer = new Uint8Array(16);
  while ((await Deno.stdin.read(buffer)) !== null) { /* wait for EOF */ }
}

async function main([mode, ...args]: string[]): Promise<void> {
  switch (mode) {
    case "lock": { // lock <viamHome>: hold the lock of <viamHome>/mirror until stdin closes
      try {
        const mirror = await MirrorDir.open({
          viamHome: args[0],
          mirrorPath: "mirror",
          owner: "child",
        });
        await print("locked");
        await untilStdinCloses();
        await mirror.close();
      } catch (error) {
        if (!(error instanceof LockedError)) throw error;
        await print(`busy ${error.holder?.pid}`);
      }
      return;
    }
    case "atomic": { // atomic <path> <size>: rewrite the file forever, all "A" then all "B"
      const size = Number(args[1]);
      for (let i = 0;; i++) {
        await writeFileAtomic(args[0], (i % 2 === 0 ? "A" : "B").repeat(size));
        await print(`wrote ${i}`);
      }
    }
    case "stage": { // stage <viamHome> <id> <expectedSize> <bytes>: stage the first bytes, then wait
      const mirror = await MirrorDir.open({ viamHome: args[0], mirrorPath: "mirror" });
      const staged = await mirror.staging.begin({
        binaryDataId: args[1],
        expectedSize: Number(args[2]),
      });
      const bytes = pattern(Number(args[3]));
      for (let at = 0; at < bytes.length; at += 1000) {
        await staged.write(bytes.subarray(at, at + 1000));
      }
      await print(`staged ${bytes.length}`);
      await untilStdinCloses();
      await staged.close();
      await mirror.close();
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

if (import.meta.main) await main(Deno.args);
