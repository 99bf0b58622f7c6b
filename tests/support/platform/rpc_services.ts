/**
 * The RPCs of the local data platform: `AuthService/Authenticate`, the binary-data methods of
 * `DataService`, the listing methods of `DatasetService` and `DataSyncService/FileUpload`, with the
 * real semantics (filters, pagination, limits, errors) and the fault knobs. Unimplemented methods
 * answer UNIMPLEMENTED.
 *
 * @module
 */

import {
  type AnyMessage,
  BinaryReader,
  BinaryWriter,
  type Message,
  type MessageType,
  type PartialMessage,
  type PlainMessage,
  protoInt64,
  Timestamp,
  WireType,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { CallName } from "./calls.ts";
import { writeItemBytes } from "./content.ts";
import { CursorError, type ItemQuery, SAMPLE_PART_ID } from "./dataset_index.ts";
import type { DatasetRecord, ItemRecord } from "./item_record.ts";
import type { PlatformState } from "./platform_state.ts";
import { handleFileUpload } from "./upload_service.ts";
import { AuthService, DataService, DatasetService, DataSyncService } from "./wire.ts";

/** `limit` 0 or unset gets this many items per page. */
export const DEFAULT_PAGE_LIMIT = 50;
/** A `limit` above this gets this many items per page. */
export const MAX_PAGE_LIMIT = 100;
/** `CreateBinaryDataSignedURL` default expiry, in minutes. */
export const DEFAULT_SIGNED_URL_MINUTES = 15;
/** `CreateBinaryDataSignedURL` longest expiry, in minutes (7 days). */
export const MAX_SIGNED_URL_MINUTES = 10080;

/** Registers the platform's four services on a connect router. */
export function registerServices(router: ConnectRouter, state: PlatformState): void {
  router.service(AuthService, {
    authenticate: _guard(state, "Authenticate", _authenticate),
  });
  router.service(DataService, {
    binaryDataByFilter: _guard(state, "BinaryDataByFilter", _byFilter),
    binaryDataByIDs: _guard(state, "BinaryDataByIDs", _byIds),
    createBinaryDataSignedURL: _guard(state, "CreateBinaryDataSignedURL", _signedUrl),
  });
  router.service(DatasetService, {
    listDatasetsByIDs: _guard(state, "ListDatasetsByIDs", _datasetsByIds),
    listDatasetsByOrganizationID: _guard(state, "ListDatasetsByOrganizationID", _datasetsByOrg),
  });
  router.service(DataSyncService, {
    fileUpload: async (requests: AsyncIterable<AnyMessage>, ctx: HandlerContext) => {
      await _admit(state, "FileUpload", ctx);
      return handleFileUpload(state, requests, ctx);
    },
  });
}

type _Impl = (req: AnyMessage, ctx: HandlerContext) => Promise<PartialMessage<AnyMessage>>;

/**
 * Wraps a method with what every call goes through, in order: counting, the latency fault, the
 * bearer token check (all but `Authenticate`), the unavailable fault.
 */
function _guard<Request>(
  state: PlatformState,
  call: CallName,
  impl: (state: PlatformState, req: Request) => PartialMessage<AnyMessage>,
): _Impl {
  return async (req, ctx) => {
    await _admit(state, call, ctx);
    // The request is a dynamic message; `Request` names the fields the method reads.
    return impl(state, req as unknown as Request);
  };
}

/** Counts the call, waits out the latency, checks the token and draws the unavailable fault. */
async function _admit(state: PlatformState, call: CallName, ctx: HandlerContext): Promise<void> {
  state.count(call);
  try {
    await state.pause(ctx.signal);
  } catch {
    throw new ConnectError(
      `${call} cancelled: the client went away or the platform is closing`,
      Code.Unavailable,
    );
  }
  const authorization = ctx.requestHeader.get("authorization");
  if (call !== "Authenticate" && !state.credentials.acceptsBearer(authorization)) {
    throw new ConnectError(
      `${call} needs "authorization: Bearer <access token>" from Authenticate`,
      Code.Unauthenticated,
    );
  }
  if (state.faultState.failsUnavailable(call)) {
    throw new ConnectError(`${call} unavailable (injected fault)`, Code.Unavailable);
  }
}

interface _AuthenticateRequest {
  entity: string;
  credentials?: { type: string; payload: string };
}

function _authenticate(
  state: PlatformState,
  req: _AuthenticateRequest,
): PartialMessage<AnyMessage> {
  const { entity, credentials } = req;
  if (credentials?.type !== "api-key") {
    throw new ConnectError(
      `credentials type "${credentials?.type ?? ""}" is not supported; use "api-key"`,
      Code.Unauthenticated,
    );
  }
  if (!state.credentials.acceptsApiKey(entity, credentials.payload)) {
    throw new ConnectError("unknown API key id or wrong API key", Code.Unauthenticated);
  }
  return { accessToken: state.credentials.issueAccessToken() };
}

interface _Filter {
  componentName: string;
  componentType: string;
  method: string;
  robotName: string;
  robotId: string;
  partName: string;
  partId: string;
  locationIds: string[];
  organizationIds: string[];
  mimeType: string[];
  interval?: { start?: Timestamp; end?: Timestamp };
  tagsFilter?: { type: number; tags: string[] };
  bboxLabels: string[];
  datasetId: string;
}

interface _ByFilterRequest {
  dataRequest?: { filter?: _Filter; limit: bigint; last: string; sortOrder: number };
  includeBinary: boolean;
  countOnly: boolean;
}

/** Order.ORDER_DESCENDING; UNSPECIFIED and ASCENDING list oldest first. */
const _ORDER_DESCENDING = 1;
/** TagsFilterType TAGGED (2) and UNTAGGED (3); UNSPECIFIED and MATCH_BY_OR match `tags`. */
const _TAGS_MODES: Readonly<Record<number, ItemQuery["tagsMode"]>> = { 2: "tagged", 3: "untagged" };

function _byFilter(state: PlatformState, req: _ByFilterRequest): PartialMessage<AnyMessage> {
  const { dataRequest, includeBinary, countOnly } = req;
  const query = {
    ..._query(dataRequest?.filter),
    endInclusive: state.faultState.faults.intervalEndInclusive ?? false,
  };
  const counting = state.faultState.faults.countAnswer;
  if (countOnly && counting === "zero") return {};
  if (countOnly && counting !== "page") {
    return { count: protoInt64.uParse(state.index.count(query)) };
  }
  const asked = Number(dataRequest?.limit ?? 0);
  const limit = Math.min(
    asked === 0 ? DEFAULT_PAGE_LIMIT : Math.min(asked, MAX_PAGE_LIMIT),
    state.faultState.faults.maxPageItems ?? MAX_PAGE_LIMIT,
  );
  let page;
  try {
    page = state.index.page(query, {
      limit,
      cursor: dataRequest?.last ?? "",
      descending: state.faultState.faults.sortOrderIgnored === true ||
        dataRequest?.sortOrder === _ORDER_DESCENDING,
    });
  } catch (error) {
    if (error instanceof CursorError) throw new ConnectError(error.message, Code.InvalidArgument);
    throw error;
  }
  const failAfter = state.faultState.faults.failListingAfterPage;
  if (failAfter !== undefined && page.pageNumber > failAfter) {
    const code = state.faultState.faults.failListingCode;
    throw new ConnectError(
      `listing page ${page.pageNumber} failed (injected fault after page ${failAfter})`,
      code === "internal"
        ? Code.Internal
        : code === "unauthenticated"
        ? Code.Unauthenticated
        : code === "canceled"
        ? Code.Canceled
        : code === "invalid_argument"
        ? Code.InvalidArgument
        : Code.Unavailable,
    );
  }
  const endAfter = state.faultState.faults.endListingAfterPage;
  if (endAfter !== undefined && page.pageNumber > endAfter) {
    return { data: [], count: protoInt64.uParse(0), last: dataRequest?.last ?? "" };
  }
  if (includeBinary) _checkInline(state, page.items);
  return _withMetadata(
    state,
    DataService.methods.binaryDataByFilter.O,
    { count: protoInt64.uParse(page.items.length), last: page.cursor },
    page.items,
    includeBinary,
  );
}

/** Filter fields the platform does not model: refused rather than ignored, so a test notices. */
const _UNSUPPORTED_FILTER_FIELDS = [
  ["componentName", "component_name"],
  ["componentType", "component_type"],
  ["method", "method"],
  ["robotName", "robot_name"],
  ["robotId", "robot_id"],
  ["partName", "part_name"],
] as const;

function _query(filter: _Filter | undefined): ItemQuery {
  for (const [field, name] of _UNSUPPORTED_FILTER_FIELDS) {
    if (filter?.[field]) {
      throw new ConnectError(
        `Filter.${name} is not supported by the local data platform`,
        Code.Unimplemented,
      );
    }
  }
  return {
    tagsMode: _TAGS_MODES[filter?.tagsFilter?.type ?? 0] ?? "any",
    tags: filter?.tagsFilter?.tags ?? [],
    bboxLabels: filter?.bboxLabels ?? [],
    datasetId: filter?.datasetId ?? "",
    mimeTypes: filter?.mimeType ?? [],
    organizationIds: filter?.organizationIds ?? [],
    locationIds: filter?.locationIds ?? [],
    startMs: _epochMs(filter?.interval?.start),
    endMs: _epochMs(filter?.interval?.end),
    partId: filter?.partId ?? "",
  };
}

/**
 * The Timestamp of an epoch time in ms, worked out without `Date` (as `Timestamp.fromDate` does it):
 * a Timestamp's seconds reach far past the ±8.64e15 ms a `Date` holds, and tests list items dated
 * there, as a platform that does not check its dates could.
 */
function _timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return new Timestamp({ seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 });
}

