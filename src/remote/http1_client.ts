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
 * The calls' HTTP client: HTTP/1.1 only, a connection per call in flight. Over HTTP/2 (what fetch
 * negotiates with an HTTPS app that offers it) every call shares one connection, and the answers
 * that wait for their turn to be read (one at a time) fill its flow-control window: with 4 or
 * more answers of 3.3 MB in flight, the one being read gets no more bytes and every call on the
 * connection stalls until its deadline (measured: 8 answers over HTTPS to `Deno.serve`, stalled;
 * a fresh copy of 1,002 files over HTTP/2 took 61 s at concurrency 4 instead of 1.8). The uri
 * downloads take it too: one pool of connections for a platform that serves both.
 */
export function http1Client(): Deno.HttpClient {
  return _http1 ??= Deno.createHttpClient({ http1: true, http2: false });
}
