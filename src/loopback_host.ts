/**
 * Whether a host name stays on this machine: the two places that must not send anything across the
 * network in the clear (the unauthenticated module protocol, an `http://` app URL carrying the API
 * key) ask the same question.
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "./loopback_host.ts";
 *
 * isLoopbackHost("127.0.0.1"); // true
 * isLoopbackHost("[::1]"); // true
 * isLoopbackHost("192.168.1.5"); // false
 * ```
 *
 * @module
 */

/** True for `localhost`, `::1` (bracketed or not) and any `127.x.y.z`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
