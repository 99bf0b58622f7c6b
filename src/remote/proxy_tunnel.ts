/**
 * The HTTP proxy a push connection goes through, and the tunnel through it. The mirror's calls and
 * downloads run on Deno's `fetch`, which takes its proxy from the environment; the push side dials
 * the app itself (`node:http2`), so without this a robot whose only way out is a proxy mirrored
 * but never pushed. The proxy is chosen as `fetch` chooses it, so that both sides go the same way:
 * `ALL_PROXY`, then `HTTPS_PROXY` (each in upper case before lower case); `NO_PROXY`, else
 * `no_proxy`, lists what is reached directly: hosts, domains with their subdomains (`example.com`
 * and `.example.com` alike), IP addresses, CIDR ranges, and `*` for every host name. Only `https://`
 * app URLs are proxied: the config allows `http://` only on loopback, which the bootstrap adds to
 * `NO_PROXY`.
 *
 * @example
 * ```ts
 * const proxy = proxyFromEnvironment(new URL("https://app.viam.com"), (name) => Deno.env.get(name));
 * if (proxy !== undefined) {
 *   const socket = await openTunnel(proxy, { host: "app.viam.com", port: 443 }, AbortSignal.timeout(30_000));
 * }
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { BlockList, connect as netConnect, isIP, type Socket } from "node:net";
import { MIN_SECRET_LENGTH, REDACTED, scrubSecrets } from "../redaction.ts";

/** An HTTP proxy to tunnel through (`CONNECT`). */
export interface HttpProxy {
  /**
   * The environment variable it came from: messages name it and the proxy's host and port, never
   * the variable's value, which may hold a password.
   */
  variable: string;
  /** The proxy's host name or IP address (no brackets). */
  host: string;
  /** The proxy's port. */
  port: number;
  /** `Basic …`, from the user and password of the proxy's URL, when it has them. */
  authorization?: string;
}

/**
 * The proxy the environment names is one `fetch` takes and a push cannot tunnel through (`socks5://`
 * or `https://`): a setting to change, not a platform out of reach. The message names the variable,
 * never its value (which may hold a password).
 */
export class UnusableProxyError extends Error {
  /** @param variable The variable that names it. @param protocol Its URL's scheme (`socks5:`). */
  constructor(variable: string, protocol: string) {
    super(`${variable} names a ${protocol}// proxy: pushes go only through http:// proxies`);
    this.name = "UnusableProxyError";
  }
}

/** The variables a proxy for an `https://` destination is read from, in order. */
const _PROXY_VARIABLES = ["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"] as const;

/** The most a proxy's answer to `CONNECT` may hold before its end (its status line and headers). */
const _MAX_ANSWER_BYTES = 16 * 1024;

/**
 * The proxy `destination` is reached through, or `undefined` to connect directly: the first of
 * the variables that Deno's `fetch` would take (a value it cannot use, such as one with spaces
 * around it, a scheme it does not know, or a user without a `:` password, is passed over for the
 * next, as `fetch` passes it over). The user and password go percent-decoded, as `fetch` sends
 * them. Throws {@linkcode UnusableProxyError} when that proxy is a `socks5://` or `https://` one,
 * which `fetch` takes and this tunnel cannot: connecting directly instead would go where the
 * mirror's calls do not.
 */
