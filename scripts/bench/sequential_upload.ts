/**
 * The push benchmark's baseline: a sequential uploader that does what the SDKs do. One
 * `DataSyncService/FileUpload` client stream at a time over one HTTP/2 connection (gRPC, cleartext
 * with prior knowledge), an `UploadMetadata` message and then the file in 64 KiB `FileData`
 * messages read from disk one after another, and the next file only once the platform answered.
 * It keeps the files (the SDKs delete nothing). Written on `node:http2` with the project's wire
 * schema (`src/remote/upload_wire.ts`), so it shares no code path with data-mirror's uploader.
 *
 * Run as its own process, so that its wall time, CPU and peak RSS are measured like data-mirror's:
 * `sequential_upload.ts <app url> <folder> <part id> <tag>`, with `VIAM_API_KEY_ID` and
 * `VIAM_API_KEY` in the environment. Prints one JSON line (`files`, `bytes`); exits 1 on any error.
 *
 * @example
 * ```ts
 * const run = await runSequentialUpload({ server: platform, folder, partId, tag, timeoutMs });
 * console.log(run.wallSeconds, run.summary?.files);
 * ```
 *
 * @module
 */

import { type ClientHttp2Session, connect, constants } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { once } from "node:events";
import { open } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuthService } from "../../src/remote/data_wire.ts";
import { DataSyncService } from "../../src/remote/upload_wire.ts";
import { measureCommand, type Measurement } from "./process_usage.ts";

/** Content bytes per `FileData` message: what the SDKs send. */
export const SEQUENTIAL_CHUNK_BYTES = 64 * 1024;

/** `DataType.DATA_TYPE_FILE`. */
const _DATA_TYPE_FILE = 3;

/** Options of {@linkcode runSequentialUpload}. */
export interface SequentialUploadOptions {
  /** The local data platform. */
  server: { url: string; apiKeyId: string; apiKey: string };
  /** The folder whose files are uploaded (recursively; `file_name` is the path below it). */
  folder: string;
  /** `part_id` of every upload. */
  partId: string;
  /** The one tag every upload carries. */
  tag: string;
  /** Killed after this long. */
  timeoutMs: number;
}

/** A measured run and what it printed. */
export interface SequentialUploadRun extends Measurement {
  /** Files and bytes uploaded (absent when it printed no summary). */
  summary?: { files: number; bytes: number };
}

/** Runs the sequential uploader as its own process under GNU time. */
export async function runSequentialUpload(
  options: SequentialUploadOptions,
): Promise<SequentialUploadRun> {
  const run = await measureCommand({
    command: Deno.execPath(),
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--quiet",
      "--config",
      fileURLToPath(new URL("../../deno.json", import.meta.url)),
      import.meta.filename!,
      options.server.url,
      options.folder,
      options.partId,
      options.tag,
    ],
    env: { VIAM_API_KEY_ID: options.server.apiKeyId, VIAM_API_KEY: options.server.apiKey },
    timeoutMs: options.timeoutMs,
  });
  let summary: SequentialUploadRun["summary"];
  try {
    summary = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    summary = undefined;
  }
  return { ...run, summary };
}

