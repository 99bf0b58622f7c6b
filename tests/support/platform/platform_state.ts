/**
 * The mutable state one local data platform shares between its RPC services and its download
 * route: the data set, faults, counters, credentials and the server's address.
 *
 * @module
 */

import { type CallCounts, type CallName, zeroCallCounts } from "./calls.ts";
import type { Credentials } from "./credentials.ts";
import { DatasetIndex } from "./dataset_index.ts";
import { FaultState } from "./faults.ts";
import type { ItemRecord, PlatformDataset } from "./item_record.ts";
import { sleep } from "./sleep.ts";
import { type UploadCounts, zeroUploadCounts } from "./upload_service.ts";

/** One `Range` header a download received. */
export interface RangeRecord {
  /** The item downloaded. */
  binaryDataId: string;
  /** The header's value, as received (e.g. `bytes=1000-`). */
  range: string;
}

/** What a {@linkcode PlatformState} starts from. */
export interface PlatformStateOptions {
  /** The data set served. */
  dataset: PlatformDataset;
  /** The keys and tokens accepted. */
  credentials: Credentials;
  /** Items larger than this are refused inline (`INCLUDE_BINARY_TOO_LARGE`). */
  inlineLimitBytes: number;
  /** The clock of signed URL expiry, in epoch milliseconds. */
  now: () => number;
}

/** The state of one local data platform. */
export class PlatformState {
  /** `http://127.0.0.1:PORT`, known once the server listens. */
  url = "";
  /** The data set served now. */
  index: DatasetIndex;
  /** The faults in force. */
  faultState: FaultState = new FaultState({});
  /** Calls received by name. */
  calls: CallCounts = zeroCallCounts();
  /** The client ports of the HTTP/1.1 connections each kind of call came on. */
  callPorts: Map<CallName, Set<number>> = new Map();
  /** `Range` headers received, in order. */
  ranges: RangeRecord[] = [];
  /** How `FileUpload` streams ended. */
  uploads: UploadCounts = zeroUploadCounts();
  /** `FileUpload` streams open now. */
  openUploads = 0;
  /** Keys and tokens. */
  readonly credentials: Credentials;
  /** Items larger than this are refused inline. */
  readonly inlineLimitBytes: number;
  /** The clock of signed URL expiry. */
  readonly now: () => number;
  /** Each item's `BinaryData` without bytes, length-prefixed, encoded at its first listing. */
  readonly encodedMetadata: WeakMap<ItemRecord, Uint8Array> = new WeakMap();
  /** Aborted when the platform closes: ends pauses and downloads in flight. */
  readonly lifetime: AbortController = new AbortController();

  /** A state serving `options.dataset` with no faults. */
  constructor(options: PlatformStateOptions) {
    this.index = new DatasetIndex(options.dataset);
    this.credentials = options.credentials;
    this.inlineLimitBytes = options.inlineLimitBytes;
    this.now = options.now;
  }

  /** Counts one call. */
  count(call: CallName): void {
    this.calls[call]++;
  }

  /** The `metadata.uri` of an item: `<url>/download/<org>/<location>/<file id>`. */
  uriOf(item: ItemRecord): string {
    const path = item.binaryDataId.split("/").map(encodeURIComponent).join("/");
    return `${this.url}/download/${path}`;
  }

  /** Waits out the latency fault; rejects if `signal` or the platform's lifetime ends first. */
  async pause(signal: AbortSignal): Promise<void> {
    const ms = this.faultState.faults.latencyMs ?? 0;
    if (ms > 0) await sleep(ms, AbortSignal.any([signal, this.lifetime.signal]));
  }
}
