/**
 * A real HTTP proxy that opens tunnels (`CONNECT`) only, and a TLS front for a local server: with
 * them a test reaches `https://<any name>` through the proxy alone, as a robot whose only way out
 * is a corporate proxy does. The front's certificate is signed by a certificate authority made
 * for the test (`openssl`); the program under test trusts it through `DENO_CERT`.
 *
 * @example
 * ```ts
 * await using front = await startTlsFront({ host: "platform.test", targetPort: platform.port });
 * await using proxy = await startConnectProxy({ route: () => front.port });
 * // HTTPS_PROXY=proxy.url, DENO_CERT=front.caFile; app URL https://platform.test
 * ```
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { type AddressInfo, connect as netConnect, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { join } from "node:path";

/** A running CONNECT proxy. */
export interface ConnectProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every CONNECT asked of it: the target and the `Proxy-Authorization` header. */
  readonly tunnels: { target: string; authorization?: string }[];
}

/** Options of {@linkcode startConnectProxy}. */
export interface ConnectProxyOptions {
  /** The port on 127.0.0.1 a tunnel to `target` (`host:port`) leads to. */
  route: (target: string) => number;
  /** When set, a CONNECT without this `Proxy-Authorization` is answered 407. */
  authorization?: string;
}

/** Starts a proxy on 127.0.0.1 that answers only CONNECT. */
export async function startConnectProxy(options: ConnectProxyOptions): Promise<ConnectProxy> {
  const tunnels: ConnectProxy["tunnels"] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((_request, response) => {
    response.writeHead(405).end();
  });
  server.on("connect", (request: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    const target = request.url ?? "";
    const authorization = request.headers["proxy-authorization"];
    tunnels.push({ target, authorization });
    if (options.authorization !== undefined && authorization !== options.authorization) {
      client.end("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const upstream = netConnect(options.route(target), "127.0.0.1", () => {
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      _splice(client, upstream, sockets);
    });
    sockets.add(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A TLS server for `host` on 127.0.0.1 that hands each connection's bytes to a local port. */
export interface TlsFront extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The certificate authority (PEM file) that signed its certificate: give it as `DENO_CERT`. */
  readonly caFile: string;
  /** The protocol each connection chose by ALPN (`false`: none), in the order they came. */
  readonly protocols: (string | false)[];
}

/**
 * Starts a TLS front for `host` before `targetPort`, offering `alpn` (default `h2` alone): the
 * bytes inside the TLS are passed on as they are (the local platform speaks cleartext HTTP/2 and
 * HTTP/1.1 on one port).
 */
export async function startTlsFront(
  options: { host: string; targetPort: number; alpn?: string[] },
): Promise<TlsFront> {
  const dir = await Deno.makeTempDir({ prefix: "dm-tls-front-" });
  const sockets = new Set<Socket>();
  const protocols: (string | false)[] = [];
  try {
    await _makeCertificates(dir, options.host);
    const server = createTlsServer({
      key: await Deno.readTextFile(join(dir, "leaf.key")),
      cert: await Deno.readTextFile(join(dir, "leaf.pem")),
      ALPNProtocols: options.alpn ?? ["h2"],
    }, (client) => {
      protocols.push(client.alpnProtocol ?? false);
      _splice(client, netConnect(options.targetPort, "127.0.0.1"), sockets);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      port,
      caFile: join(dir, "ca.pem"),
      protocols,
      async [Symbol.asyncDispose]() {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** Pipes `a` and `b` into each other until either ends or fails, then ends both. */
function _splice(a: Socket, b: Socket, sockets: Set<Socket>): void {
  sockets.add(a);
  sockets.add(b);
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  for (const socket of [a, b]) {
    socket.on("error", close);
    socket.on("close", close);
  }
}

/** A certificate authority (`ca.pem`) and a certificate for `host` it signed (`leaf.*`), in `dir`. */
async function _makeCertificates(dir: string, host: string): Promise<void> {
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await Deno.writeTextFile(
    join(dir, "leaf.cnf"),
    `subjectAltName=DNS:${host}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  const steps = [
    [
      "req",
      "-x509",
      ...curve,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=dm test CA",
    ],
    ["req", ...curve, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", `/CN=${host}`],
    [
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "leaf.pem",
      "-days",
      "2",
      "-extfile",
      "leaf.cnf",
    ],
  ];
  for (const args of steps) {
    const result = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!result.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(result.stderr)}`);
    }
  }
}
