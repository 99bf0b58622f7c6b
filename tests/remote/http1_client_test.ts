/**
 * The calls' connections: the listing's apart from the files', each pool keeping at most its
 * {@linkcode IDLE_CONNECTIONS_KEPT} open between calls (each holds the read buffer its answers
 * grew), and those alive for the next calls. One test, its steps sharing the process's clients
 * (closed at its end).
 */
import assert from "node:assert/strict";
import {
  type ConnectionUse,
  http1Client,
  IDLE_CONNECTIONS_KEPT,
} from "../../src/remote/http1_client.ts";
import { pollUntil } from "../_poll.ts";

/**
 * A keep-alive HTTP/1.1 server on a real TCP socket that counts its connections: answers each
 * request with a small body once `release` resolves, and tracks which connections the client has
 * closed (EOF).
 */
function _countingServer(release: Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let opened = 0;
  let open = 0;
  let requests = 0;
  const serving: Promise<void>[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    try {
      while (true) {
        const read = await conn.read(buffer);
        if (read === null) return;
        pending += new TextDecoder().decode(buffer.subarray(0, read));
        while (pending.includes("\r\n\r\n")) {
          pending = pending.slice(pending.indexOf("\r\n\r\n") + 4);
          requests++;
          await release;
          const body = "x".repeat(1000);
          await conn.write(
            new TextEncoder().encode(
              `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
            ),
          );
        }
      }
    } catch {
      // The client went away mid-read, or the server closed it: closed all the same.
    } finally {
      open--;
      if (conns.delete(conn)) conn.close();
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      opened++;
      open++;
      conns.add(conn);
      serving.push(serve(conn));
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    get opened() {
      return opened;
    },
    get open() {
      return open;
    },
    get requests() {
      return requests;
    },
    /** Stops listening and closes the connections the client keeps. */
    async close() {
      listener.close();
      for (const conn of conns) conn.close();
      conns.clear();
      await accepting.catch(() => {});
      await Promise.all(serving);
    },
  };
}

Deno.test("the calls' connections", async (t) => {
  try {
    for (const use of ["files", "metadata"] as const) {
      const kept = IDLE_CONNECTIONS_KEPT[use];
      await t.step(
        `the ${use} pool keeps at most ${kept} open after more calls than that, and the calls after them reuse those`,
        async () => {
          const calls = kept * 2 + 4;
          let releaseAll!: () => void;
          const server = _countingServer(new Promise<void>((resolve) => releaseAll = resolve));
          try {
            const call = () =>
              fetch(server.url, { client: http1Client(use) }).then((answer) => answer.text());
            // Every call waits for its answer until all are in, so each holds a connection of its own.
            const fetches = Array.from({ length: calls }, call);
            await pollUntil("every call reached the server", () => server.requests === calls);
            assert.equal(server.opened, calls);
            releaseAll();
            for (const body of await Promise.all(fetches)) assert.equal(body.length, 1000);
            await pollUntil(
              `the client closed all but ${kept} connections`,
              () => server.open <= kept,
            );
            assert.equal(server.open, kept);
            // The kept ones serve the next calls: no new connection.
            await Promise.all(Array.from({ length: kept }, call));
            assert.equal(server.opened, calls);
          } finally {
            releaseAll();
            await server.close();
          }
        },
      );
    }
    await t.step(
      "a call for metadata never takes a connection that carried files' bytes, nor the other way round",
      async () => {
        const server = _countingServer(Promise.resolve());
        try {
          const call = (use: ConnectionUse) =>
            fetch(server.url, { client: http1Client(use) }).then((answer) => answer.text());
          await call("files");
          assert.equal(server.opened, 1);
          await call("metadata"); // the files' connection is idle, and not taken
          assert.equal(server.opened, 2);
          await call("files");
          await call("metadata");
          assert.equal(server.opened, 2, "each pool reuses its own connection");
        } finally {
          await server.close();
        }
      },
    );
  } finally {
    http1Client("files").close();
    http1Client("metadata").close();
  }
});
