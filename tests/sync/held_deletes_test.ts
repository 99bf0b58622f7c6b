/** The count of deletes `max_delete` held back, as the file holding it is read. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HeldDeletes } from "../../src/sync/held_deletes.ts";

Deno.test("a huge held-deletes file is no count, and is not read whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data-mirror-held-huge-" });
  try {
    const file = await Deno.open(join(dir, "held-deletes"), { create: true, write: true });
    await file.truncate(1024 ** 3); // sparse: 1 GiB of zeros, no disk used
    file.close();
    assert.equal(await HeldDeletes.read(dir), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
