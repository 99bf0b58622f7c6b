/**
 * The HTTP route behind every item's `metadata.uri` and signed URL:
 * `GET /download/<org>/<location>/<file id>[?token=<signed token>]`.
 *
 * Access: `authorization: Bearer <access token>`, or the `key_id` and `key` headers of an API key,
 * or the `token` of a signed URL for this item that has not expired; else 401. It honours
 * `Range: bytes=N-` and `bytes=N-M` (206 with `Content-Range`; 416 past the end; other forms are
 * ignored and get the whole body), sends `Content-Length`, and applies the faults: latency,
 * unavailable (503), paced bodies, connections destroyed mid-body, no declared length, a
 * `Content-Encoding`, bodies longer than the file.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { DEFAULT_CHUNK_BYTES, itemChunks } from "./content.ts";
import type { ItemRecord } from "./item_record.ts";
import type { PlatformState } from "./platform_state.ts";
import { sleep } from "./sleep.ts";

/** The path prefix of download URLs. */
export const DOWNLOAD_PATH_PREFIX = "/download/";

/** Serves one download request; never rejects (failures end the response). */
export async function serveDownload(
  state: PlatformState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  state.count("download");
  // Ends waits and the body when the client goes away or the platform closes.
  const gone = new AbortController();
  const onClose = (): void => gone.abort(new Error("download response closed"));
  const onShutdown = (): void => {
    res.destroy();
    onClose();
  };
  res.once("close", onClose);
  state.lifetime.signal.addEventListener("abort", onShutdown, { once: true });
  try {
    await _serve(state, req, res, gone.signal);
  } catch (error) {
    // A wait cut short by the client or by close leaves nothing to answer; anything else is a
    // platform bug: say so while a status can still be sent.
    if (gone.signal.aborted || res.headersSent) res.destroy();
    else _refuse(res, 500, `download failed: ${(error as Error).message}`);
  } finally {
    res.off("close", onClose);
    state.lifetime.signal.removeEventListener("abort", onShutdown);
  }
}

async function _serve(
  state: PlatformState,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const url = new URL(req.url ?? "/", state.url);
  if (req.method !== "GET") return _refuse(res, 405, `method ${req.method} not allowed; use GET`);
  await state.pause(signal);
  const binaryDataId = _idOf(url.pathname);
  const denied = _denial(state, req, url, binaryDataId);
  if (denied !== undefined) return _refuse(res, 401, denied);
  if (state.faultState.failsUnavailable("download")) {
    return _refuse(res, 503, "download unavailable (injected fault)");
  }
  const item = binaryDataId === undefined ? undefined : state.index.get(binaryDataId);
  if (item === undefined) return _refuse(res, 404, `no binary data at ${url.pathname}`);
  const header = req.headers.range;
  if (header !== undefined) state.ranges.push({ binaryDataId: item.binaryDataId, range: header });
  const range = parseRange(header, item.sizeBytes);
  if (range === "unsatisfiable") {
    res.writeHead(416, { "content-range": `bytes */${item.sizeBytes}` });
    res.end();
    return;
  }
  const { undeclaredDownloadLength: undeclared, downloadContentEncoding: encoding } =
    state.faultState.faults;
  const extra = state.faultState.faults.downloadExtraBytes ?? 0;
  const { start, end: fileEnd } = range ?? { start: 0, end: item.sizeBytes };
  // A body to the end runs on past it by `extra` bytes; a bounded range stays as asked.
  const end = fileEnd === item.sizeBytes ? fileEnd + extra : fileEnd;
  res.writeHead(range === undefined ? 200 : 206, {
    "content-type": item.mimeType || "application/octet-stream",
    ...(undeclared ? {} : { "content-length": String(end - start) }),
    "accept-ranges": "bytes",
    ...(range === undefined || undeclared
      ? {}
      : { "content-range": `bytes ${start}-${end - 1}/${item.sizeBytes + extra}` }),
    ...(encoding === undefined ? {} : { "content-encoding": encoding }),
  });
  await _sendBody(state, res, { item, start, end }, signal);
}

