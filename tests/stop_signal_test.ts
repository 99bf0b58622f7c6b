/** The stop-signal helper in a real process, with real signals (the test runner owns its own). */
import assert from "node:assert/strict";

const _HELPER = new URL("../src/stop_signal.ts", import.meta.url).href;

/** A process that holds the helper, prints each callback, and drops it on its second line of stdin. */
const _CHILD = `
import { onStopSignal } from "${_HELPER}";
const stop = onStopSignal((signal) => console.log("stop " + signal));
console.log("ready");
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
for await (const chunk of lines) {
  if (chunk.includes("dispose")) { stop[Symbol.dispose](); console.log("disposed"); }
}
`;

Deno.test("the first SIGINT or SIGTERM calls back once; later ones are swallowed until disposed", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", _CHILD],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const until = async (wanted: string) => {
    while (!text.includes(wanted)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`ended before ${wanted}: ${text}`);
      text += value;
    }
  };
  const writer = child.stdin.getWriter();
  try {
    await until("ready\n");
    child.kill("SIGTERM");
    await until("stop SIGTERM\n");
    child.kill("SIGINT");
    child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writer.write(new TextEncoder().encode("dispose\n"));
    await until("disposed\n");
    // Disposed: the default action applies again.
    child.kill("SIGINT");
    const status = await child.status;
    assert.equal(text, "ready\nstop SIGTERM\ndisposed\n");
    assert.equal(status.signal, "SIGINT");
  } finally {
    await writer.close().catch(() => {});
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  }
});