function _epochMs(time: PlainMessage<Timestamp> | undefined): number | undefined {
  return time === undefined ? undefined : Number(time.seconds) * 1000 + time.nanos / 1e6;
}

interface _ByIdsRequest {
  includeBinary: boolean;
  binaryIds: { fileId: string; organizationId: string; locationId: string }[];
  binaryDataIds: string[];
}

function _byIds(state: PlatformState, req: _ByIdsRequest): PartialMessage<AnyMessage> {
  const { includeBinary, binaryIds, binaryDataIds } = req;
  const ids = [
    ...binaryDataIds,
    ...binaryIds.map((b) => `${b.organizationId}/${b.locationId}/${b.fileId}`),
  ];
  const items = ids.map((id) => {
    const item = state.index.get(id);
    if (item === undefined) throw new ConnectError(`no binary data with id ${id}`, Code.NotFound);
    return item;
  });
  if (includeBinary) _checkInline(state, items);
  return _withMetadata(
    state,
    DataService.methods.binaryDataByIDs.O,
    { count: protoInt64.uParse(items.length) },
    items,
    includeBinary,
  );
}

/**
 * A response whose `data` (field 1) holds the items' metadata, each encoded once per platform and
 * kept: the same bytes as building the messages on every call, without the reflection-driven
 * encoding that made the platform spend more CPU per listing than the client it serves (it
 * shares the cores with the program under test in the benchmarks).
 *
 * With `withContent`, each item's `binary` (field 1 of `BinaryData`, written before its metadata,
 * field 2, as the generic encoding orders them) goes in front of its kept metadata, its content
 * generated in place. The whole answer is laid out once, in one buffer, which the message hands to
 * connect as its encoding: protobuf-es would copy every byte of it twice more (into its writer,
 * then out of it), 0.9 s of the platform's CPU in a fresh copy of 10,000 inline files. The bytes
 * are those it would write (known fields first, then field 1, as it writes unknown fields).
 */
