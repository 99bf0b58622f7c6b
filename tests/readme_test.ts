/** The README states the permission set and the commands the project really has. */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { ALLOWED_ENV, ALLOWED_SYS, PRODUCTION_FLAGS } from "../src/permissions.ts";
import { CONFIG_ATTRIBUTES } from "../src/config.ts";

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));

Deno.test("the README lists every environment variable and sys call the program may use", () => {
  for (const name of [...ALLOWED_ENV, ...ALLOWED_SYS]) {
    assert.ok(readme.includes(`\`${name}\``), `README does not name ${name}`);
  }
  for (const flag of PRODUCTION_FLAGS.filter((f) => !f.startsWith("--allow-env="))) {
    assert.ok(readme.includes(flag), `README does not show the baked flag ${flag}`);
  }
});

Deno.test("the README documents every attribute and every task", () => {
  for (const attribute of CONFIG_ATTRIBUTES) {
    assert.match(readme, new RegExp(`^\\| \`${attribute}\` +\\|`, "m"), `no row for ${attribute}`);
  }
  for (const task of Object.keys(denoJson.tasks)) {
    assert.ok(readme.includes(`deno task ${task}`), `README does not mention deno task ${task}`);
  }
  assert.ok(readme.includes("npx --yes deno@2.9.6 task test"), "the test command");
  assert.ok(readme.includes("npx --yes deno@2.9.6 task demo"), "the demo command");
});
