/**
 * The one HTTP client of the platform's calls and downloads (see {@linkcode http1Client}).
 *
 * @example
 * ```ts
 * const response = await fetch("https://app.viam.com/", { client: http1Client() });
 * ```
 *
 * @module
 */

let _http1: Deno.HttpClient | undefined;

/**
 * Idle connections the client keeps open for the next calls; one handed back while this many wait
 * is closed. Each open connection holds the read buffer its largest answer grew (some 480 KiB after
 * listing pages or inline answers) until it closes: the listing's lanes (16 at the default
 * concurrency of 4) and the transfer's calls left 20 of them open to the pass's end, 10 MB of the
 * 100,000-item fresh copy's peak (151 MB with this cap, 160 without, three alternated pairs; the
 * 10,020-file one 107 against 115). Kept at 4, the lanes handing back connections while the
 * listing ran closed some that the next pages opened again: the 10,020-file fresh copy opened 63
 * connections instead of 32, each a TLS handshake against app.viam.com; at 8, 38.
 */
export const IDLE_CONNECTIONS_KEPT = 8;

/**
 * The calls' HTTP client: HTTP/1.1 only, a connection per call in flight, at most
 * {@linkcode IDLE_CONNECTIONS_KEPT} kept open between calls. Over HTTP/2 (what fetch
 * negotiates with an HTTPS app that offers it) every call shares one connection, and the answers
 * that wait for their turn to be read (one at a time) fill its flow-control window: with 4 or
 * more answers of 3.3 MB in flight, the one being read gets no more bytes and every call on the
 * connection stalls until its deadline (measured: 8 answers over HTTPS to `Deno.serve`, stalled;
 * a fresh copy of 1,002 files over HTTP/2 took 61 s at concurrency 4 instead of 1.8). The uri
 * downloads take it too: one pool of connections for a platform that serves both.
 */
export function http1Client(): Deno.HttpClient {
  return _http1 ??= Deno.createHttpClient({
    http1: true,
    http2: false,
    poolMaxIdlePerHost: IDLE_CONNECTIONS_KEPT,
  });
}
