/**
 * Measures the loopback TCP bandwidth once: a child process writes a block of bytes over
 * 127.0.0.1 as fast as it can and this process reads it; the best of three tries counts.
 *
 * @example
 * ```ts
 * const bytesPerSecond = await measureLoopbackBandwidth();
 * ```
 *
 * @module
 */

/** Bytes sent per try. */
const _BYTES = 512 * 1024 * 1024;
const _CHUNK = 1024 * 1024;

/** The child: listens, prints its port, sends `_BYTES` to the first connection, exits. */
const _SENDER = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(listener.addr.port);
const conn = await listener.accept();
const chunk = new Uint8Array(${_CHUNK}).fill(7);
for (let sent = 0; sent < ${_BYTES}; sent += chunk.length) {
  let off = 0;
  while (off < chunk.length) off += await conn.write(chunk.subarray(off));
}
conn.close();
listener.close();
`;

/** Loopback bandwidth in bytes per second (the best of three tries of 512 MiB each). */
export async function measureLoopbackBandwidth(): Promise<number> {
  let best = 0;
  for (let attempt = 0; attempt < 3; attempt++) best = Math.max(best, await _once());
  return best;
}

async function _once(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", _SENDER],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the loopback sender ended before it listened");
    text += value;
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(text.trim()) });
  const buffer = new Uint8Array(4 * _CHUNK);
  const started = performance.now();
  let received = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) received += n;
  const seconds = (performance.now() - started) / 1000;
  conn.close();
  await reader.cancel();
  await child.status;
  if (received !== _BYTES) throw new Error(`loopback test received ${received} of ${_BYTES} bytes`);
  return received / seconds;
}
