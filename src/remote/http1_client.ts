/**
 * The HTTP clients of the platform's calls and downloads (see {@linkcode http1Client}).
 *
 * @example
 * ```ts
 * const response = await fetch("https://app.viam.com/", { client: http1Client("metadata") });
 * ```
 *
 * @module
 */

/**
 * What a connection carries, each in a pool of its own: `metadata` (listing pages, counts, sign-in,
 * signed URLs: answers of tens of KiB) or `files` (inline batches of up to 2 MiB, downloads by
 * uri).
 *
 * Why two pools: a connection's read buffer grows to what its largest reads needed (some 480 KiB
 * once it carried a file's bytes) and stays that size while the connection is open. In one pool the
 * listing's lanes (16 at the default concurrency) took connections that had carried inline answers
 * and held 16 such buffers for the whole listing, which at 100,000 items runs through most of a fresh
 * copy: 147 MB with the pools apart, 152 in one (three alternated pairs; the 10,020-file copy, whose
 * listing ends early, the same).
 */
export type ConnectionUse = "metadata" | "files";

const _clients = new Map<ConnectionUse, Deno.HttpClient>();

/**
 * Idle connections each pool keeps open for the next calls; one handed back while this many wait
 * is closed (with its read buffer, see {@linkcode ConnectionUse}). With no limit the listing's lanes
 * and the transfer's calls left 20 connections open to the pass's end, 10 MB of the 100,000-item
 * fresh copy's peak (151 MB with this cap, 160 without, three alternated pairs; the 10,020-file one
 * 107 against 115, four). Kept at 4, the lanes handing back connections while the listing ran
 * closed some that the next pages opened again: the 10,020-file fresh copy opened 63 connections
 * instead of 32, each a TLS handshake against app.viam.com; at 8, 38 (at `concurrency` 16, whose
 * listing runs 32 lanes: 87 against 56 uncapped).
 */
export const IDLE_CONNECTIONS_KEPT = 8;

/**
 * The HTTP client of the calls and downloads that carry `use`: HTTP/1.1 only, a connection per
 * call in flight, at most {@linkcode IDLE_CONNECTIONS_KEPT} kept open between calls. Over HTTP/2
 * (what fetch negotiates with an HTTPS app that offers it) every call shares one connection, and
 * the answers that wait for their turn to be read (one at a time) fill its flow-control window:
 * with 4 or more answers of 3.3 MB in flight, the one being read gets no more bytes and every call
 * on the connection stalls until its deadline (measured: 8 answers over HTTPS to `Deno.serve`,
 * stalled; a fresh copy of 1,002 files over HTTP/2 took 61 s at concurrency 4 instead of 1.8).
 */
export function http1Client(use: ConnectionUse): Deno.HttpClient {
  let client = _clients.get(use);
  if (client === undefined) {
    client = Deno.createHttpClient({
      http1: true,
      http2: false,
      poolMaxIdlePerHost: IDLE_CONNECTIONS_KEPT,
    });
    _clients.set(use, client);
  }
  return client;
}
