/** The engine's messages, worded in the CLI's terms. */
import assert from "node:assert/strict";
import { flagHint, inCliTerms } from "../../src/cli/attribute_flags.ts";

Deno.test("attribute names become flags; ordinary words and unknown names stay", () => {
  assert.equal(
    inCliTerms("refusing to delete all 2 local files (allow_delete_all: true allows it)"),
    "refusing to delete all 2 local files (--allow-delete-all allows it)",
  );
  assert.equal(
    inCliTerms("more than max_delete allows: raise max_delete for one pass"),
    "more than --max-delete allows: raise --max-delete for one pass",
  );
  assert.equal(
    inCliTerms("allow_delete_all has no effect without delete: true"),
    "--allow-delete-all has no effect without --delete",
  );
  assert.equal(
    inCliTerms("delete the start of my_max_delete_file and free_space_reserve_percent_x"),
    "delete the start of my_max_delete_file and free_space_reserve_percent_x",
  );
});

Deno.test("config errors point to the flag, and never to a key flag", () => {
  assert.equal(flagHint("concurrency"), "--concurrency");
  assert.equal(flagHint("bandwidth_limit"), "--bwlimit");
  assert.equal(
    flagHint("app_api_key"),
    "set the VIAM_API_KEY environment variable, or app_api_key in the --config file",
  );
  assert.equal(flagHint("VIAM_HOME"), undefined);
  assert.equal(flagHint("push_min_age"), "--min-age");
  assert.equal(flagHint("push_path"), "--push-path");
});