export function proxyFromEnvironment(
  destination: URL,
  env: (name: string) => string | undefined,
): HttpProxy | undefined {
  if (destination.protocol !== "https:") return undefined;
  const noProxy = env("NO_PROXY") ?? env("no_proxy") ?? "";
  if (_bypasses(noProxy, destination.hostname)) return undefined;
  for (const variable of _PROXY_VARIABLES) {
    const value = env(variable);
    if (!value || value.trim() !== value) continue;
    const schemed = value.includes("://") ? value : `http://${value}`;
    // A port that is no number up to 65535 (a typo, or a password with `#`, `/` or `?` as is,
    // which ends the authority there) is port 80 to `fetch`, which then goes through that proxy.
    const url = URL.parse(schemed) ?? URL.parse(_withoutBadPort(schemed));
    if (url === null || url.hostname === "") continue;
    if (["socks5:", "socks5h:", "https:"].includes(url.protocol)) {
      throw new UnusableProxyError(variable, url.protocol);
    }
    if (url.protocol !== "http:") continue;
    const authority = schemed.slice(schemed.indexOf("://") + 3).split(/[/?#]/, 1)[0];
    const at = authority.indexOf("@");
    const userinfo = at === -1 ? undefined : authority.slice(0, at);
    if (userinfo !== undefined && !userinfo.includes(":")) continue;
    // A character an HTTP URI may not hold, written as is (a space, a tab, `^`, `|`, `{`, `"`, `[`,
    // a letter beyond ASCII): `fetch` passes such a value over and connects directly.
    if (userinfo !== undefined && /[^A-Za-z0-9\-._~!$&'()*+,;=:%@]/.test(userinfo)) continue;
    return {
      variable,
      host: _bare(url.hostname),
      port: Number(url.port || 80),
      authorization: userinfo === undefined
        ? undefined
        : `Basic ${Buffer.from(_percentDecoded(userinfo)).toString("base64")}`,
    };
  }
  return undefined;
}

/** `schemed` without the port of its authority when that is no u16, as `fetch` reads it (port 80). */
function _withoutBadPort(schemed: string): string {
  const start = schemed.indexOf("://") + 3;
  const end = start + schemed.slice(start).split(/[/?#]/, 1)[0].length;
  const authority = schemed.slice(start, end);
  const hostStart = authority.lastIndexOf("@") + 1;
  const colon = authority.lastIndexOf(":");
  if (colon < hostStart || authority.indexOf("]", hostStart) > colon) return schemed;
  const port = authority.slice(colon + 1);
  if (/^\d{1,5}$/.test(port) && Number(port) <= 65535) return schemed;
  return schemed.slice(0, start) + authority.slice(0, colon) + schemed.slice(end);
}

/**
 * The proxy URL's user and password as `fetch` sends them: each valid `%XX` decoded, anything else
 * (`%zz`, a lone `%`) as written, bytes that are no UTF-8 as U+FFFD (`p%40ss` is `p@ss`).
 */
function _percentDecoded(text: string): string {
  const raw = new TextEncoder().encode(text);
  const bytes: number[] = [];
  const hex = (byte: number) => /^[0-9a-fA-F]$/.test(String.fromCharCode(byte));
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25 && i + 2 < raw.length && hex(raw[i + 1]) && hex(raw[i + 2])) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1], raw[i + 2]), 16));
      i += 2;
    } else bytes.push(raw[i]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * Connects to `proxy` and asks it for a tunnel to `target` (`CONNECT host:port`); resolves to the
 * socket once the proxy has answered 2xx, with whatever the proxy sent after its answer put back
 * to be read first. Rejects with an error naming the proxy (host, port, variable) and what it
 * answered, or with `signal`'s reason.
 */
export function openTunnel(
  proxy: HttpProxy,
  target: { host: string; port: number },
  signal: AbortSignal,
): Promise<Socket> {
  signal.throwIfAborted();
  const authority = `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
  const named = `the proxy ${proxy.host}:${proxy.port} (${proxy.variable})`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host: proxy.host, port: proxy.port });
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (error: unknown) => {
      settle();
      socket.destroy();
      reject(error);
    };
    // A timeout names the proxy, as its refusal does: "The operation was aborted due to timeout"
    // alone did not say a proxy was in the way.
    const onAbort = () =>
      fail(
        signal.reason instanceof DOMException && signal.reason.name === "TimeoutError"
          ? new Error(`${named} did not open the tunnel to ${authority} in time`)
          : signal.reason,
      );
    const onError = (error: Error) => fail(new Error(`${named} is out of reach: ${error.message}`));
    const onClose = () => fail(new Error(`${named} closed the connection before it answered`));
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      const answer = Buffer.concat(chunks);
      const end = answer.indexOf("\r\n\r\n");
      if (end === -1) {
        if (received > _MAX_ANSWER_BYTES) fail(new Error(`${named} answered with no end`));
        return;
      }
      const statusLine = answer.subarray(0, answer.indexOf("\r\n")).toString("latin1");
      if (!/^HTTP\/1\.[01] 2\d\d/.test(statusLine)) {
        const answered = _printable(_withoutCredentials(statusLine, proxy.authorization));
        fail(new Error(`${named} refused the tunnel to ${authority}: ${answered}`));
        return;
      }
      settle();
      socket.pause();
      const rest = answer.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const settle = () => {
      signal.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.off("data", onData);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.on("data", onData);
    socket.once("connect", () => {
      const authorization = proxy.authorization === undefined
        ? ""
        : `Proxy-Authorization: ${proxy.authorization}\r\n`;
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${authorization}\r\n`);
    });
  });
}