/** Uploads every file below `folder`, one at a time. */
async function _main(appUrl: string, folder: string, partId: string, tag: string): Promise<void> {
  // The socket is made here so that the end can close it without a GOAWAY (see below).
  let socket: Socket | undefined;
  const url = new URL(appUrl);
  const session = connect(appUrl, {
    createConnection: () =>
      socket = netConnect({
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: Number(url.port),
      }),
  });
  session.on("error", () => {}); // reported by the call in progress
  try {
    const authRequest = new AuthService.methods.authenticate.I({
      entity: Deno.env.get("VIAM_API_KEY_ID") ?? "",
      credentials: { type: "api-key", payload: Deno.env.get("VIAM_API_KEY") ?? "" },
    });
    const authReply = AuthService.methods.authenticate.O.fromBinary(
      await _call(session, "/proto.rpc.v1.AuthService/Authenticate", {}, async (send) => {
        await send(authRequest.toBinary());
      }),
    ) as unknown as { accessToken: string };
    const authorization = `Bearer ${authReply.accessToken}`;
    const Request = DataSyncService.methods.fileUpload.I;
    let files = 0;
    let bytes = 0;
    for await (const path of _walk(folder, "")) {
      await using file = await open(join(folder, path));
      await _call(
        session,
        "/viam.app.datasync.v1.DataSyncService/FileUpload",
        { authorization },
        async (send) => {
          await send(
            new Request({
              uploadPacket: {
                case: "metadata",
                value: {
                  partId,
                  type: _DATA_TYPE_FILE,
                  fileName: path,
                  fileExtension: extname(path),
                  tags: [tag],
                },
              },
            }).toBinary(),
          );
          for (;;) {
            const buffer = new Uint8Array(SEQUENTIAL_CHUNK_BYTES);
            const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
            if (bytesRead === 0) break;
            bytes += bytesRead;
            const data = buffer.subarray(0, bytesRead);
            await send(
              new Request({ uploadPacket: { case: "fileContents", value: { data } } }).toBinary(),
            );
          }
        },
      );
      files++;
    }
    console.log(JSON.stringify({ files, bytes }));
  } finally {
    // Neither `close()` nor `destroy()`: both send a GOAWAY (seen with strace), which trips an
    // assertion in the platform's HTTP/2 server (Deno's nghttp2: `find_stream_on_goaway_func`)
    // and aborts the platform's process. A socket that just ends, it handles.
    socket?.destroy();
    session.destroy();
  }
}

/** The files below `root/dir`, depth first, sorted: `/`-separated paths below `root`. */
async function* _walk(root: string, dir: string): AsyncGenerator<string> {
  const entries = await Array.fromAsync(Deno.readDir(join(root, dir)));
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* _walk(root, path);
    else if (entry.isFile) yield path;
  }
}

/**
 * One gRPC call on the session: `body` sends the request messages (each framed, with back-pressure),
 * then the stream is half-closed; resolves to the one response message, rejects on a non-zero
 * `grpc-status`.
 */
async function _call(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
  body: (send: (message: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<Uint8Array> {
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: path,
    "content-type": "application/grpc+proto",
    te: "trailers",
    ...headers,
  });
  const received: Uint8Array[] = [];
  let status: string | undefined;
  let message = "";
  const onHeaders = (h: Record<string, string | string[] | undefined>) => {
    if (h["grpc-status"] !== undefined) {
      status = String(h["grpc-status"]);
      message = decodeURIComponent(String(h["grpc-message"] ?? ""));
    }
  };
  stream.on("response", onHeaders);
  stream.on("trailers", onHeaders);
  stream.on("data", (chunk: Uint8Array) => received.push(chunk));
  let failure: Error | undefined;
  stream.on("error", (error: Error) => failure ??= error);
  const ended = once(stream, "close");
  await body(async (payload) => {
    const frame = new Uint8Array(5 + payload.length);
    new DataView(frame.buffer).setUint32(1, payload.length);
    frame.set(payload, 5);
    if (!stream.write(frame)) await Promise.race([once(stream, "drain"), ended]);
  });
  stream.end();
  await ended;
  if (failure !== undefined) throw failure;
  if (status !== "0") {
    throw new Error(`${path}: grpc-status ${status ?? "(none)"} ${message}`);
  }
  const all = new Uint8Array(received.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of received) {
    all.set(chunk, at);
    at += chunk.length;
  }
  const length = new DataView(all.buffer).getUint32(1);
  return all.subarray(5, 5 + length);
}

if (import.meta.main) {
  const [appUrl, folder, partId, tag] = Deno.args;
  try {
    await _main(appUrl, folder, partId, tag);
  } catch (error) {
    console.error(`sequential upload: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
