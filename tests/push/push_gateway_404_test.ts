/**
 * A gateway in front of the platform answers HTTP 404 for a while (a misrouted load balancer, a
 * deploy): connect maps that to UNIMPLEMENTED. That is no refusal of the file: once the gateway
 * routes again, the files must go, without anyone touching them.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { join } from "node:path";
import { runPushPass } from "../../src/push/run_push_pass.ts";
import { FileUploader } from "../../src/remote/file_upload.ts";
import { startPlatform } from "../support/platform/mod.ts";
import { RecordingLogger } from "../sync/_harness.ts";
import { plantFile, pushConfig } from "./_harness.ts";

Deno.test("a gateway's passing HTTP 404 does not hold the push folder's files for good", async () => {
  await using platform = await startPlatform();
  let answer404 = true;
  const notFound = http2.createServer((_req, res) => {
    res.writeHead(404, { "content-type": "text/html" });
    res.end("<html>not found</html>");
  });
  const sockets = new Set<net.Socket>();
  const gateway = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    if (answer404) {
      notFound.emit("connection", socket);
      return;
    }
    const up = net.connect(platform.port, "127.0.0.1");
    sockets.add(up);
    up.on("close", () => sockets.delete(up));
    socket.pipe(up);
    up.pipe(socket);
    up.on("error", () => socket.destroy());
    socket.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  const appUrl = `http://127.0.0.1:${(gateway.address() as net.AddressInfo).port}`;
  const home = await Deno.makeTempDir({ prefix: "data-mirror-gw-" });
  const root = join(home, "outbox");
  const push = pushConfig(root);
  try {
    await plantFile(join(root, "a.txt"), "a");
    const pass = async () => {
      await using uploader = new FileUploader({
        env: () => undefined, // http:// on loopback: never through a proxy
        appUrl,
        apiKeyId: platform.apiKeyId,
        apiKey: platform.apiKey,
      });
      return await runPushPass(push, { uploader, partId: "p", appUrl }, {
        logger: new RecordingLogger(),
        minRetryDelayMs: 1,
        retryFailedNow: true,
      });
    };
    const first = await pass();
    assert.equal(first.uploaded, 0);
    answer404 = false;
    const second = await pass();
    assert.equal(second.uploaded, 1, JSON.stringify(second.failures));
    assert.equal(platform.items().length, 1);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => gateway.close(resolve));
    notFound.close();
    await Deno.remove(home, { recursive: true });
  }
});
