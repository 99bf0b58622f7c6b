/**
 * The fault knobs of the local data platform, and the seeded draws they need.
 *
 * @module
 */

import { CALL_NAMES, type CallName } from "./calls.ts";

/** Faults to inject; every knob is off when absent. */
export interface Faults {
  /** Delay before answering each call (RPCs and downloads), in milliseconds. */
  latencyMs?: number;
  /** Fraction (0..1) of calls failing: RPCs with UNAVAILABLE (14), downloads with HTTP 503. */
  unavailableRate?: number;
  /** Seed of the `unavailableRate` draws (default 1): the same seed and calls fail the same calls. */
  unavailableSeed?: number;
  /** The calls `unavailableRate` applies to; defaults to all of them. */
  unavailableCalls?: readonly CallName[];
  /**
   * `BinaryDataByFilter` fails for every page after this many pages of one listing (pages count
   * from the listing's first call, the one with an empty cursor). 0 fails the first page.
   */
  failListingAfterPage?: number;
  /**
   * Ends each listing early: the page after this many pages comes back empty, as from a platform
   * that cut pagination short (the listing looks complete but is not). 0 empties the first page.
   */
  endListingAfterPage?: number;
  /**
   * The code of those failures: `unavailable` (14, the default), `internal` (13),
   * `unauthenticated` (16: a key refused part way, which a new token does not cure), `canceled`
   * (1: a proxy or a load balancer cancelling the call) or `invalid_argument` (3: a page refused
   * for good, which no retry cures).
   */
  failListingCode?:
    | "unavailable"
    | "internal"
    | "unauthenticated"
    | "canceled"
    | "invalid_argument";
  /** Caps every listing page at this many items, so pages come back shorter than asked. */
  maxPageItems?: number;
  /**
   * How `count_only` is answered, as by a platform (or a proxy) that does not count: `zero`, a
   * count of 0 (protobuf sends none: an absent count reads so); `page`, ignored, a page of items
   * comes back as for any listing call.
   */
  countAnswer?: "zero" | "page";
  /**
   * Every `CreateBinaryDataSignedURL` answers this URL instead of its own (a platform or proxy
   * handing out a URL the program must not fetch, such as `file:///...` or a bare path).
   */
  signedUrlAs?: string;
  /** Paces download bodies at this many bytes per second. */
  bodyBytesPerSecond?: number;
  /** Destroys the connection once this many body bytes of a download response were sent. */
  dropBodyAfterBytes?: number;
  /**
   * Download bodies run on this many bytes (zeros) past the file's end, their `Content-Length` and
   * `Content-Range` saying so (unless `undeclaredDownloadLength`): a file longer than it is listed.
   */
  downloadExtraBytes?: number;
  /**
   * `FileUpload` fails with UNAVAILABLE once it received more than this many content bytes (0: at
   * the first content message), before storing anything: a stream cut mid-file.
   */
  uploadUnavailableAfterBytes?: number;
  /** How many uploads `uploadUnavailableAfterBytes` cuts (counted from `setFaults`); default all. */
  uploadUnavailableTimes?: number;
  /**
   * The code those cuts fail with: `unavailable` (14, the default) or `canceled` (1, as a proxy or
   * a load balancer that cancels a call answers).
   */
  uploadCutCode?: "unavailable" | "canceled";
  /**
   * `FileUpload` answers OK with an empty `FileUploadResponse` (no `binary_data_id`), as a gateway
   * or a platform of another version might: after storing the file (`stored`), or without
   * (`unstored`).
   */
  uploadAnswerWithoutId?: "stored" | "unstored";
  /** `FileUpload` holds its reply this long after it stored the file (the acknowledgement window). */
  uploadReplyDelayMs?: number;
  /** Reads upload content at this many bytes per second (a slow reader: the client's writes wait). */
  uploadBytesPerSecond?: number;
  /** `FileUpload` refuses files with these `file_name`s with INVALID_ARGUMENT (a permanent refusal). */
  refuseUploadFileNames?: readonly string[];
  /** The code `refuseUploadFileNames` refuses with (default `invalid_argument`). */
  refuseCode?: "invalid_argument" | "permission_denied" | "resource_exhausted";
  /** `BinaryDataByFilter`'s `interval.end` matches items at the end time too (default: before it). */
  intervalEndInclusive?: boolean;
  /**
   * Every listing page comes newest first whatever `sort_order` asks, as from a platform (or a
   * proxy) that ignores the field (the order is not documented to be honoured).
   */
  sortOrderIgnored?: boolean;
  /** Listings carry no `file_size_bytes` (0), as from a platform that does not report sizes. */
  unlistedSizes?: boolean;
  /** Download answers declare no length: no `Content-Length` (chunked), no `Content-Range`. */
  undeclaredDownloadLength?: boolean;
  /** Download answers carry this `Content-Encoding` header (the body stays the file's bytes). */
  downloadContentEncoding?: string;
}

/** The faults in force, validated, with the seeded generator of unavailable draws. */
export class FaultState {
  /** The faults as set. */
  readonly faults: Readonly<Faults>;
  #random: () => number;
  #calls: ReadonlySet<CallName>;
  #uploadCuts = 0;