function _withMetadata(
  state: PlatformState,
  type: MessageType,
  fields: PartialMessage<AnyMessage>,
  items: readonly ItemRecord[],
  withContent = false,
): Message {
  const response = new type(fields);
  const known = response.toBinary();
  const records = items.map((item) => {
    const kept = _encodedMetadata(state, item);
    const reader = new BinaryReader(kept);
    reader.uint32(); // the kept record's own length
    const body = kept.subarray(reader.pos);
    const size = withContent ? item.sizeBytes : 0;
    // `binary` (proto3 leaves out empty bytes), then the metadata.
    const binaryHead = size > 0 ? 1 + _varintBytes(size) : 0;
    const length = binaryHead + size + body.length;
    return { item, body, size, length, bytes: 1 + _varintBytes(length) + length };
  });
  const encoding = new Uint8Array(known.length + records.reduce((sum, r) => sum + r.bytes, 0));
  encoding.set(known);
  let at = known.length;
  for (const { item, body, size, length } of records) {
    encoding[at++] = (1 << 3) | WireType.LengthDelimited;
    at = _writeVarint(encoding, at, length);
    const start = at;
    if (size > 0) {
      encoding[at++] = (1 << 3) | WireType.LengthDelimited;
      at = _writeVarint(encoding, at, size);
      writeItemBytes(item, encoding.subarray(at, at + size));
      at += size;
    }
    encoding.set(body, at);
    at += body.length;
    // The message holds the record too (a view), for anyone who reads it rather than sends it.
    type.runtime.bin.onUnknownField(
      response,
      1,
      WireType.LengthDelimited,
      encoding.subarray(start - _varintBytes(length), at),
    );
  }
  Object.defineProperty(response, "toBinary", { value: () => encoding });
  return response;
}

