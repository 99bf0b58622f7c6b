import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE_DIR, bundleProgram, programBundle } from "../scripts/program_bundle.ts";

/** A repository of two tiny entries in a temporary folder, bundled as the program's is. */
async function withRepo(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bundle-test-" });
  try {
    await Deno.mkdir(join(root, "src"));
    await Deno.writeTextFile(join(root, "deno.json"), "{}\n");
    await Deno.writeTextFile(
      join(root, "main.ts"),
      'import { word } from "./src/worker_main.ts";\n' +
        "/** A comment the bundle drops. */\n" +
        "console.log(`${word} from ${import.meta.url.endsWith('.js') ? 'bundle' : 'source'}`);\n",
    );
    await Deno.writeTextFile(join(root, "src", "worker_main.ts"), 'export const word = "one";\n');
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function runMain(main: URL): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", fileURLToPath(main)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("programBundle bundles once, again only when a source changes, and the bundle runs minified", async () => {
  await withRepo(async (root) => {
    let bundled = 0;
    const onBundle = () => bundled++;
    const main = await programBundle({ root, onBundle });
    assert.equal(fileURLToPath(main), join(root, BUNDLE_DIR, "main.js"));
    assert.equal(bundled, 1);
    assert.equal(await runMain(main), "one from bundle");
    const text = await Deno.readTextFile(main);
    assert.ok(!text.includes("A comment the bundle drops"));
    // Its source map lies beside it, named by no file: Deno would load a named one and keep it.
    assert.ok(!text.includes("sourceMappingURL"), "the bundle names its source map");
    assert.ok((await Deno.stat(`${fileURLToPath(main)}.map`)).isFile, "no source map beside it");
    assert.ok(
      (await Deno.stat(join(root, BUNDLE_DIR, "src", "worker_main.js"))).isFile,
      "the Worker's entry is not where main.ts looks for it",
    );

    await programBundle({ root, onBundle });
    assert.equal(bundled, 1, "an unchanged source was bundled again");

    // Same size, another modification time: still a changed source.
    const worker = join(root, "src", "worker_main.ts");
    await Deno.writeTextFile(worker, 'export const word = "two";\n');
    await Deno.utime(worker, new Date(), new Date(Date.now() + 5_000));
    await programBundle({ root, onBundle });
    assert.equal(bundled, 2, "a changed source was not bundled again");
    assert.equal(await runMain(main), "two from bundle");

    // A new file under src/ counts too.
    await Deno.writeTextFile(join(root, "src", "extra.ts"), "export {};\n");
    await programBundle({ root, onBundle });
    assert.equal(bundled, 3, "a new source file was not noticed");
  });
});

Deno.test("programBundle called twice at once on a stale bundle bundles once: the second waits and finds it made", async () => {
  await withRepo(async (root) => {
    let bundled = 0;
    const onBundle = () => bundled++;
    const [first, second] = await Promise.all([
      programBundle({ root, onBundle }),
      programBundle({ root, onBundle }),
    ]);
    assert.equal(bundled, 1);
    assert.equal(first.href, second.href);
    assert.equal(await runMain(first), "one from bundle");
  });
});

Deno.test("a bundle that would require a module at run time is refused, and the previous bundle stays", async () => {
  await withRepo(async (root) => {
    const main = await bundleProgram({ root });
    // An npm package of CommonJS that requires a Node built-in (cli-progress, `node:events`), under
    // a name UNBUNDLED_PACKAGES does not hold: bundled, its require would throw only when it runs.
    await Deno.writeTextFile(
      join(root, "deno.json"),
      JSON.stringify({ imports: { "progress-bars": "npm:cli-progress@3.12.0" } }),
    );
    await Deno.writeTextFile(
      join(root, "src", "worker_main.ts"),
      'import bars from "progress-bars";\nexport const word = typeof bars.SingleBar;\n',
    );
    await assert.rejects(
      bundleProgram({ root }),
      /the bundle's \S+\.js requires a module at run time, which fails when that code runs: add the npm package that does it to UNBUNDLED_PACKAGES/,
    );
    assert.equal(await runMain(main), "one from bundle");
    const left = [...Deno.readDirSync(join(root, "dist"))].map((entry) => entry.name);
    assert.deepEqual(
      left.filter((name) => !name.startsWith(".")).sort(),
      ["program"],
      "the failed bundle's folder was left behind",
    );
  });
});

Deno.test("a bundle whose minifier dropped a `using` is refused; one that joined two is not", async () => {
  await withRepo(async (root) => {
    const worker = (body: string) =>
      Deno.writeTextFile(
        join(root, "src", "worker_main.ts"),
        `const r = (n: string) => ({ [Symbol.dispose]: () => console.error(n) });\n${body}\n` +
          "f();\nexport const word = 'one';\n",
      );
    // Two in a row: joined into one declaration (`using a=r("a"),b=r("b")`), both still disposed.
    await worker(
      'function f() {\n  using a = r("a");\n  using b = r("b");\n  g(a, b);\n}\n' +
        "function g(...x: unknown[]) { if (x.length > 9) console.log(x); }",
    );
    assert.equal(await runMain(await bundleProgram({ root })), "one from bundle");
    // A handle used once, in the statement after it (a folder's fsync): esbuild 0.25.5 inlines it
    // and the disposal goes (evanw/esbuild#4482).
    await worker(
      "async function f() {\n  using dir = await Deno.open('.', { read: true });\n" +
        "  await dir.sync();\n}",
    );
    await assert.rejects(
      bundleProgram({ root }),
      /the bundle's \S+\.js holds 0 of the 1 `using` declarations of its sources \(\S*worker_main\.ts\): the minifier dropped a disposal/,
    );
  });
});