  /** Validates `faults`; throws a RangeError naming the first bad knob. */
  constructor(faults: Faults) {
    _checkNumber(faults, "latencyMs", { integer: false });
    _checkNumber(faults, "unavailableRate", { integer: false, max: 1 });
    _checkNumber(faults, "unavailableSeed", { integer: true });
    _checkNumber(faults, "failListingAfterPage", { integer: true });
    _checkNumber(faults, "endListingAfterPage", { integer: true });
    _checkNumber(faults, "maxPageItems", { integer: true, min: 1 });
    _checkNumber(faults, "bodyBytesPerSecond", { integer: false, min: 1 });
    _checkNumber(faults, "dropBodyAfterBytes", { integer: true });
    _checkNumber(faults, "downloadExtraBytes", { integer: true });
    _checkNumber(faults, "uploadUnavailableAfterBytes", { integer: true });
    _checkNumber(faults, "uploadUnavailableTimes", { integer: true });
    _checkNumber(faults, "uploadReplyDelayMs", { integer: false });
    _checkNumber(faults, "uploadBytesPerSecond", { integer: false, min: 1 });
    for (
      const key of [
        "intervalEndInclusive",
        "unlistedSizes",
        "undeclaredDownloadLength",
        "sortOrderIgnored",
      ] as const
    ) {
      const value = faults[key];
      if (value !== undefined && typeof value !== "boolean") {
        throw new RangeError(`faults.${key} must be a boolean, got ${value}`);
      }
    }
    const encoding = faults.downloadContentEncoding;
    if (encoding !== undefined && (typeof encoding !== "string" || encoding === "")) {
      throw new RangeError(
        `faults.downloadContentEncoding must be a header value, got ${encoding}`,
      );
    }
    const code = faults.failListingCode;
    if (
      code !== undefined &&
      !["unavailable", "internal", "unauthenticated", "canceled", "invalid_argument"].includes(code)
    ) {
      throw new RangeError(
        `faults.failListingCode must be "unavailable", "internal", "unauthenticated", ` +
          `"canceled" or "invalid_argument", got ${code}`,
      );
    }
    const withoutId = faults.uploadAnswerWithoutId;
    if (withoutId !== undefined && withoutId !== "stored" && withoutId !== "unstored") {
      throw new RangeError(
        `faults.uploadAnswerWithoutId must be "stored" or "unstored", got ${withoutId}`,
      );
    }
    const cutCode = faults.uploadCutCode;
    if (cutCode !== undefined && cutCode !== "unavailable" && cutCode !== "canceled") {
      throw new RangeError(
        `faults.uploadCutCode must be "unavailable" or "canceled", got ${cutCode}`,
      );
    }
    if (faults.countAnswer !== undefined && !["zero", "page"].includes(faults.countAnswer)) {
      throw new RangeError(
        `faults.countAnswer must be "zero" or "page", got ${faults.countAnswer}`,
      );
    }
    const refuseCodes = ["invalid_argument", "permission_denied", "resource_exhausted"];
    if (faults.refuseCode !== undefined && !refuseCodes.includes(faults.refuseCode)) {
      throw new RangeError(
        `faults.refuseCode must be one of ${refuseCodes.join(", ")}, got ${faults.refuseCode}`,
      );
    }
    for (const call of faults.unavailableCalls ?? []) {
      if (!CALL_NAMES.includes(call)) {
        throw new RangeError(`faults.unavailableCalls: unknown call "${call}"`);
      }
    }
    this.faults = Object.freeze({ ...faults });
    this.#random = _mulberry32(faults.unavailableSeed ?? 1);
    this.#calls = new Set(faults.unavailableCalls ?? CALL_NAMES);
  }

  /** Whether an upload that received `bytes` content bytes so far is cut now (counts the cut). */
  cutsUpload(bytes: number): boolean {
    const after = this.faults.uploadUnavailableAfterBytes;
    if (after === undefined || bytes <= after) return false;
    const times = this.faults.uploadUnavailableTimes;
    if (times !== undefined && this.#uploadCuts >= times) return false;
    this.#uploadCuts++;
    return true;
  }

  /** Whether this call fails as unavailable: one seeded draw per call the knob applies to. */
  failsUnavailable(call: CallName): boolean {
    const rate = this.faults.unavailableRate ?? 0;
    if (rate === 0 || !this.#calls.has(call)) return false;
    return this.#random() < rate;
  }
}

interface _Bounds {
  integer: boolean;
  min?: number;
  max?: number;
}

function _checkNumber(faults: Faults, key: keyof Faults, bounds: _Bounds): void {
  const value = faults[key];
  if (value === undefined) return;
  const min = bounds.min ?? 0;
  const ok = typeof value === "number" && Number.isFinite(value) && value >= min &&
    (bounds.max === undefined || value <= bounds.max) &&
    (!bounds.integer || Number.isSafeInteger(value));
  if (!ok) {
    const range = bounds.max === undefined ? `>= ${min}` : `in [${min}, ${bounds.max}]`;
    const kind = bounds.integer ? "an integer" : "a number";
    throw new RangeError(`faults.${key} must be ${kind} ${range}, got ${String(value)}`);
  }
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
function _mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}
