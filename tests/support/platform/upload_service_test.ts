import assert from "node:assert/strict";
import { Timestamp } from "@bufbuild/protobuf";
import { Code, ConnectError, createPromiseClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { dataApi } from "@viamrobotics/sdk";
import { fileSizeBytesOf, settlesWithin } from "./_test_helpers.ts";
import { connectSdk } from "./clients.ts";
import { describeDataset } from "./describe_dataset.ts";
import { MAX_MESSAGE_BYTES, type Platform, startPlatform } from "./platform.ts";
import { AuthService, DataSyncService } from "./wire.ts";

const PART = "part-under-test";

interface _Upload {
  fileName?: string;
  partId?: string;
  chunks: Uint8Array[];
  tags?: string[];
  datasetIds?: string[];
  modifyMs?: number;
  signal?: AbortSignal;
  /** Sent before metadata, to see it refused. */
  contentFirst?: boolean;
}

/** A raw connect-node gRPC client over HTTP/2 cleartext: what the program's uploader speaks. */
async function _client(platform: Platform) {
  const transport: Transport = createGrpcTransport({ baseUrl: platform.url, httpVersion: "2" });
  const auth = createPromiseClient(AuthService, transport);
  const { accessToken } = await auth.authenticate({
    entity: platform.apiKeyId,
    credentials: { type: "api-key", payload: platform.apiKey },
  });
  // deno-lint-ignore no-explicit-any
  const sync = createPromiseClient(DataSyncService, transport) as any;
  return async (upload: _Upload): Promise<string> => {
    async function* requests() {
      const metadata = {
        uploadPacket: {
          case: "metadata",
          value: {
            partId: upload.partId ?? PART,
            type: 3,
            fileName: upload.fileName ?? "dir/file.bin",
            fileExtension: ".bin",
            tags: upload.tags ?? [],
            datasetIds: upload.datasetIds ?? [],
            fileModifyTime: upload.modifyMs === undefined
              ? undefined
              : Timestamp.fromDate(new Date(upload.modifyMs)),
          },
        },
      };
      if (!upload.contentFirst) yield metadata;
      for (const data of upload.chunks) {
        yield { uploadPacket: { case: "fileContents", value: { data } } };
      }
    }
    const response = await sync.fileUpload(requests(), {
      headers: { authorization: `Bearer ${accessToken}` },
      signal: upload.signal,
    });
    return response.binaryDataId as string;
  };
}

function _bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256);
}

async function _rejectsWith(promise: Promise<unknown>, code: Code, pattern: RegExp) {
  const error = await promise.then(() => assert.fail("the upload succeeded"), (e) => e);
  assert.ok(error instanceof ConnectError, String(error));
  assert.equal(error.code, code, error.message);
  assert.match(error.message, pattern);
}

Deno.test("FileUpload over HTTP/2 stores binary data that listing, by-ids and uri serve", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const upload = await _client(platform);
  const content = _bytes(200_000);
  const modifyMs = Date.UTC(2026, 0, 2, 3, 4, 5, 600);
  const id = await upload({
    fileName: "models/detector.tflite",
    chunks: [content.subarray(0, 65536), content.subarray(65536)],
    tags: ["fleet"],
    datasetIds: ["ds-1"],
    modifyMs,
  });
  assert.deepEqual(platform.uploads, { completed: 1, cut: 0, refused: 0, peakConcurrent: 1 });
  assert.equal(platform.calls.FileUpload, 1);
  assert.deepEqual(platform.contentOf(id), content);
  assert.equal(platform.item(id).fileModifyTimeMs, modifyMs);

  const sdk = await connectSdk(platform);
  const filter = new dataApi.Filter({ partId: PART });
  const page = await sdk.dataClient.binaryDataByFilter(filter, 10, undefined, "", false);
  assert.equal(page.data.length, 1);
  const meta = page.data[0].metadata!;
  assert.equal(meta.binaryDataId, id);
  assert.equal(meta.fileName, "models/detector.tflite");
  assert.equal(meta.fileExt, ".bin");
  assert.deepEqual(meta.captureMetadata?.tags, ["fleet"]);
  assert.equal(meta.captureMetadata?.partId, PART);
  assert.deepEqual(meta.datasetIds, ["ds-1"]);
  assert.equal(fileSizeBytesOf(meta), 200_000n);
  assert.ok(meta.timeRequested!.toDate().getTime() <= meta.timeReceived!.toDate().getTime());
  const tagged = await sdk.dataClient.binaryDataByFilter(
    new dataApi.Filter({ tagsFilter: { tags: ["fleet"] } }),
    10,
    undefined,
    "",
    false,
  );
  assert.deepEqual(tagged.data.map((d) => d.metadata?.binaryDataId), [id]);
  const [inline] = await sdk.dataClient.binaryDataByIds([id]);
  assert.deepEqual(inline.binary, content);
  const response = await fetch(platform.uriOf(id), {
    headers: { key_id: platform.apiKeyId, key: platform.apiKey, range: "bytes=100000-" },
  });
  assert.equal(response.status, 206);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), content.subarray(100_000));
});

