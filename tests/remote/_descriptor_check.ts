/**
 * Holds a hand-made message type to the project's embedded descriptor set (`src/viam_api.ts`):
 * each field's number, name, repetition, oneof and kind, message fields recursively.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type MessageType, ScalarType } from "@bufbuild/protobuf";
import { viamMessage } from "../../src/viam_api.ts";

/**
 * Asserts that `made` agrees with the set's message of the same name; `checked` collects the type
 * names already held (each is checked once).
 */
export function assertMatchesDescriptorSet(made: MessageType, checked: Set<string>): void {
  if (checked.has(made.typeName)) return;
  checked.add(made.typeName);
  const full = viamMessage(made.typeName);
  for (const field of made.fields.list()) {
    const where = `${made.typeName}.${field.name}`;
    const real = full.fields.find(field.no);
    assert.ok(real !== undefined, `${where}: no field ${field.no} in the set`);
    assert.equal(real.name, field.name, `${where}: the set's field ${field.no}`);
    assert.equal(real.repeated, field.repeated, `${where}: repeated`);
    assert.equal(real.oneof?.name, field.oneof?.name, `${where}: oneof`);
    if (real.kind === "enum") {
      // Sent as an int32: the same varint on the wire.
      assert.deepEqual(
        [field.kind, (field as { T?: unknown }).T],
        ["scalar", ScalarType.INT32],
        where,
      );
    } else if (real.kind === "scalar") {
      assert.deepEqual([field.kind, (field as { T?: unknown }).T], ["scalar", real.T], where);
    } else if (real.kind === "message" && field.kind === "message") {
      assert.equal(field.T.typeName, real.T.typeName, where);
      assertMatchesDescriptorSet(field.T, checked);
    } else {
      assert.fail(`${where}: a ${field.kind} field where the set has a ${real.kind}`);
    }
  }
}
