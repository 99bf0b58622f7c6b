import { Buffer } from "node:buffer";
/**
 * The push side's proxy: chosen from the environment as the mirror's `fetch` chooses it, and a
 * real tunnel through a real proxy, down to `data-mirror push` reaching an `https://` app only
 * through `HTTPS_PROXY`.
 */
import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import {
  openTunnel,
  proxyFromEnvironment,
  UnusableProxyError,
} from "../../src/remote/proxy_tunnel.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { startConnectProxy, startTlsFront } from "../support/connect_proxy.ts";
import { runProgram } from "../_program.ts";
import { GrpcCall, Http2Connection } from "../../src/remote/grpc_http2.ts";

const APP = new URL("https://app.viam.com");

function _env(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

Deno.test("the proxy comes from ALL_PROXY before HTTPS_PROXY, upper case before lower, with its credentials decoded as fetch decodes them", () => {
  assert.equal(proxyFromEnvironment(APP, _env({})), undefined);
  assert.deepEqual(proxyFromEnvironment(APP, _env({ https_proxy: "proxy.lan:3128" })), {
    variable: "https_proxy",
    host: "proxy.lan",
    port: 3128,
    authorization: undefined,
  });
  const both = _env({
    HTTPS_PROXY: "http://a:1",
    https_proxy: "http://b:2",
    ALL_PROXY: "http://c",
  });
  assert.deepEqual(proxyFromEnvironment(APP, both), {
    variable: "ALL_PROXY",
    host: "c",
    port: 80,
    authorization: undefined,
  });
  const secret = proxyFromEnvironment(
    APP,
    _env({ HTTPS_PROXY: "http://robot:p%40ss@[fd00::1]:8080" }),
  );
  assert.equal(secret?.host, "fd00::1");
  // The user and password percent-decoded, as fetch sends them ("%zz" is no escape: as written).
  assert.equal(secret?.authorization, `Basic ${btoa("robot:p@ss")}`);
  const odd = proxyFromEnvironment(APP, _env({ HTTPS_PROXY: "http://r%C3%A9:p%zz%@a:1" }));
  assert.equal(odd?.authorization, `Basic ${Buffer.from("ré:p%zz%").toString("base64")}`);
  // Only https:// destinations: an http:// app URL is loopback, never proxied.
  assert.equal(
    proxyFromEnvironment(new URL("http://127.0.0.1:8080"), _env({ ALL_PROXY: "http://c" })),
    undefined,
  );
});

Deno.test("a variable fetch would pass over is passed over for the next, as fetch does", () => {
  const chosen = (vars: Record<string, string>) => proxyFromEnvironment(APP, _env(vars))?.variable;
  // A user without a password, spaces around the value, a scheme fetch does not know.
  assert.equal(chosen({ ALL_PROXY: "http://robot@a:1", HTTPS_PROXY: "http://b:2" }), "HTTPS_PROXY");
  assert.equal(chosen({ HTTPS_PROXY: " http://a:1 ", https_proxy: "http://b:2" }), "https_proxy");
  assert.equal(chosen({ ALL_PROXY: "ftp://a:1", HTTPS_PROXY: "http://b:2" }), "HTTPS_PROXY");
  assert.equal(chosen({ HTTPS_PROXY: "http://robot@a:1" }), undefined);
});

Deno.test("NO_PROXY (else no_proxy) names hosts, domains with their subdomains, addresses, CIDR ranges and *", () => {
  const through = (host: string, noProxy: Record<string, string>) =>
    proxyFromEnvironment(
      new URL(`https://${host}`),
      _env({ HTTPS_PROXY: "http://p:1", ...noProxy }),
    ) !==
      undefined;
  assert.equal(through("app.viam.com", { NO_PROXY: "viam.com" }), false);
  assert.equal(through("app.viam.com", { NO_PROXY: " .viam.com , other" }), false);
  assert.equal(through("viam.com", { NO_PROXY: ".viam.com" }), false);
  assert.equal(through("app.notviam.com", { NO_PROXY: "viam.com" }), true);
  assert.equal(through("app.viam.com", { no_proxy: "app.viam.com" }), false);
  assert.equal(through("app.viam.com", { NO_PROXY: "other", no_proxy: "app.viam.com" }), true);
  assert.equal(through("10.1.2.3", { NO_PROXY: "10.0.0.0/8" }), false);
  assert.equal(through("11.1.2.3", { NO_PROXY: "10.0.0.0/8" }), true);
  assert.equal(through("[fd00::5]", { NO_PROXY: "fd00::/16" }), false);
  assert.equal(through("[fd00::5]", { NO_PROXY: "fd00::5" }), false);
  assert.equal(through("anything.example", { NO_PROXY: "*" }), false);
  // As fetch reads it: domains compared as written (hosts are lower case), a bracketed entry is a
  // domain, and * names no address.
  assert.equal(through("app.viam.com", { NO_PROXY: "App.Viam.Com" }), true);
  assert.equal(through("[fd00::5]", { NO_PROXY: "[fd00::5]" }), true);
  assert.equal(through("10.1.2.3", { NO_PROXY: "*" }), true);
});

Deno.test("a proxy that is not http:// is refused, naming the variable and never its value", () => {
  assert.throws(
    () => proxyFromEnvironment(APP, _env({ HTTPS_PROXY: "socks5://robot:S3CRET@p:1080" })),
    (error: Error) => {
      assert.ok(error instanceof UnusableProxyError);
      assert.match(error.message, /HTTPS_PROXY names a socks5:\/\/ proxy/);
      assert.doesNotMatch(error.message, /S3CRET|robot/);
      return true;
    },
  );
});

/** A listener on 127.0.0.1 that answers each connection with `answer` and then ends it. */
async function _answering(answer: (socket: Socket, request: string) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let request = "";
    socket.on("data", (chunk) => {
      request += chunk.toString("latin1");
      if (request.includes("\r\n\r\n")) answer(socket, request);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    /** The connections it accepted. */
    sockets,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

Deno.test("a tunnel sends CONNECT with the credentials, and what the proxy sent after its answer is read first", async () => {
  let asked = "";
  await using proxy = await _answering((socket, request) => {
    asked = request;
    socket.write("HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nFIRST BYTES");
  });
  const socket = await openTunnel(
    { variable: "HTTPS_PROXY", host: "127.0.0.1", port: proxy.port, authorization: "Basic eDp5" },
    { host: "app.viam.com", port: 443 },
    AbortSignal.timeout(5_000),
  );
  try {
    assert.match(asked, /^CONNECT app\.viam\.com:443 HTTP\/1\.1\r\nHost: app\.viam\.com:443\r\n/);
    assert.match(asked, /\r\nProxy-Authorization: Basic eDp5\r\n/);
    const first = await new Promise<string>((resolve) => {
      socket.once("data", (chunk) => resolve(chunk.toString()));
      socket.resume();
    });
    assert.equal(first, "FIRST BYTES");
  } finally {
    socket.destroy();
  }
});

Deno.test("a tunnel the proxy refuses fails naming the proxy and its answer; one that never answers ends with the signal, or times out naming the proxy", async () => {
  await using refusing = await _answering((socket) => {
    socket.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
  });
  await assert.rejects(
    openTunnel(
      { variable: "https_proxy", host: "127.0.0.1", port: refusing.port },
      { host: "app.viam.com", port: 443 },
      AbortSignal.timeout(5_000),
    ),
    new RegExp(
      `the proxy 127\\.0\\.0\\.1:${refusing.port} \\(https_proxy\\) refused the tunnel to ` +
        "app\\.viam\\.com:443: HTTP/1\\.1 407 Proxy Authentication Required",
    ),
  );
  await using silent = await _answering(() => {});
  const stop = new AbortController();
  const tunnel = openTunnel(
    { variable: "HTTPS_PROXY", host: "127.0.0.1", port: silent.port },
    { host: "app.viam.com", port: 443 },
    stop.signal,
  );
  setTimeout(() => stop.abort(new Error("stopped")), 100);
  await assert.rejects(tunnel, /stopped/);
  // A timeout is the proxy's to answer for: named, as its refusal is.
  await assert.rejects(
    openTunnel(
      { variable: "HTTPS_PROXY", host: "127.0.0.1", port: silent.port },
      { host: "app.viam.com", port: 443 },
      AbortSignal.timeout(200),
    ),
    new RegExp(
      `the proxy 127\\.0\\.0\\.1:${silent.port} \\(HTTPS_PROXY\\) did not open the tunnel`,
    ),
  );
});

const KEY = { id: "proxy-push-key-id", key: "PROXY-PUSH-SECRET-5c2e" };

Deno.test("push reaches an https:// app only through HTTPS_PROXY's tunnel, with the proxy's credentials, and never prints them", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([]), apiKeys: [KEY] });
  // platform.test resolves nowhere: only the proxy's tunnel reaches the platform.
  await using front = await startTlsFront({
    host: "platform.test",
    targetPort: Number(new URL(platform.url).port),
  });
  const authorization = `Basic ${btoa("robot:pr0xy-PASS")}`;
  await using proxy = await startConnectProxy({ route: () => front.port, authorization });
  const home = await Deno.makeTempDir({ prefix: "dm-proxy-push-" });
  try {
    await Deno.mkdir(`${home}/outbox`);
    await Deno.writeTextFile(`${home}/outbox/a.txt`, "through the proxy");
    const args = [
      "push",
      "--app-url",
      "https://platform.test",
      "--part-id",
      "part-proxy-1",
      "--push-path",
      "outbox",
      "--min-age",
      "0",
      "--json",
    ];
    const env = {
      VIAM_API_KEY_ID: KEY.id,
      VIAM_API_KEY: KEY.key,
      DENO_CERT: front.caFile,
      HTTPS_PROXY: `${proxy.url.replace("http://", "http://robot:pr0xy-PASS@")}`,
    };
    const output = await runProgram(args, { viamHome: home, env });
    assert.equal(output.code, 0, output.stderr + output.stdout);
    assert.equal(platform.uploads.completed, 1);
    assert.deepEqual(
      [...new Set(proxy.tunnels.map((t) => `${t.target} ${t.authorization}`))],
      [`platform.test:443 ${authorization}`],
    );
    assert.doesNotMatch(output.stdout + output.stderr, /pr0xy-PASS/);
    await assert.rejects(Deno.lstat(`${home}/outbox/a.txt`), Deno.errors.NotFound);

    // A proxy that refuses the credentials: the push fails naming the proxy, not the password.
    await Deno.writeTextFile(`${home}/outbox/b.txt`, "refused");
    const refused = await runProgram(args, {
      viamHome: home,
      env: { ...env, HTTPS_PROXY: `${proxy.url.replace("http://", "http://robot:WRONG-pass@")}` },
    });
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stdout + refused.stderr,
      /refused the tunnel to platform\.test:443: HTTP\/1\.1 407/,
    );
    assert.doesNotMatch(refused.stdout + refused.stderr, /WRONG-pass/);
    assert.equal(platform.uploads.completed, 1);
    assert.equal(await Deno.readTextFile(`${home}/outbox/b.txt`), "refused");

    // A proxy the tunnel cannot take fails the push at once, naming the variable: no file is tried.
    const started = Date.now();
    const socks = await runProgram(args, {
      viamHome: home,
      env: { ...env, HTTPS_PROXY: "socks5://robot:S0CKS-pass@127.0.0.1:1080" },
    });
    assert.notEqual(socks.code, 0);
    assert.match(socks.stdout + socks.stderr, /HTTPS_PROXY names a socks5:\/\/ proxy/);
    assert.doesNotMatch(socks.stdout + socks.stderr, /S0CKS-pass/);
    assert.ok(Date.now() - started < 10_000, "retried as an unreachable platform");
    assert.equal(await Deno.readTextFile(`${home}/outbox/b.txt`), "refused");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/**
 * `push` through a proxy that refuses the tunnel with `answer` (given what it was sent): what the
 * program printed, after checking it failed, named the refusal and kept the file.
 */
async function _pushThroughRefusingProxy(
  password: string,
  answer: (request: string) => string,
): Promise<string> {
  await using proxy = await _answering((socket, request) => socket.end(answer(request)));
  const home = await Deno.makeTempDir({ prefix: "dm-proxy-echo-" });
  try {
    await Deno.mkdir(`${home}/outbox`);
    await Deno.writeTextFile(`${home}/outbox/a.txt`, "kept");
    const output = await runProgram(
      ["push", "--part-id", "part-1", "--push-path", "outbox", "--min-age", "0", "--json"],
      {
        viamHome: home,
        env: {
          VIAM_API_KEY_ID: KEY.id,
          VIAM_API_KEY: KEY.key,
          HTTPS_PROXY: `http://robot:${password}@127.0.0.1:${proxy.port}`,
        },
      },
    );
    const printed = output.stdout + output.stderr;
    assert.notEqual(output.code, 0);
    assert.match(printed, /refused the tunnel to app\.viam\.com:443: HTTP\/1\.1 407/);
    assert.equal(await Deno.readTextFile(`${home}/outbox/a.txt`), "kept");
    return printed;
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("push never prints the proxy's credentials, even when the proxy's refusal echoes them", async () => {
  // A proxy whose answer quotes what it was sent: its status line is printed (it says why the
  // tunnel was refused), and it reached viam-server's log, DoCommand's answer and the status file.
  const password = "pr0xy-ECHO-pass";
  const token = btoa(`robot:${password}`);
  const printed = await _pushThroughRefusingProxy(password, (request) => {
    const sent = /^Proxy-Authorization: (.*)$/im.exec(request)?.[1] ?? "";
    return `HTTP/1.1 407 denied ${sent} for robot:${password} (${password})\r\n\r\n`;
  });
  assert.match(printed, /HTTP\/1\.1 407 denied/);
  assert.ok(!printed.includes(password), printed);
  assert.ok(!printed.includes(token), printed);
});

Deno.test("push never prints a short proxy password the proxy's refusal echoes (shorter than any key)", async () => {
  // Proxy passwords are often short; the scrub of secrets passes by those under 6 characters.
  const password = "pw-5x";
  const printed = await _pushThroughRefusingProxy(
    password,
    () => `HTTP/1.1 407 wrong password ${password} for this proxy\r\n\r\n`,
  );
  assert.ok(!printed.includes(password), printed);
});

Deno.test("a connection closed while its tunnel opens leaves nothing open at the proxy", async () => {
  // A proxy that answers 200 after 500 ms, then holds the tunnel.
  await using proxy = await _answering((socket) => {
    setTimeout(() => {
      if (!socket.destroyed) socket.write("HTTP/1.1 200 Connection established\r\n\r\n");
    }, 500);
  });
  const connection = new Http2Connection("https://app.viam.com", {
    proxy: { variable: "HTTPS_PROXY", host: "127.0.0.1", port: proxy.port },
  });
  const stop = new AbortController();
  const opened = GrpcCall.open(connection, "/x", {}, stop.signal).catch((e: Error) => e);
  await new Promise((resolve) => setTimeout(resolve, 100));
  stop.abort(new Error("removed"));
  await connection.close();
  assert.match(String(await opened), /removed/);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const open = [...proxy.sockets].filter((socket) => !socket.destroyed && !socket.readableEnded);
  assert.deepEqual(open, []);
});

// Deno's fetch (2.9.6) goes directly, not through the proxy, when the user or password holds one
// of these written as is; the push must go where the mirror's calls go.
Deno.test("proxyFromEnvironment passes over a user or password fetch cannot use", () => {
  const destination = new URL("https://app.viam.com/");
  for (const c of [" ", "\t", '"', "<", ">", "[", "]", "^", "`", "{", "|", "}", "é"]) {
    const env = (name: string) =>
      name === "HTTPS_PROXY" ? `http://user:p${c}ss@127.0.0.1:3128` : undefined;
    assert.equal(proxyFromEnvironment(destination, env), undefined, JSON.stringify(c));
  }
  const ok = (name: string) =>
    name === "HTTPS_PROXY" ? "http://us%20er:p!$&'()*+,;=~-._%C3%A9@127.0.0.1:3128" : undefined;
  assert.notEqual(proxyFromEnvironment(destination, ok), undefined);
});

Deno.test("a port fetch cannot read (a typo, a password with # / or ? as is) is port 80, as fetch takes it", () => {
  const chosen = (value: string) => {
    const proxy = proxyFromEnvironment(APP, _env({ HTTPS_PROXY: value }));
    return proxy && `${proxy.host}:${proxy.port}`;
  };
  assert.equal(chosen("http://proxy.lan:3128x"), "proxy.lan:80");
  assert.equal(chosen("http://proxy.lan:99999"), "proxy.lan:80");
  assert.equal(chosen("http://robot:s3#cret@proxy.lan:3128"), "robot:80");
  assert.equal(chosen("http://robot:p/w@proxy.lan:3128"), "robot:80");
  assert.equal(chosen("http://robot:pw@[fd00::1]:3128"), "fd00::1:3128");
});