function _varintBytes(n: number): number {
  let bytes = 1;
  for (; n >= 0x80; n = Math.floor(n / 128)) bytes++;
  return bytes;
}

function _writeVarint(out: Uint8Array, at: number, n: number): number {
  for (; n >= 0x80; n = Math.floor(n / 128)) out[at++] = (n % 128) | 0x80;
  out[at++] = n;
  return at;
}

/** An item's `BinaryData` without `binary`, length first, encoded once and kept. */
function _encodedMetadata(state: PlatformState, item: ItemRecord): Uint8Array {
  const encode = () => {
    const BinaryData = DataService.methods.binaryDataByIDs.O.fields.find(1)!;
    const message = (BinaryData.kind === "message" ? BinaryData.T : undefined)!;
    // An unknown field's data is written as it was read: with its length in front.
    return new BinaryWriter().bytes(new message(_binaryData(state, item)).toBinary()).finish();
  };
  // Not kept while sizes are unlisted: the kept one carries the size.
  if (state.faultState.faults.unlistedSizes) return encode();
  let bytes = state.encodedMetadata.get(item);
  if (bytes === undefined) {
    bytes = encode();
    state.encodedMetadata.set(item, bytes);
  }
  return bytes;
}

function _checkInline(state: PlatformState, items: readonly ItemRecord[]): void {
  const big = items.find((item) => item.sizeBytes > state.inlineLimitBytes);
  if (big !== undefined) {
    throw new ConnectError(
      `INCLUDE_BINARY_TOO_LARGE: ${big.binaryDataId} has ${big.sizeBytes} bytes, above the ` +
        `inline limit of ${state.inlineLimitBytes}; download it from metadata.uri`,
      Code.ResourceExhausted,
    );
  }
}

interface _SignedUrlRequest {
  binaryDataId: string;
  expirationMinutes?: number;
}

