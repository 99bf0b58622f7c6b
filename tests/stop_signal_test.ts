/** The stop-signal helper in a real process, with real signals (the test runner owns its own). */
import assert from "node:assert/strict";

const _HELPER = new URL("../src/stop_signal.ts", import.meta.url).href;

/**
 * A process that holds the helper, prints each callback, drops it when a line of stdin says
 * "dispose", and ends when stdin closes.
 */
const _CHILD = `
import { onStopSignal } from "${_HELPER}";
const stop = onStopSignal((signal) => console.log("stop " + signal));
console.log("ready");
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
for await (const chunk of lines) {
  if (chunk.includes("dispose")) { stop[Symbol.dispose](); console.log("disposed"); }
}
`;

/** Runs the child; `script` drives it through `send` and `until`. */
async function withChild(
  script: (child: {
    process: Deno.ChildProcess;
    until: (wanted: string) => Promise<void>;
    send: (line: string) => Promise<void>;
    closeStdin: () => Promise<void>;
    text: () => string;
  }) => Promise<void>,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", _CHILD],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const writer = child.stdin.getWriter();
  try {
    await script({
      process: child,
      until: async (wanted) => {
        while (!text.includes(wanted)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`ended before ${wanted}: ${text}`);
          text += value;
        }
      },
      send: (line) => writer.write(new TextEncoder().encode(`${line}\n`)),
      closeStdin: () => writer.close(),
      text: () => text,
    });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already, as it should have
    }
    await writer.close().catch(() => {});
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
}

Deno.test("the first SIGINT or SIGTERM calls back once; later ones are swallowed, also once disposed", async () => {
  await withChild(async ({ process, until, send, closeStdin, text }) => {
    await until("ready\n");
    process.kill("SIGTERM");
    await until("stop SIGTERM\n");
    process.kill("SIGINT");
    process.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await send("dispose");
    await until("disposed\n");
    // Stopping already: a late copy (deno task passes a Ctrl-C on) must not end it with 130.
    process.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await closeStdin();
    const status = await process.status;
    assert.equal(text(), "ready\nstop SIGTERM\ndisposed\n");
    assert.deepEqual([status.code, status.signal], [0, null]);
  });
});

Deno.test("disposed before any signal, the default action applies again", async () => {
  await withChild(async ({ process, until, send, text }) => {
    await until("ready\n");
    await send("dispose");
    await until("disposed\n");
    process.kill("SIGINT");
    const status = await process.status;
    assert.equal(text(), "ready\ndisposed\n");
    assert.equal(status.signal, "SIGINT");
  });
});

Deno.test("a stop passed on by another thread reaches the registration there is, or the next one made, once", async () => {
  const script = `
import { deliverStop, onStopSignal, stopListened } from "${_HELPER}";
deliverStop("SIGTERM"); // the Worker still loading: nothing listens yet
console.log("listened " + stopListened());
deliverStop("SIGINT"); // a second copy: the first one is kept
const first = onStopSignal((signal) => console.log("first " + signal));
await new Promise((resolve) => setTimeout(resolve, 50));
const second = onStopSignal((signal) => console.log("second " + signal)); // nothing pending now
deliverStop("SIGTERM"); // the program listens: to every registration, each once
deliverStop("SIGTERM");
console.log("listened " + stopListened());
Deno.exit(0);
`;
  const output = await new Deno.Command(Deno.execPath(), { args: ["eval", script] }).output();
  assert.equal(
    new TextDecoder().decode(output.stdout),
    "listened false\nfirst SIGTERM\nsecond SIGTERM\nlistened true\n",
    new TextDecoder().decode(output.stderr),
  );
});
