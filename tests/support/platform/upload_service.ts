/**
 * `viam.app.datasync.v1.DataSyncService/FileUpload` on the local data platform: a client stream of
 * one `UploadMetadata` and then `FileData` chunks, stored once the client half-closes as binary data
 * that `BinaryDataByFilter`, `BinaryDataByIDs` and the download route serve (the round trip). Streams
 * that end any other way store nothing and are counted as cut. Fault knobs: a mid-stream UNAVAILABLE,
 * a reply held after the file was stored, and a slow reader.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import type { AnyMessage, PartialMessage, Timestamp } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { DEFAULT_LOCATION_ID, DEFAULT_ORGANIZATION_ID } from "./describe_dataset.ts";
import type { ItemRecord } from "./item_record.ts";
import type { PlatformState } from "./platform_state.ts";
import { sleep } from "./sleep.ts";

/** `DataType.DATA_TYPE_FILE`: the type of an arbitrary file upload. */
export const DATA_TYPE_FILE = 3;

/** How uploads ended, counted apart: `cut` streams stored nothing. */
export interface UploadCounts {
  /** Stored as binary data (whether or not the client saw the reply). */
  completed: number;
  /** Ended before the client half-closed: cancelled, reset, or cut by a fault. Nothing stored. */
  cut: number;
  /** Refused with INVALID_ARGUMENT (bad metadata, or `refuseUploadFileNames`). Nothing stored. */
  refused: number;
  /** The most streams that were open at once. */
  peakConcurrent: number;
}

/** Counts with every outcome at zero. */
export function zeroUploadCounts(): UploadCounts {
  return { completed: 0, cut: 0, refused: 0, peakConcurrent: 0 };
}

interface _UploadMetadata {
  partId: string;
  type: number;
  fileName: string;
  fileExtension: string;
  tags: string[];
  datasetIds: string[];
  mimeType: string;
  fileModifyTime?: Timestamp;
}

interface _FileUploadRequest {
  uploadPacket:
    | { case: "metadata"; value: _UploadMetadata }
    | { case: "fileContents"; value: { data: Uint8Array } }
    | { case: undefined; value?: undefined };
}

/**
 * Handles one `FileUpload` stream; the caller has counted the call and checked its token. Throws a
 * ConnectError for a refused, cut or cancelled stream.
 */
export async function handleFileUpload(
  state: PlatformState,
  requests: AsyncIterable<AnyMessage>,
  ctx: HandlerContext,
): Promise<PartialMessage<AnyMessage>> {
  state.openUploads++;
  state.uploads.peakConcurrent = Math.max(state.uploads.peakConcurrent, state.openUploads);
  try {
    return await _receive(state, requests, ctx);
  } finally {
    state.openUploads--;
  }
}

async function _receive(
  state: PlatformState,
  requests: AsyncIterable<AnyMessage>,
  ctx: HandlerContext,
): Promise<PartialMessage<AnyMessage>> {
  const signal = AbortSignal.any([ctx.signal, state.lifetime.signal]);
  const faults = state.faultState;
  let metadata: _UploadMetadata | undefined;
  let startedMs = 0;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const raw of requests) {
      const packet = (raw as unknown as _FileUploadRequest).uploadPacket;
      if (packet.case === "metadata") {
        if (metadata !== undefined) _refuse(state, "FileUpload got a second metadata message");
        metadata = _checkMetadata(state, packet.value);
        startedMs = state.now();
        continue;
      }
      if (metadata === undefined) {
        _refuse(state, "the first FileUploadRequest must carry metadata");
      }
      if (packet.case !== "fileContents") _refuse(state, "FileUploadRequest with no packet");
      const data = packet.value.data;
      size += data.length;
      if (faults.cutsUpload(size)) {
        throw new ConnectError(
          `FileUpload cut after ${size} bytes (injected fault)`,
          faults.faults.uploadCutCode === "canceled" ? Code.Canceled : Code.Unavailable,
        );
      }
      const rate = faults.faults.uploadBytesPerSecond;
      if (rate !== undefined) await sleep((data.length / rate) * 1000, signal);
      chunks.push(data);
    }
  } catch (error) {
    if (!(error instanceof ConnectError && error.code === Code.InvalidArgument)) {
      state.uploads.cut++;
    }
    if (error instanceof ConnectError) throw error;
    throw new ConnectError(
      `FileUpload stream ended before the client half-closed: ${(error as Error).message}`,
      Code.Canceled,
    );
  }
  if (metadata === undefined) _refuse(state, "FileUpload got no metadata");
  const withoutId = faults.faults.uploadAnswerWithoutId;
  if (withoutId === "unstored") return {};
  const item = _store(state, metadata, chunks, size, startedMs);
  if (withoutId === "stored") return {};
  const delay = faults.faults.uploadReplyDelayMs ?? 0;
  if (delay > 0) {
    try {
      await sleep(delay, signal);
    } catch {
      throw new ConnectError("FileUpload reply abandoned: the client went away", Code.Canceled);
    }
  }
  return { binaryDataId: item.binaryDataId, fileId: item.fileId };
}

function _checkMetadata(state: PlatformState, metadata: _UploadMetadata): _UploadMetadata {
  if (metadata.partId === "") _refuse(state, "UploadMetadata.part_id is required");
  if (metadata.type !== DATA_TYPE_FILE) {
    _refuse(state, `UploadMetadata.type must be DATA_TYPE_FILE (3), got ${metadata.type}`);
  }
  if (state.faultState.faults.refuseUploadFileNames?.includes(metadata.fileName)) {
    const code = state.faultState.faults.refuseCode;
    if (code === "permission_denied") {
      throw new ConnectError(
        `file_name "${metadata.fileName}" denied (injected fault)`,
        Code.PermissionDenied,
      );
    }
    if (code === "resource_exhausted") {
      throw new ConnectError(
        `file_name "${metadata.fileName}" quota (injected fault)`,
        Code.ResourceExhausted,
      );
    }
    _refuse(state, `file_name "${metadata.fileName}" refused (injected fault)`);
  }
  return metadata;
}

function _refuse(state: PlatformState, message: string): never {
  state.uploads.refused++;
  throw new ConnectError(message, Code.InvalidArgument);
}

function _store(
  state: PlatformState,
  metadata: _UploadMetadata,
  chunks: Uint8Array[],
  size: number,
  startedMs: number,
): ItemRecord {
  const fileId = randomBytes(18).toString("base64url");
  const modify = metadata.fileModifyTime;
  const item: ItemRecord = {
    binaryDataId: `${DEFAULT_ORGANIZATION_ID}/${DEFAULT_LOCATION_ID}/${fileId}`,
    organizationId: DEFAULT_ORGANIZATION_ID,
    locationId: DEFAULT_LOCATION_ID,
    fileId,
    legacyId: fileId,
    fileName: metadata.fileName,
    fileExt: metadata.fileExtension,
    mimeType: metadata.mimeType,
    tags: [...metadata.tags],
    bboxLabels: [],
    classificationLabels: [],
    datasetIds: [...metadata.datasetIds],
    sizeBytes: size,
    timeRequestedMs: startedMs,
    timeReceivedMs: state.now(),
    revision: 0,
    partId: metadata.partId,
    uploadedChunks: chunks,
    fileModifyTimeMs: modify === undefined
      ? undefined
      : Number(modify.seconds) * 1000 + Math.floor(modify.nanos / 1e6),
  };
  state.index.add(item);
  state.uploads.completed++;
  return item;
}