function _signedUrl(state: PlatformState, req: _SignedUrlRequest): PartialMessage<AnyMessage> {
  const { binaryDataId, expirationMinutes } = req;
  const item = state.index.get(binaryDataId);
  if (item === undefined) {
    throw new ConnectError(`no binary data with id ${binaryDataId}`, Code.NotFound);
  }
  const minutes = expirationMinutes ?? DEFAULT_SIGNED_URL_MINUTES;
  if (minutes < 1 || minutes > MAX_SIGNED_URL_MINUTES) {
    throw new ConnectError(
      `expiration_minutes must be in [1, ${MAX_SIGNED_URL_MINUTES}], got ${minutes}`,
      Code.InvalidArgument,
    );
  }
  const expiresAtMs = state.now() + minutes * 60_000;
  const token = state.credentials.sign(item.binaryDataId, expiresAtMs);
  return {
    signedUrl: state.faultState.faults.signedUrlAs ?? `${state.uriOf(item)}?token=${token}`,
    expiresAt: Timestamp.fromDate(new Date(expiresAtMs)),
  };
}

/** Capture metadata every item shares: one camera on one robot. */
const _CAPTURE = {
  robotName: "local-robot",
  robotId: "0d7b5b1e-local-robot",
  partName: "local-robot-main",
  partId: SAMPLE_PART_ID,
  componentType: "rdk:component:camera",
  componentName: "camera-1",
  methodName: "ReadImage",
} as const;

/** An item's `BinaryData` without its content (see `_withMetadata`). */
function _binaryData(state: PlatformState, item: ItemRecord): PartialMessage<AnyMessage> {
  return {
    metadata: {
      id: item.legacyId,
      captureMetadata: {
        ..._CAPTURE,
        partId: item.partId ?? SAMPLE_PART_ID,
        organizationId: item.organizationId,
        locationId: item.locationId,
        tags: [...item.tags],
        mimeType: item.mimeType,
      },
      timeRequested: _timestampOf(item.timeRequestedMs),
      timeReceived: _timestampOf(item.timeReceivedMs),
      fileName: item.fileName,
      fileExt: item.fileExt,
      uri: state.uriOf(item),
      annotations: {
        bboxes: item.bboxLabels.map((label, k) => ({
          id: `${item.fileId}-box-${k}`,
          label,
          // Four distinct corners, shifted per box, so a client that swaps them is caught.
          xMinNormalized: (10 + k) / 100,
          yMinNormalized: (20 + k) / 100,
          xMaxNormalized: 0.7,
          yMaxNormalized: 0.8,
          confidence: item.bboxConfidence,
        })),
        classifications: item.classificationLabels.map((label, k) => ({
          id: `${item.fileId}-class-${k}`,
          label,
        })),
      },
      datasetIds: [...item.datasetIds],
      binaryDataId: item.binaryDataId,
      fileSizeBytes: protoInt64.uParse(
        state.faultState.faults.unlistedSizes ? 0 : item.sizeBytes,
      ),
    },
  };
}

interface _DatasetsByIdsRequest {
  ids: string[];
}

/** The datasets with these ids, in the order asked; unknown ids are left out. */
function _datasetsByIds(
  state: PlatformState,
  { ids }: _DatasetsByIdsRequest,
): PartialMessage<AnyMessage> {
  const found = ids.flatMap((id) => state.index.datasets.filter((d) => d.id === id));
  return { datasets: found.map(_dataset) };
}

interface _DatasetsByOrgRequest {
  organizationId: string;
}

function _datasetsByOrg(
  state: PlatformState,
  { organizationId }: _DatasetsByOrgRequest,
): PartialMessage<AnyMessage> {
  const found = state.index.datasets.filter((d) => d.organizationId === organizationId);
  return { datasets: found.map(_dataset) };
}

function _dataset(record: DatasetRecord): PartialMessage<AnyMessage> {
  return {
    id: record.id,
    name: record.name,
    organizationId: record.organizationId,
    timeCreated: Timestamp.fromDate(new Date(record.timeCreatedMs)),
  };
}
