/**
 * Bad `--config` files, through the real program: every one is refused quickly with an error that
 * names the file and the rule, quotes none of its content, and stays short.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigFileError, readConfigFile } from "../../src/cli/config_file.ts";
import { runProgram } from "../_program.ts";

/** The first bytes of a file that must never be quoted. */
const CONTENT = "root:*:20210:0:99999:7:::";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "data-mirror-config-file-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function refusal(path: string): Promise<string> {
  const error = await readConfigFile(path).then(() => undefined, (caught) => caught);
  assert.ok(error instanceof ConfigFileError, `refused: ${error}`);
  return error.message;
}

Deno.test("special, huge and non-UTF-8 files are refused by kind, naming the file", async () => {
  await withDir(async (dir) => {
    const fifo = join(dir, "fifo");
    const mkfifo = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mkfifo.success);
    const huge = join(dir, "huge.json");
    await Deno.writeTextFile(huge, `{"tags": ["${"a".repeat(1024 * 1024)}"]}`);
    const binary = join(dir, "binary.json");
    await Deno.writeFile(binary, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    const cases: [string, string][] = [
      ["/dev/zero", 'config file "/dev/zero" is a device: expected a regular file'],
      [fifo, `config file ${JSON.stringify(fifo)} is a fifo: expected a regular file`],
      [dir, `config file ${JSON.stringify(dir)} is a directory: expected a regular file`],
      [huge, `config file ${JSON.stringify(huge)} is larger than 1 MiB`],
      [binary, `config file ${JSON.stringify(binary)} is not UTF-8 text`],
      [join(dir, "absent"), `cannot read config file ${JSON.stringify(join(dir, "absent"))}`],
    ];
    for (const [path, expected] of cases) {
      assert.ok((await refusal(path)).startsWith(expected), `${path}: ${await refusal(path)}`);
    }
  });
});

Deno.test("a relative path not found says which working folder it was looked for in", async () => {
  const absent = `absent-${crypto.randomUUID()}.json`;
  const message = await refusal(absent);
  assert.ok(
    message.endsWith(
      `(looked for in ${
        JSON.stringify(Deno.cwd())
      }: a relative path is read from the working folder)`,
    ),
    message,
  );
  assert.ok(!(await refusal("/nonexistent/x.json")).includes("looked for in"));
});

Deno.test("a key given twice in one object is refused (JSON.parse would keep the last in silence)", async () => {
  await withDir(async (dir) => {
    const twice = join(dir, "twice.json");
    await Deno.writeTextFile(
      twice,
      '{\n "delete": true,\n "protected_dirs": ["models"],\n "tags": ["a"],\n "protected_dirs": []\n}\n',
    );
    assert.match(
      await refusal(twice),
      /holds the key "protected_dirs" twice in one object \(again at line 5\)/,
    );
    // The same key in two objects, in an array or as a value, is no duplicate.
    const fine = join(dir, "fine.json");
    await Deno.writeTextFile(
      fine,
      '{"attributes": {"tags": ["tags", "a"], "x": {"tags": 1}}, "name": "m", "model": "x", "y": [{"k": 1}, {"k": 2}]}',
    );
    assert.deepEqual(await readConfigFile(fine), { tags: ["tags", "a"], x: { tags: 1 } });
  });
});

Deno.test("a JSON syntax error is named by line and column, never by the bytes there", async () => {
  await withDir(async (dir) => {
    const cases: [string, string][] = [
      [CONTENT, "at line 1, column 1"],
      ['{\n  "tags": ["a"],\n  "delete": tru\n}', "at line 3, column 13"],
      ['{"tags": ["a",]}', "at line 1, column 15"],
      ['{"a": "x\u0001"}', "at line 1, column 9"],
      ['{"a": 1', "(it ends too early)"],
      ['{"a": 1} root', "at line 1, column 10"],
      ["[".repeat(100_000), "(it ends too early)"],
    ];
    for (const [index, [text, where]] of cases.entries()) {
      const path = join(dir, `bad-${index}.json`);
      await Deno.writeTextFile(path, text);
      assert.equal(
        await refusal(path),
        `config file ${JSON.stringify(path)} is not valid JSON ${where}`,
      );
    }
    const list = join(dir, "list.json");
    await Deno.writeTextFile(list, "[1]");
    assert.equal(
      await refusal(list),
      `config file ${JSON.stringify(list)} must hold a JSON object of attributes`,
    );
  });
});

