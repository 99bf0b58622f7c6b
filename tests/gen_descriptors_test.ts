import assert from "node:assert/strict";
import { FileDescriptorSet } from "@bufbuild/protobuf";
import { generateDescriptors } from "../scripts/gen_descriptors.ts";
import { viamMessage, viamService } from "../src/viam_api.ts";

const PROTO = new URL("../proto/", import.meta.url);

Deno.test("src/gen/viam_descriptors.ts is exactly what deno task descriptors makes from proto/", async () => {
  const committed = await Deno.readTextFile(
    new URL("../src/gen/viam_descriptors.ts", import.meta.url),
  );
  assert.equal(committed, await generateDescriptors(), "run `deno task descriptors`");
});

Deno.test("proto/source.json names the viamrobotics/api commit of the set", async () => {
  const source = JSON.parse(await Deno.readTextFile(new URL("source.json", PROTO)));
  assert.equal(source.repository, "https://github.com/viamrobotics/api");
  assert.match(source.commit, /^[0-9a-f]{40}$/);
  const set = FileDescriptorSet.fromBinary(
    await Deno.readFile(new URL(source.descriptorSet, PROTO)),
  );
  const names = set.file.map((file) => file.name);
  for (
    const name of [
      "module/v1/module.proto",
      "app/datasync/v1/data_sync.proto",
      "app/data/v1/data.proto",
      "robot/v1/robot.proto",
    ]
  ) {
    assert.ok(names.includes(name), name);
  }
});

Deno.test("the set serves the module and carries DataSyncService.FileUpload for pushing", () => {
  const dataSync = viamService("viam.app.datasync.v1.DataSyncService");
  const upload = dataSync.methods.fileUpload;
  assert.equal(upload.name, "FileUpload");
  assert.equal(upload.I.typeName, "viam.app.datasync.v1.FileUploadRequest");
  const metadata = viamMessage("viam.app.datasync.v1.UploadMetadata");
  assert.deepEqual(
    metadata.fields.list().map((field) => field.name).filter((name) => name.startsWith("file_")),
    ["file_name", "file_extension", "file_create_time", "file_modify_time"],
  );
  assert.ok(viamMessage("viam.app.data.v1.BinaryMetadata"));
  assert.throws(() => viamService("viam.nope.v1.Nope"), /lacks the service viam\.nope\.v1\.Nope/);
});