Deno.test("FileUpload needs the bearer token; bad metadata is refused and counted", async () => {
  await using platform = await startPlatform();
  const transport = createGrpcTransport({ baseUrl: platform.url, httpVersion: "2" });
  // deno-lint-ignore no-explicit-any
  const sync = createPromiseClient(DataSyncService, transport) as any;
  async function* one() {
    yield { uploadPacket: { case: "metadata", value: { partId: PART, type: 3 } } };
  }
  await _rejectsWith(sync.fileUpload(one()), Code.Unauthenticated, /Bearer/);
  const upload = await _client(platform);
  await _rejectsWith(upload({ partId: "", chunks: [] }), Code.InvalidArgument, /part_id/);
  await _rejectsWith(
    upload({ contentFirst: true, chunks: [_bytes(10)] }),
    Code.InvalidArgument,
    /first FileUploadRequest must carry metadata/,
  );
  platform.setFaults({ refuseUploadFileNames: ["bad.bin"] });
  await _rejectsWith(upload({ fileName: "bad.bin", chunks: [] }), Code.InvalidArgument, /bad\.bin/);
  await _rejectsWith(
    upload({ chunks: [new Uint8Array(MAX_MESSAGE_BYTES)] }),
    Code.ResourceExhausted,
    /./,
  );
  assert.equal(platform.uploads.refused, 3);
  assert.equal(platform.uploads.completed, 0);
  assert.equal(platform.items().length, 0);
});

Deno.test("a stream cut mid-file (fault or client abort) stores nothing and counts as cut", async () => {
  await using platform = await startPlatform();
  const upload = await _client(platform);
  platform.setFaults({ uploadUnavailableAfterBytes: 100_000, uploadUnavailableTimes: 1 });
  const chunks = [_bytes(65536), _bytes(65536, 2), _bytes(65536, 3)];
  await _rejectsWith(upload({ chunks }), Code.Unavailable, /after 131072 bytes/);
  assert.deepEqual(platform.uploads, { completed: 0, cut: 1, refused: 0, peakConcurrent: 1 });
  // The fault was for one upload only: the next one goes through.
  const id = await upload({ chunks });
  assert.equal(platform.item(id).sizeBytes, 3 * 65536);

  platform.setFaults({ uploadBytesPerSecond: 64 * 1024 });
  const controller = new AbortController();
  const pending = upload({ chunks: [_bytes(65536), _bytes(65536)], signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 200));
  controller.abort();
  await assert.rejects(pending);
  // The platform sees the reset on its side a moment later.
  for (let i = 0; i < 100 && platform.uploads.cut < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(platform.uploads, { completed: 1, cut: 2, refused: 0, peakConcurrent: 1 });
  assert.equal(platform.items().length, 1);
});

Deno.test("uploadReplyDelayMs: the file is stored while the reply is still held", async () => {
  const platform = await startPlatform();
  const upload = await _client(platform);
  platform.setFaults({ uploadReplyDelayMs: 60_000 });
  const pending = upload({ fileName: "held.bin", chunks: [_bytes(10)] });
  for (let i = 0; i < 200 && platform.uploads.completed === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(platform.items()[0].fileName, "held.bin");
  assert.equal(await settlesWithin(pending, 200), false);
  await platform.close();
  await assert.rejects(pending);
});

Deno.test("uploadBytesPerSecond reads content no faster than the pace", async () => {
  await using platform = await startPlatform();
  const upload = await _client(platform);
  platform.setFaults({ uploadBytesPerSecond: 256 * 1024 });
  const started = performance.now();
  await upload({ chunks: [_bytes(65536), _bytes(65536)] });
  // 128 KiB at 256 KiB/s: half a second at least (a lower bound holds on any machine).
  assert.ok(performance.now() - started >= 450);
});

Deno.test("BinaryDataByFilter: part_id and interval (end exclusive or inclusive), also count_only", async () => {
  let clock = Date.UTC(2026, 5, 1);
  await using platform = await startPlatform({ now: () => clock });
  const upload = await _client(platform);
  for (const [i, part] of ["a", "a", "b"].entries()) {
    clock = Date.UTC(2026, 5, 1) + i * 1000;
    await upload({ partId: part, fileName: `f${i}`, chunks: [_bytes(i + 1)] });
  }
  const sdk = await connectSdk(platform);
  const names = async (filter: ConstructorParameters<typeof dataApi.Filter>[0]) => {
    const page = await sdk.dataClient.binaryDataByFilter(
      new dataApi.Filter(filter),
      10,
      undefined,
      "",
      false,
    );
    const { count } = await sdk.dataClient.binaryDataByFilter(
      new dataApi.Filter(filter),
      undefined,
      undefined,
      "",
      false,
      true,
    );
    assert.equal(Number(count), page.data.length, "count_only agrees with the listing");
    return page.data.map((d) => d.metadata?.fileName);
  };
  assert.deepEqual(await names({ partId: "a" }), ["f0", "f1"]);
  assert.deepEqual(await names({ partId: "b" }), ["f2"]);
  const t0 = Date.UTC(2026, 5, 1);
  const interval = {
    start: Timestamp.fromDate(new Date(t0 + 1000)),
    end: Timestamp.fromDate(new Date(t0 + 2000)),
  };
  assert.deepEqual(await names({ interval }), ["f1"]);
  platform.setFaults({ intervalEndInclusive: true });
  assert.deepEqual(await names({ interval }), ["f1", "f2"]);
  assert.deepEqual(await names({ interval, partId: "a" }), ["f1"]);
});