/**
 * Whether a `NO_PROXY` list names `hostname`, as `fetch` reads it: entries split at commas and
 * trimmed; an IP address or CIDR range matches an address host; any other entry is a domain, which
 * matches a name host that is it or ends in `.` and it (compared as written: a host is lower case,
 * so `App.Viam.Com` matches nothing), and `*` every name host.
 */
function _bypasses(noProxy: string, hostname: string): boolean {
  const host = _bare(hostname);
  const family = isIP(host);
  const addresses = new BlockList();
  for (const raw of noProxy.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const [address, prefix, ...rest] = entry.split("/");
    const entryFamily = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const fits = bits === undefined ||
      (/^\d+$/.test(prefix) && bits <= (entryFamily === 6 ? 128 : 32) && rest.length === 0);
    if (entryFamily !== 0 && fits) {
      const type = entryFamily === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) addresses.addAddress(address, type);
      else addresses.addSubnet(address, bits, type);
      continue;
    }
    if (family !== 0) continue;
    if (entry === "*") return true;
    const domain = entry.startsWith(".") ? entry.slice(1) : entry;
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return family !== 0 && addresses.check(host, family === 6 ? "ipv6" : "ipv4");
}

/** A host without the brackets of an IPv6 address in a URL. */
function _bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

/**
 * `statusLine` (read as latin1) without the credentials of `authorization` (`Basic <token>`): the
 * token, `user:password` and the password, as the proxy was sent them. A proxy's answer is printed,
 * logged and kept in statuses, and one that quotes what it was sent would put the password there.
 */
function _withoutCredentials(statusLine: string, authorization: string | undefined): string {
  if (authorization === undefined) return statusLine;
  const token = authorization.slice(authorization.indexOf(" ") + 1);
  const userPassword = Buffer.from(token, "base64");
  const password = userPassword.subarray(userPassword.indexOf(":") + 1);
  const credentials = [token, userPassword.toString("latin1"), password.toString("latin1")];
  // The status (`HTTP/1.1 407`) is kept whole: a password of digits would otherwise take it.
  const status = /^HTTP\/1\.[01] \d{3}/.exec(statusLine)?.[0] ?? "";
  const reason = scrubSecrets(statusLine.slice(status.length), credentials);
  // A password shorter than `scrubSecrets` takes (proxy passwords often are, `pw123`) cannot be
  // replaced without mangling the text: the reason it stands in is left out whole.
  const short = credentials.filter((secret) => secret !== "" && secret.length < MIN_SECRET_LENGTH);
  return short.some((secret) => reason.includes(secret))
    ? `${status} ${REDACTED}`
    : status + reason;
}

/** `text` with anything but printable ASCII replaced, and cut to 200 characters. */
function _printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}