/** The binary data id of a download path, or undefined when the path is not one. */
function _idOf(pathname: string): string | undefined {
  if (!pathname.startsWith(DOWNLOAD_PATH_PREFIX)) return undefined;
  const segments = pathname.slice(DOWNLOAD_PATH_PREFIX.length).split("/");
  if (segments.length !== 3 || segments.includes("")) return undefined;
  try {
    return segments.map(decodeURIComponent).join("/");
  } catch {
    return undefined;
  }
}

/** Why the request may not download this item, or undefined when it may. */
function _denial(
  state: PlatformState,
  req: IncomingMessage,
  url: URL,
  binaryDataId: string | undefined,
): string | undefined {
  const token = url.searchParams.get("token");
  if (token !== null && binaryDataId !== undefined) {
    const verdict = state.credentials.verify(token, binaryDataId, state.now());
    if (verdict === "valid") return undefined;
    if (verdict === "expired") return "the signed URL has expired";
  }
  if (state.credentials.acceptsBearer(req.headers.authorization)) return undefined;
  const keyId = req.headers["key_id"];
  const key = req.headers["key"];
  if (typeof keyId === "string" && typeof key === "string") {
    if (state.credentials.acceptsApiKey(keyId, key)) return undefined;
    return "unknown API key id or wrong API key in the key_id/key headers";
  }
  if (token !== null) return "the signed URL token is not valid for this item";
  return 'needs "authorization: Bearer <access token>", the key_id and key headers, or a signed URL';
}

/**
 * `[start, end)` of a `bytes=N-` or `bytes=N-M` header; undefined to send the whole body. The
 * benchmark's directory-index server answers `Range` the same way.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const match = /^bytes=(\d+)-(\d*)$/.exec(header?.trim() ?? "");
  if (match === null) return undefined;
  const start = Number(match[1]);
  const last = match[2] === "" ? Infinity : Number(match[2]);
  if (last < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(last + 1, size) };
}

interface _Body {
  item: ItemRecord;
  start: number;
  end: number;
}

/**
 * Streams `[start, end)` with backpressure, paced by `bodyBytesPerSecond`; with
 * `dropBodyAfterBytes` below the body's length, sends exactly that many bytes and then destroys
 * the socket, so the client sees a truncated body.
 */
async function _sendBody(
  state: PlatformState,
  res: ServerResponse,
  body: _Body,
  signal: AbortSignal,
): Promise<void> {
  const { bodyBytesPerSecond: rate, dropBodyAfterBytes: dropAfter } = state.faultState.faults;
  const drop = dropAfter !== undefined && dropAfter < body.end - body.start;
  const stop = drop ? body.start + dropAfter : body.end;
  // Paced bodies go out in tenths of a second's worth, so the pace shows within one download.
  const chunkBytes = rate === undefined
    ? DEFAULT_CHUNK_BYTES
    : Math.max(1, Math.min(DEFAULT_CHUNK_BYTES, Math.floor(rate / 10)));
  const fileStop = Math.min(stop, body.item.sizeBytes);
  for (const chunk of itemChunks(body.item, { start: body.start, end: fileStop, chunkBytes })) {
    signal.throwIfAborted();
    const flushed = res.write(chunk);
    if (rate !== undefined) await sleep((chunk.length / rate) * 1000, signal);
    else if (!flushed) await _drained(res, signal);
  }
  // Past the file's end (`downloadExtraBytes`): zeros.
  const zeros = new Uint8Array(Math.min(chunkBytes, Math.max(0, stop - fileStop)));
  for (let left = stop - fileStop; left > 0; left -= zeros.length) {
    signal.throwIfAborted();
    if (!res.write(left >= zeros.length ? zeros : zeros.subarray(0, left))) {
      await _drained(res, signal);
    }
  }
  if (drop) {
    await _drained(res, signal, true);
    res.socket?.destroy();
    res.destroy();
    return;
  }
  res.end();
}

/** Resolves once `res` can take more (or, with `all`, once everything written left). */
function _drained(res: ServerResponse, signal: AbortSignal, all = false): Promise<void> {
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    const onAbort = (): void => {
      res.off("drain", done);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    if (all) res.write(new Uint8Array(0), done);
    else res.once("drain", done);
  });
}

function _refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(`${message}\n`);
}
