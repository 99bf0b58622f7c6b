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
 * is closed (with its read buffer, see {@linkcode ConnectionUse}).
 *
 * `files`: 8. With no limit the transfer's calls left their connections open to the pass's end,
 * each with the ~480 KiB buffer of an inline answer: 10 MB of the 100,000-item fresh copy's peak
 * (151 MB with this cap, 160 without, three alternated pairs; the 10,020-file one 107 against 115,
 * four).
 *
 * `metadata`: 96, about as many as the listing has calls in flight at the most (82-92 connections
 * at 32 lanes, `concurrency` 8 and over: each lane's page beside its count, then the counts that
 * prove its tail). Its answers are pages of tens of KiB, so a kept connection costs little; one
 * closed costs a TCP and TLS handshake with app.viam.com when the next page opens another. Kept at
 * 8 (one cap for both pools until 2026-12-07), the lanes handing back connections in bursts closed
 * them faster than the next pages took them: a no-op pass of 100,000 items opened 250-257
 * connections at the default `concurrency` (4: 16 lanes) and 413-430 at 8, against 41-44 and
 * 82-92 with this cap, at the same peak RSS (122-128 MB and 133-135 MB, a loaded machine); in
 * module mode, where the passes of every mirror share the pools and follow each other, a reviewer
 * counted 5,449 connections in 6.5 minutes with the one cap.
 */
export const IDLE_CONNECTIONS_KEPT: Readonly<Record<ConnectionUse, number>> = {
  metadata: 96,
  files: 8,
};

/**
 * The HTTP client of the calls and downloads that carry `use`: HTTP/1.1 only, a connection per
 * call in flight, at most {@linkcode IDLE_CONNECTIONS_KEPT}`[use]` kept open between calls. Over
 * HTTP/2 (what fetch negotiates with an HTTPS app that offers it) every call shares one connection,
 * and the answers that wait for their turn to be read (one at a time) fill its flow-control window:
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
      poolMaxIdlePerHost: IDLE_CONNECTIONS_KEPT[use],
    });
    _clients.set(use, client);
  }
  return client;
}
