import assert from "node:assert/strict";
import type { LogLevel } from "../../src/logger.ts";
import { ParentLogSink } from "../../src/module/parent_logger.ts";
import { SecretRedactor } from "../../src/redaction.ts";
import { FakeParent } from "./_fake_parent.ts";
import { CLIENT_PREFACE, encodeFrame, FRAME, readFrames } from "./_raw_http2.ts";

interface _Setup {
  sink: ParentLogSink;
  parent: FakeParent;
  lines: { line: string; level: LogLevel }[];
  dir: string;
}

async function _withSink(
  test: (setup: _Setup) => Promise<void>,
  options: {
    threshold?: LogLevel;
    capacity?: number;
    redactor?: SecretRedactor;
    idleMs?: number;
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dm-log-" });
  const parent = await FakeParent.start(`${dir}/parent.sock`);
  const lines: _Setup["lines"] = [];
  const sink = new ParentLogSink({
    threshold: options.threshold ?? "info",
    redactor: options.redactor ?? new SecretRedactor(),
    capacity: options.capacity,
    idleMs: options.idleMs,
    // Queued entries get time to arrive at close on a loaded machine (the default is 1 s).
    flushTimeoutMs: 10_000,
    writeLine: (line, level) => lines.push({ line, level }),
  });
  try {
    await test({ sink, parent, lines, dir });
  } finally {
    // The sink (a client) closes its connection before the parent goes: see denoland/deno#36788.
    await sink.close();
    parent.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function _eventually(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

Deno.test("parent logger: without a parent, lines are printed at their level, filtered and redacted", async () => {
  const redactor = new SecretRedactor();
  redactor.remember({ app_api_key: "key-0123456789" });
  await _withSink(async ({ sink, lines }) => {
    const logger = sink.logger("rdk:service:generic/mirror1");
    logger.debug("hidden");
    logger.info("wrote", { path: "a b/c.jpg", bytes: 12, partial: false, skipped: undefined });
    logger.warn("retrying with key-0123456789", { app_api_key: "other-secret-value" });
    logger.error("pass failed");
    assert.deepEqual(
      lines.map(({ line, level }) => [level, line.replace(/^\S+ /, "")]),
      [
        ["info", 'INFO rdk:service:generic/mirror1 wrote path="a b/c.jpg" bytes=12 partial=false'],
        [
          "warn",
          "WARN rdk:service:generic/mirror1 retrying with [redacted] app_api_key=[redacted]",
        ],
        ["error", "ERROR rdk:service:generic/mirror1 pass failed"],
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(lines[0].line.split(" ")[0])));
    await Promise.resolve();
  }, { redactor });
});

Deno.test("parent logger: a slow parent makes the sink drop the oldest entries and say so", async () => {
  await _withSink(async ({ sink, parent }) => {
    parent.hold();
    sink.connect({ kind: "unix", path: parent.address, from: "the test" });
    const logger = sink.logger("mirror");
    for (let i = 1; i <= 10; i++) logger.info(`entry ${i}`);
    // Entry 1 is in flight; 2..10 went through a queue of 3, leaving 8, 9, 10.
    assert.equal(sink.dropped, 6);
    await parent.received(1);
    parent.release();
    await parent.received(5);
    assert.deepEqual(
      parent.entries.map((entry) => [entry.logger_name, entry.level, entry.message]),
      [
        ["mirror", "info", "entry 1"],
        ["data-mirror", "warn", "dropped 6 log entries: viam-server did not take them fast enough"],
        ["mirror", "info", "entry 8"],
        ["mirror", "info", "entry 9"],
        ["mirror", "info", "entry 10"],
      ],
    );
  }, { capacity: 3 });
});

Deno.test("parent logger: entries the parent cannot take are printed instead", async () => {
  await _withSink(async ({ sink, lines, dir }) => {
    sink.connect({ kind: "unix", path: `${dir}/nobody-listens.sock`, from: "the test" });
    const logger = sink.logger("mirror");
    logger.info("first");
    logger.error("second");
    assert.equal(lines.length, 0);
    await _eventually(() => lines.length === 2, "both entries printed");
    assert.deepEqual(lines.map(({ level, line }) => [level, line.split(" ").slice(1).join(" ")]), [
      ["info", "INFO mirror first"],
      ["error", "ERROR mirror second"],
    ]);
  });
});

Deno.test("parent logger: a message quoting a name raw (a system error) reaches viam-server as one line, its controls escaped", async () => {
  await _withSink(async ({ sink, parent }) => {
    sink.connect({ kind: "unix", path: parent.address, from: "the test" });
    // What Deno's readdir error says of a folder named so: the path as it is.
    const name = "d\nERROR forged \u001b[31mred\u009b0m\u202e";
    sink.logger("mirror").warn(`passed by the folder: readdir '/m/${name}'`);
    await parent.received(1);
    assert.deepEqual(parent.entries.map((entry) => entry.message), [
      "passed by the folder: readdir '/m/d\\u000aERROR forged \\u001b[31mred\\u009b0m\\u202e'",
    ]);
  });
});

Deno.test("parent logger: close delivers queued entries, later ones are printed", async () => {
  await _withSink(async ({ sink, parent, lines }) => {
    sink.connect({ kind: "unix", path: parent.address, from: "the test" });
    const logger = sink.logger("mirror");
    for (let i = 1; i <= 5; i++) logger.info(`entry ${i}`);
    await sink.close();
    assert.deepEqual(parent.entries.map((entry) => entry.message), [
      "entry 1",
      "entry 2",
      "entry 3",
      "entry 4",
      "entry 5",
    ]);
    logger.info("after close");
    assert.equal(lines.length, 1);
    assert.match(lines[0].line, /INFO mirror after close$/);
  });
});

Deno.test("parent logger: close ends the connection to the parent without a GOAWAY", async () => {
  // A bare HTTP/2 parent, to see the frames the sink sends: a GOAWAY can crash Deno 2.9.6
  // (denoland/deno#36788), so the sink must end its connection by closing the socket.
  const dir = await Deno.makeTempDir({ prefix: "dm-log-" });
  const path = `${dir}/parent.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const lines: string[] = [];
  const sink = new ParentLogSink({
    threshold: "info",
    redactor: new SecretRedactor(),
    writeLine: (line) => lines.push(line),
  });
  try {
    sink.connect({ kind: "unix", path, from: "the test" });
    sink.logger("mirror").info("never answered");
    const conn = await listener.accept();
    const preface = new Uint8Array(CLIENT_PREFACE.length);
    for (let read = 0; read < preface.length;) {
      read += await conn.read(preface.subarray(read)) ?? Number.NaN;
    }
    assert.deepEqual(preface, CLIENT_PREFACE);
    await conn.write(encodeFrame(FRAME.settings));
    const frames = readFrames(conn);
    await frames.seen(FRAME.headers);
    await sink.close();
    const types = await frames.ended();
    assert.ok(!types.includes(FRAME.goaway), `the sink sent frames of types ${types}`);
    // The unanswered entry was printed instead.
    assert.equal(lines.length, 1);
    assert.match(lines[0], /INFO mirror never answered$/);
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parent logger: a connection unused for idleMs is ended, and the next entry opens another", async () => {
  await _withSink(async ({ sink, parent, lines, dir }) => {
    // A relay in front of the parent counts the sink's connections.
    const relayPath = `${dir}/relay.sock`;
    const relay = Deno.listen({ transport: "unix", path: relayPath });
    let connections = 0;
    const piping: Promise<void>[] = [];
    const relaying = (async () => {
      for await (const conn of relay) {
        connections++;
        const upstream = await Deno.connect({ transport: "unix", path: parent.address });
        piping.push(
          conn.readable.pipeTo(upstream.writable).catch(() => {}),
          upstream.readable.pipeTo(conn.writable).catch(() => {}),
        );
      }
    })();
    sink.connect({ kind: "unix", path: relayPath, from: "the test" });
    const logger = sink.logger("mirror");
    logger.info("first");
    await parent.received(1);
    await _eventually(() => connections === 1, "one connection");
    await new Promise((resolve) => setTimeout(resolve, 300)); // six times idleMs
    logger.info("second");
    await parent.received(2);
    assert.deepEqual(parent.entries.map((entry) => entry.message), ["first", "second"]);
    assert.equal(connections, 2);
    assert.deepEqual(lines, []);
    await sink.close();
    relay.close();
    await relaying;
    await Promise.all(piping);
  }, { idleMs: 50 });
});

Deno.test("parent logger: entries coming as the last connection ends all reach the parent", async () => {
  // With the connection ended as soon as the queue is empty (the default), an entry a few turns
  // after a drain found the session manager handing out the session whose socket had just been
  // destroyed, and went to stdout instead (a module test's debug entry, once in CI).
  await _withSink(async ({ sink, parent, lines }) => {
    sink.connect({ kind: "unix", path: parent.address, from: "the test" });
    const logger = sink.logger("mirror");
    const count = 60;
    for (let i = 0; i < count; i++) {
      logger.info(`entry ${i}`);
      await _eventually(
        () => parent.entries.length + lines.length > i,
        `entry ${i} sent or printed`,
      );
      // Around the moment the drain has ended and its connection is being closed.
      await new Promise((resolve) => setTimeout(resolve, i % 3));
    }
    assert.deepEqual(lines, []);
    assert.equal(parent.entries.length, count);
  });
});