Deno.test("validate --config on a device, a secret-looking file or a huge name: exit 2, bounded, nothing quoted", async () => {
  await withDir(async (dir) => {
    const shadow = join(dir, "shadow");
    await Deno.writeTextFile(shadow, `${CONTENT}\nx\n`);
    const longName = join(dir, "long.json");
    await Deno.writeTextFile(
      longName,
      JSON.stringify({
        app_api_key: "k",
        app_api_key_id: "i",
        tags: ["t"],
        ["n".repeat(5 * 1024 * 1024 / 8)]: 1,
      }),
    );
    const zero = await runProgram(["validate", "--config", "/dev/zero"], { viamHome: dir });
    assert.equal(zero.code, 2);
    assert.equal(
      zero.stderr.trim(),
      'data-mirror: config file "/dev/zero" is a device: expected a regular file holding a JSON ' +
        "object",
    );
    const secret = await runProgram(["sync", "--config", shadow], { viamHome: dir });
    assert.equal(secret.code, 2);
    assert.equal(
      secret.stderr.trim(),
      `data-mirror: config file ${JSON.stringify(shadow)} is not valid JSON at line 1, column 1`,
    );
    assert.ok(!(secret.stdout + secret.stderr).includes("root"));
    const named = await runProgram(["validate", "--config", longName], { viamHome: dir });
    assert.equal(named.code, 0, named.stderr);
    assert.ok(named.stderr.length < 1000, `${named.stderr.length} bytes on stderr`);
    assert.match(named.stderr, /unknown attribute "n{100}…" \(ignored\)/);
  });
});

Deno.test("an empty --config path, and -, are refused: without the file there is no filter", async () => {
  assert.match(await refusal(""), /^--config was given an empty path \(an unset variable\?\)/);
  assert.match(await refusal("-"), /^--config - \(standard input\) is not read: name a file/);
  // Through the real program: `sync --config "$UNSET"` lists nothing and exits 2.
  await withDir(async (dir) => {
    const run = await runProgram(["sync", "--config", "", "--dry-run", "--json"], {
      viamHome: dir,
      env: { VIAM_API_KEY_ID: "id", VIAM_API_KEY: "key" },
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(JSON.parse(run.stdout).error, /--config was given an empty path/);
  });
});

Deno.test("a machine config gives its one data-mirror resource's attributes, or names the problem", async () => {
  await withDir(async (dir) => {
    const mirror = (name: string, tags: string[]) => ({
      name,
      api: "rdk:service:generic",
      model: "viam-soleng:data:mirror",
      attributes: { tags, sync_frequency: 30 },
    });
    const machine = (resources: unknown[]) => ({
      modules: [{ type: "registry", name: "viam-soleng_data-mirror", module_id: "x" }],
      components: [{ name: "cam", api: "rdk:component:camera", model: "webcam" }],
      services: resources,
    });
    const write = async (file: string, value: unknown) => {
      const path = join(dir, file);
      await Deno.writeTextFile(path, JSON.stringify(value));
      return path;
    };
    assert.deepEqual(
      await readConfigFile(await write("one.json", machine([mirror("faces", ["face"])]))),
      { tags: ["face"], sync_frequency: 30 },
    );
    const two = await write("two.json", machine([mirror("a", ["x"]), mirror("b", ["y"])]));
    assert.match(
      await refusal(two),
      /is a machine config with 2 viam-soleng:data:mirror resources \("a", "b"\): it needs exactly one/,
    );
    const none = await write("none.json", { modules: [], services: [] });
    assert.match(
      await refusal(none),
      /is a machine config with no viam-soleng:data:mirror resource: it needs exactly one/,
    );
  });
});
