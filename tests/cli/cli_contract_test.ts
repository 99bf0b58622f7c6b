/**
 * The CLI contract, end to end: the real program (`main.ts` under the production permission flags)
 * run as a process against the local data platform in this process. Exit codes, the `--json`
 * document (exactly one on stdout, checked with `jq -e .`), every `sync` option, `validate`, usage
 * errors, help and version, progress by bytes, Ctrl-C, `--watch`, and an API key that never shows in
 * any output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../../deno.json" with { type: "json" };
import {
  describeDataset,
  type Faults,
  type ItemGroup,
  type Platform,
  startPlatform,
} from "../support/platform/mod.ts";
import { readTree, writePlaced } from "../sync/_harness.ts";
import { pollUntil } from "../_poll.ts";
import { type ProgramOutput, type RunningProgram, runProgram, spawnProgram } from "../_program.ts";

/** A distinctive key, so any echo of it in an output is found. */
const KEY = { id: "cli-contract-key-id", key: "CLI-CONTRACT-SECRET-5f81c3e2a9" };
/** A key the platform refuses: a secret too. */
const WRONG_KEY = "WRONG-CLI-SECRET-0d7b44e1c6";
const KEY_ENV = { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: KEY.key };
const SUMMARY_KEYS = ["listed", "downloaded", "skipped", "deleted", "failed", "bytes"] as const;

interface Cli {
  platform: Platform;
  /** The temporary Viam home. */
  home: string;
  /** The default mirror, `<home>/data_mirror`. */
  root: string;
  /** Runs the program (no key unless `env` gives one) and checks that no key shows in its output. */
  run(args: string[], env?: Record<string, string>): Promise<ProgramOutput>;
  /** `sync --app-url <platform> <args>` with the key in the environment. */
  sync(...args: string[]): Promise<ProgramOutput>;
}

async function withCli(
  groups: ItemGroup[],
  fn: (cli: Cli) => Promise<void>,
  options: { faults?: Faults } = {},
): Promise<void> {
  await using platform = await startPlatform({
    dataset: describeDataset(groups),
    apiKeys: [KEY],
    faults: options.faults,
  });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-cli-" });
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const output = await runProgram(args, { viamHome: home, env });
    assertNoSecret(output);
    return output;
  };
  try {
    await fn({
      platform,
      home,
      root: join(home, "data_mirror"),
      run,
      sync: (...args) => run(["sync", "--app-url", platform.url, ...args], KEY_ENV),
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

function assertNoSecret(output: ProgramOutput): void {
  for (const secret of [KEY.key, WRONG_KEY]) {
    assert.ok(!output.stdout.includes(secret), `an API key on stdout:\n${output.stdout}`);
    assert.ok(!output.stderr.includes(secret), `an API key on stderr:\n${output.stderr}`);
  }
}

/** `stdout` parsed as exactly one JSON document; `jq -e .` accepts it too. */
function onlyDocument(stdout: string): Record<string, unknown> {
  assert.equal(stdout.trimEnd().split("\n").length, 1, `one line on stdout:\n${stdout}`);
  const file = Deno.makeTempFileSync({ prefix: "data-mirror-json-" });
  try {
    Deno.writeTextFileSync(file, stdout);
    const jq = new Deno.Command("jq", { args: ["-e", ".", file], stdout: "null" }).outputSync();
    assert.ok(jq.success, `jq -e . refused stdout:\n${stdout}`);
  } finally {
    Deno.removeSync(file);
  }
  return JSON.parse(stdout);
}

function assertExit(output: ProgramOutput, code: number): void {
  assert.equal(
    output.code,
    code,
    `exit ${output.code}, expected ${code}\nstdout:\n${output.stdout}\nstderr:\n${output.stderr}`,
  );
}

/**
 * The `--json` document: stdout must be exactly one JSON document (what `jq -e .` reads), with the
 * contract's numeric keys and the exit code.
 */
function summaryOf(output: ProgramOutput): Record<string, unknown> {
  const summary = onlyDocument(output.stdout);
  assert.equal(summary.exitCode, output.code, "the document's exitCode");
  for (const key of SUMMARY_KEYS) assert.equal(typeof summary[key], "number", `${key} in summary`);
  return summary;
}

/** Asserts that `root` holds exactly the platform items in `ids`, byte for byte. */
async function assertMirrorHolds(root: string, platform: Platform, ids: string[]): Promise<void> {
  const tree = await readTree(root);
  const expected = ids.map((id) => platform.item(id));
  assert.deepEqual([...tree.keys()].sort(), expected.map((item) => item.fileName).sort());
  for (const item of expected) {
    assert.deepEqual(tree.get(item.fileName), platform.contentOf(item.binaryDataId), item.fileName);
  }
}

function idsWhere(platform: Platform, test: (fileId: string) => boolean): string[] {
  return platform.items().filter((item) => test(item.fileId)).map((item) => item.binaryDataId);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value));
}

Deno.test("sync --json mirrors the dataset byte for byte and reports it; a second run skips it all", async () => {
  await withCli([
    { name: "cam", count: 6, tags: ["a"] },
    { name: "model", count: 2, sizeBytes: (i) => 300_000 + i, tags: ["a"] },
    { name: "other", count: 3, tags: ["b"] },
  ], async ({ platform, root, sync }) => {
    const wanted = idsWhere(platform, (id) => !id.startsWith("other"));
    const first = await sync("--tags", "a", "--json");
    assertExit(first, 0);
    const summary = summaryOf(first);
    const bytes = wanted.reduce((sum, id) => sum + platform.item(id).sizeBytes, 0);
    assert.deepEqual(
      SUMMARY_KEYS.map((key) => summary[key]),
      [wanted.length, wanted.length, 0, 0, 0, bytes],
    );
    await assertMirrorHolds(root, platform, wanted);

    platform.resetCalls();
    const second = await sync("--tags", "a", "--json");
    assertExit(second, 0);
    const again = summaryOf(second);
    assert.deepEqual(
      SUMMARY_KEYS.map((key) => again[key]),
      [wanted.length, 0, wanted.length, 0, 0, 0],
    );
    assert.equal(platform.calls.download, 0);
    assert.equal(platform.calls.BinaryDataByIDs, 0);
  });
});

Deno.test("--tags, --labels and --dataset-id filter, --mirror-path picks the folder, the key id may come by flag", async () => {
  await withCli([
    { name: "both", count: 2, tags: ["alpha"], bboxLabels: ["person"], datasetIds: ["ds1"] },
    { name: "beta", count: 2, tags: ["beta"] },
    { name: "person", count: 3, bboxLabels: ["person"], datasetIds: ["ds1"] },
    { name: "car", count: 2, bboxLabels: ["car"], datasetIds: ["ds1"] },
    { name: "loose", count: 2, bboxLabels: ["person"] },
  ], async ({ platform, home, root, run, sync }) => {
    const byFlags = await run([
      "sync",
      "--app-url",
      platform.url,
      "--api-key-id",
      KEY.id,
      "--tags",
      "alpha,beta",
      "--mirror-path",
      "mirrors/tagged",
    ], { VIAM_API_KEY: KEY.key });
    assertExit(byFlags, 0);
    await assertMirrorHolds(
      join(home, "mirrors/tagged"),
      platform,
      idsWhere(platform, (id) => id.startsWith("both") || id.startsWith("beta")),
    );

    const labelled = await sync("--labels", "person", "--dataset-id", "ds1", "--mirror-path", "p");
    assertExit(labelled, 0);
    await assertMirrorHolds(
      join(home, "p"),
      platform,
      idsWhere(platform, (id) => id.startsWith("both") || id.startsWith("person")),
    );
    assert.equal(await exists(root), false, "the default mirror was not asked for");
  });
});

Deno.test("--delete removes stale files and prunes their dirs, but never inside a --protected-dir", async () => {
  await withCli([{ name: "cam", count: 3, tags: ["a"] }], async ({ platform, root, sync }) => {
    assertExit(await sync("--tags", "a"), 0);
    const stale = ["stale.jpeg", "old/deep/x.bin"];
    const kept = ["keep/a.bin", "models/deep/b.bin"];
    // As a pass would have placed them (files written by hand alone are their user's, kept).
    for (const path of [...stale, ...kept]) await writePlaced(root, path, path);

    const output = await sync(
      "--tags",
      "a",
      "--delete",
      "--protected-dir",
      "keep",
      "--protected-dir",
      "models",
      "--json",
    );
    assertExit(output, 0);
    assert.equal(summaryOf(output).deleted, stale.length);
    for (const path of kept) assert.equal(await Deno.readTextFile(join(root, path)), path);
    assert.equal(await exists(join(root, "stale.jpeg")), false);
    assert.equal(await exists(join(root, "old")), false, "emptied dirs are pruned");
    const tree = await readTree(root);
    assert.deepEqual(
      [...tree.keys()].sort(),
      [...platform.items().map((item) => item.fileName), ...kept].sort(),
    );
  });
});

Deno.test("an empty listing deletes nothing unless --allow-delete-all; --log-level debug shows each file", async () => {
  await withCli([{ name: "cam", count: 2, tags: ["a"] }], async ({ root, sync }) => {
    const first = await sync("--tags", "a", "--log-level", "debug");
    assertExit(first, 0);
    assert.match(first.stderr, /^DEBUG wrote cam\/cam-000000\.jpeg bytes=\d+$/m);
    assert.match(first.stderr, /^DEBUG wrote cam\/cam-000001\.jpeg/m);

    const typo = await sync("--tags", "typo", "--delete", "--json", "--log-level", "warn");
    assertExit(typo, 3);
    const held = "the listing returned no files: refusing to delete all 2 local files (a wrong " +
      "filter lists nothing; --allow-delete-all allows it)";
    assert.equal(summaryOf(typo).deleted, 0);
    assert.equal(summaryOf(typo).guard, held);
    assert.equal(summaryOf(typo).exitCode, 3);
    assert.ok(typo.stderr.includes(`\nheld back: ${held}\n`), typo.stderr);
    // Said once, in the flags' words: not again by the pass's log, in the attributes'.
    assert.doesNotMatch(typo.stderr, /not deleting:|allow_delete_all: true/);
    assert.doesNotMatch(typo.stderr, /DEBUG|INFO/, "--log-level warn hides debug and info");
    assert.equal((await readTree(root)).size, 2);

    const allowed = await sync("--tags", "typo", "--delete", "--allow-delete-all", "--json");
    assertExit(allowed, 0);
    assert.equal(summaryOf(allowed).deleted, 2);
    assert.equal((await readTree(root)).size, 0);
  });
});

Deno.test("--sync-frequency without --watch runs one pass and says the flag had no effect", async () => {
  await withCli([{ name: "cam", count: 1, tags: ["a"] }], async ({ sync }) => {
    const output = await sync("--tags", "a", "--sync-frequency", "30", "--json");
    assertExit(output, 0);
    assert.equal(summaryOf(output).downloaded, 1);
    assert.match(
      output.stderr,
      /--sync-frequency has no effect without --watch: this runs one pass/,
    );
  });
});

Deno.test("a pass whose key is refused part way says what it did before: its summary is not zeroed", async () => {
  // Two pages: the first one's files go while the second is refused (a new token does not help).
  await withCli([{ name: "cam", count: 150, tags: ["a"] }], async ({ sync, root, platform }) => {
    // Every call held 100 ms: the refusal (and the new sign-in that does not cure it) comes well
    // after the first page's download call went.
    platform.setFaults({
      failListingAfterPage: 1,
      failListingCode: "unauthenticated",
      latencyMs: 100,
    });
    const output = await sync("--tags", "a", "--json");
    assertExit(output, 1);
    const placed = (await readTree(root)).size;
    assert.ok(placed > 0, "the first page's files were placed");
    assert.equal(summaryOf(output).downloaded, placed);
    assert.match(output.stderr, new RegExp(`${placed} downloaded.*; failed: .*unauthenticated`));
    // Refused at its first call: the same line, with nothing done.
    platform.setFaults({ failListingAfterPage: 0, failListingCode: "unauthenticated" });
    const refused = await sync("--tags", "a", "--mirror-path", "other");
    assertExit(refused, 1);
    assert.match(refused.stdout, /^0 listed, .*0 downloaded.*; failed: .*unauthenticated/m);
  });
});

Deno.test("a pass whose listing is cut short says so on its summary line, not only on stderr", async () => {
  await withCli([{ name: "cam", count: 150, tags: ["a"] }], async ({ sync, root, platform }) => {
    // The second page is refused for good (not retried): the first page's files still go.
    platform.setFaults({ failListingAfterPage: 1, failListingCode: "invalid_argument" });
    const output = await sync("--tags", "a", "--delete");
    assertExit(output, 1);
    const placed = (await readTree(root)).size;
    assert.ok(placed > 0, "the first page's files were placed");
    assert.match(
      output.stdout,
      new RegExp(`^\\d+ listed, ${placed} downloaded .* 0 deleted, 0 failed, .*; failed: .+$`, "m"),
    );
  });
});

Deno.test("--watch with --dry-run runs one dry run and says --watch had no effect", async () => {
  await withCli([{ name: "cam", count: 1, tags: ["a"] }], async ({ sync, root }) => {
    const output = await sync("--tags", "a", "--watch", "--dry-run", "--json");
    assertExit(output, 0);
    assert.match(output.stderr, /--watch has no effect with --dry-run: this runs one dry run/);
    assert.equal((await readTree(root)).size, 0);
  });
});

Deno.test("--free-space-reserve is validated like the attribute (0 to 50)", async () => {
  await withCli([{ count: 1, tags: ["a"] }], async ({ sync }) => {
    const tooMuch = await sync("--tags", "a", "--free-space-reserve", "51");
    assertExit(tooMuch, 2);
    assert.match(tooMuch.stderr, /free_space_reserve_percent .*51 \(--free-space-reserve\)/);
    const none = await sync("--tags", "a", "--free-space-reserve", "0", "--json");
    assertExit(none, 0);
    assert.equal(summaryOf(none).downloaded, 1);
  });
});

Deno.test("flags override --config values, and the key may come from the config file", async () => {
  await withCli([
    { name: "cam", count: 3, tags: ["a"] },
    { name: "other", count: 2, tags: ["nomatch"] },
  ], async ({ platform, home, run }) => {
    const configDir = await Deno.makeTempDir({ prefix: "data-mirror-cli-config-" });
    try {
      const config = join(configDir, "mirror.json");
      await writeJson(config, {
        app_api_key_id: KEY.id,
        app_api_key: KEY.key,
        app_url: platform.url,
        tags: ["nomatch"],
        mirror_path: "from-config",
        concurrency: 0, // invalid on its own: only the flag's value makes the run valid
      });
      const output = await run([
        "sync",
        "--config",
        config,
        "--tags",
        "a",
        "--mirror-path",
        "from-flags",
        "--concurrency",
        "2",
        "--json",
      ]);
      assertExit(output, 0);
      assert.equal(summaryOf(output).listed, 3);
      await assertMirrorHolds(
        join(home, "from-flags"),
        platform,
        idsWhere(platform, (id) => id.startsWith("cam")),
      );
      assert.equal(await exists(join(home, "from-config")), false);
    } finally {
      await Deno.remove(configDir, { recursive: true });
    }
  });
});

Deno.test("sync with a config that only pushes (push_path, no filter) is refused, mirroring nothing", async () => {
  await withCli([{ count: 2 }], async ({ platform, root, run }) => {
    const configDir = await Deno.makeTempDir({ prefix: "data-mirror-cli-config-" });
    try {
      const config = join(configDir, "mirror.json");
      await writeJson(config, {
        ...{ app_api_key_id: KEY.id, app_api_key: KEY.key, app_url: platform.url },
        push_path: "outbox",
        push_tags: ["fleet"],
      });
      const refused = await run(["sync", "--config", config]);
      assertExit(refused, 2);
      assert.match(refused.stderr, /the config only pushes .*one sync pass has nothing to mirror/);
      assert.equal(platform.calls.BinaryDataByFilter, 0);
      assert.equal(await exists(root), false);
      // With a filter given, it mirrors that as well.
      assertExit(await run(["sync", "--config", config, "--dataset-id", "none"]), 0);
    } finally {
      await Deno.remove(configDir, { recursive: true });
    }
  });
});

Deno.test("--dry-run prints what would be downloaded and deleted and changes nothing", async () => {
  await withCli(
    [{ name: "cam", count: 4, tags: ["a"] }],
    async ({ platform, home, root, sync }) => {
      assertExit(await sync("--tags", "a"), 0);
      const [missing] = platform.items();
      await Deno.remove(join(root, missing.fileName));
      await writePlaced(root, "stale.txt", "stale");
      const before = await snapshot(home);
      platform.resetCalls();

      const output = await sync("--tags", "a", "--delete", "--dry-run", "--json");
      assertExit(output, 0);
      // With --json the lines for people go to stderr; stdout is the one document.
      const lines = output.stderr.split("\n");
      assert.ok(lines.includes(`mirror: ${root}`), output.stderr);
      assert.ok(lines.includes(`would download ${missing.fileName}`), output.stderr);
      assert.ok(lines.includes("would delete stale.txt"), output.stderr);
      assert.equal(output.stdout.trimEnd().split("\n").length, 1);
      const report = onlyDocument(output.stdout);
      assert.equal(report.mirrorRoot, root);
      assert.equal(report.dryRun, true);
      assert.equal(report.listed, 4);
      assert.equal(report.downloadCount, 1);
      assert.equal(report.deleteCount, 1);
      assert.deepEqual(await snapshot(home), before);
      // --dry-run wins over --watch: one report, nothing changed, no loop.
      const watched = await sync("--tags", "a", "--delete", "--dry-run", "--watch");
      assertExit(watched, 0);
      assert.match(watched.stdout, /^would delete stale\.txt$/m);
      assert.deepEqual(await snapshot(home), before);
      assert.equal(platform.calls.download, 0);
      assert.equal(platform.calls.BinaryDataByIDs, 0);
    },
  );
});

/** Every entry under `dir` with its kind, size, mtime and, for files, content. */
async function snapshot(dir: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(join(dir, rel))) {
      const path = join(rel, entry.name);
      const info = await Deno.lstat(join(dir, path));
      const content = info.isFile ? await Deno.readTextFile(join(dir, path)) : "";
      entries.push(`${path} ${info.isDirectory} ${info.size} ${info.mtime?.getTime()} ${content}`);
      if (info.isDirectory) await walk(path);
    }
  };
  await walk("");
  return entries.sort();
}

Deno.test("validate --config exits 0 for a valid config, 2 naming each invalid attribute", async () => {
  await withCli([], async ({ home, run, platform }) => {
    const valid = join(home, "valid.json");
    const invalid = join(home, "invalid.json");
    await writeJson(valid, { app_api_key_id: KEY.id, app_api_key: KEY.key, tags: ["a"] });
    await writeJson(invalid, {
      app_api_key_id: KEY.id,
      app_api_key: KEY.key,
      concurrency: 0,
      mirror_path: "../outside",
      sync_frequency: 0.5,
    });
    const [ok, bad] = await Promise.all([
      run(["validate", "--config", valid]),
      run(["validate", "--config", invalid]),
    ]);
    assertExit(ok, 0);
    assert.equal(ok.stdout, `${JSON.stringify(valid)}: valid; mirrors into ${home}/data_mirror\n`);
    const pusher = join(home, "pusher.json");
    await writeJson(pusher, {
      ...{ app_api_key_id: KEY.id, app_api_key: KEY.key },
      push_path: "out",
    });
    const pushOnly = await run(["validate", "--config", pusher]);
    assertExit(pushOnly, 0);
    assert.match(pushOnly.stdout, /: valid; pushes .*\/out \(push only\)\n$/);
    // A mirror in that push folder (marked by its journal): what the pass refuses, validate does.
    await Deno.mkdir(join(home, "out", ".data-mirror"), { recursive: true });
    await Deno.writeTextFile(join(home, "out", ".data-mirror", "push-journal.json"), "{}");
    const inside = join(home, "inside.json");
    await writeJson(inside, {
      app_api_key_id: KEY.id,
      app_api_key: KEY.key,
      tags: ["a"],
      mirror_path: "out/m",
    });
    const refused = await run(["validate", "--config", inside]);
    assertExit(refused, 2);
    assert.match(
      refused.stderr,
      /mirror_path out\/m .* lies inside .*\/out, which is a push folder/,
    );
    // sync refuses it as a configuration fault too (exit 2), before any call and any folder.
    const sync = await run(["sync", "--config", inside, "--app-url", "http://127.0.0.1:2"]);
    assertExit(sync, 2);
    assert.match(sync.stderr, /mirror_path out\/m .* lies inside .*\/out, which is a push folder/);
    assert.equal(await exists(join(home, "out", "m")), false);
    // A push folder inside a mirror, or inside another push folder: refused the same way (a
    // reviewer: valid, then every pass failed with exit 1, and the folder was made).
    await Deno.mkdir(join(home, "data_mirror", ".data-mirror", "partial"), { recursive: true });
    for (
      const [pushPath, outer] of [["data_mirror/cams", "a mirror"], ["out/in", "a push folder"]]
    ) {
      const pushing = join(home, "pushing.json");
      await writeJson(pushing, {
        ...{ app_api_key_id: KEY.id, app_api_key: KEY.key },
        ...{ tags: ["a"], mirror_path: "elsewhere" },
        push_path: pushPath,
        push_tags: ["t"],
      });
      const shown = new RegExp(`push folder ${pushPath} .* lies inside .*, which is ${outer}`);
      const part = { VIAM_MACHINE_PART_ID: "p" };
      for (
        const args of [
          ["validate", "--config", pushing],
          ["push", "--config", pushing, "--app-url", "http://127.0.0.1:2"],
          ["sync", "--watch", "--config", pushing, "--app-url", "http://127.0.0.1:2"],
        ]
      ) {
        const refusedPush = await run(args, part);
        assertExit(refusedPush, 2);
        assert.match(refusedPush.stderr, shown, `${args[0]}: ${refusedPush.stderr}`);
      }
      assert.equal(await exists(join(home, pushPath)), false, "nothing made");
      // One pass does not push: its mirror goes on.
      const once = await run(["sync", "--config", pushing, "--app-url", platform.url], part);
      assertExit(once, 0);
      assert.doesNotMatch(once.stderr, shown);
    }
    assertExit(bad, 2);
    // Each problem on its own line, naming its attribute once.
    assert.equal(
      bad.stderr,
      [
        `${JSON.stringify(invalid)}: invalid`,
        "  sync_frequency must be a number of seconds from 1 to 2147483, got 0.5 (the original " +
        "module ran a pass that often, each one listing the whole set again: write 1 or more (60 " +
        "for a pass a minute))",
        "  concurrency must be a whole number from 1 to 64, got 0",
        '  mirror_path "../outside" has a ".." component: expected a directory inside ' + home,
        "",
      ].join("\n"),
    );
  });
});

Deno.test("validate takes what the original module took for unset as the module does, and says the CLI refuses it", async () => {
  await withCli([], async ({ home, run }) => {
    const original = join(home, "original.json");
    await writeJson(original, {
      ...{ app_api_key_id: KEY.id, app_api_key: KEY.key, tags: ["a"] },
      ...{ mirror_path: "", dataset_id: "", sync_frequency: 0 },
    });
    const checked = await run(["validate", "--config", original]);
    assertExit(checked, 0);
    assert.equal(
      checked.stdout,
      `${JSON.stringify(original)}: valid; mirrors into ${home}/data_mirror\n`,
    );
    for (const field of ["mirror_path", "dataset_id", "sync_frequency"]) {
      assert.match(
        checked.stderr,
        new RegExp(`warning: ${field} .* is taken as unset, as the original`),
      );
      assert.match(
        checked.stderr,
        new RegExp(`warning: sync --config and push --config refuse this file: ${field} `),
      );
    }
    const sync = await run(["sync", "--config", original, "--app-url", "http://127.0.0.1:2"]);
    assertExit(sync, 2);
    assert.match(sync.stderr, /sync_frequency must be a number of seconds/);
  });
});

Deno.test("validate says a push_path config is refused where VIAM_MACHINE_PART_ID is unset, as sync --watch does", async () => {
  await withCli([], async ({ home, run }) => {
    const config = join(home, "pusher.json");
    await writeJson(config, {
      ...{ app_api_key_id: KEY.id, app_api_key: KEY.key },
      tags: ["a"],
      push_path: "out",
      push_tags: ["t"],
    });
    const without = await run(["validate", "--config", config]);
    assertExit(without, 0);
    assert.match(without.stderr, /VIAM_MACHINE_PART_ID is not/);
    const withPart = await run(["validate", "--config", config], { VIAM_MACHINE_PART_ID: "p" });
    assertExit(withPart, 0);
    assert.doesNotMatch(withPart.stderr, /VIAM_MACHINE_PART_ID/);
  });
});

Deno.test("SIGTERM while loading a sync whose configuration is wrong: the configuration error stands (exit 2)", async () => {
  await withCli([], async ({ platform, home }) => {
    const output = await _terminatedWhileLoading(() =>
      spawnProgram(
        ["sync", "--app-url", platform.url, "--tags", "a", "--concurrency", "0", "--json"],
        { viamHome: home, env: KEY_ENV },
      )
    );
    assertNoSecret(output);
    assertExit(output, 2);
    assert.equal(onlyDocument(output.stdout).exitCode, 2);
  });
});

Deno.test("a command that does not listen for signals (validate) and gets SIGTERM while loading exits 143", async () => {
  await withCli([], async ({ home }) => {
    const valid = join(home, "valid.json");
    await writeJson(valid, { app_api_key_id: KEY.id, app_api_key: KEY.key, tags: ["a"] });
    const output = await _terminatedWhileLoading(() =>
      spawnProgram(["validate", "--config", valid], { viamHome: home })
    );
    assertNoSecret(output);
    // It ran to its end (the signal reached no listener of its own), and says it was stopped.
    assertExit(output, 143);
  });
});

Deno.test("validate takes the key from the environment as sync --config does (the systemd example holds none)", async () => {
  await withCli([], async ({ run }) => {
    const example = new URL("../../docs/systemd/mirror.json.example", import.meta.url).pathname;
    const withKey = await run(["validate", "--config", example], KEY_ENV);
    assertExit(withKey, 0);
    assert.match(withKey.stdout, /: valid; mirrors into /);
    assert.match(
      withKey.stderr,
      /app_api_key_id and app_api_key not in the file: taken from the environment/,
    );
    const without = await run(["validate", "--config", example], {});
    assertExit(without, 2);
    assert.match(
      without.stderr,
      /app_api_key is required: .* \(set VIAM_API_KEY in the environment, or app_api_key in the file\)/,
    );
    const document = await run(["validate", "--config", example, "--json"], {});
    assert.deepEqual(
      JSON.parse(document.stdout).issues.map((issue: { hint?: string }) => issue.hint),
      [
        "set VIAM_API_KEY in the environment, or app_api_key in the file",
        "set VIAM_API_KEY_ID in the environment, or app_api_key_id in the file",
      ],
    );
  });
});

Deno.test("usage and configuration errors exit 2 with a message naming the problem", async () => {
  await withCli([], async ({ platform, home, root, run }) => {
    const sync = ["sync", "--app-url", platform.url];
    const byFlags = ["--api-key-id", KEY.id];
    const cases: [string[], Record<string, string>, RegExp[]][] = [
      [[...sync, "--bogus"], KEY_ENV, [/unknown option '--bogus'/]],
      [[...sync, ...byFlags, "--concurrency", "abc"], { VIAM_API_KEY: KEY.key }, [
        /concurrency/,
        /"abc"/,
      ]],
      [sync, {}, [/app_api_key is required/, /VIAM_API_KEY\b/, /app_api_key_id is required/]],
      [["sync", "--config", join(home, "absent.json")], KEY_ENV, [/cannot read config file/]],
    ];
    const outputs = await Promise.all(cases.map(([args, env]) => run(args, env)));
    outputs.forEach((output, index) => {
      assertExit(output, 2);
      for (const pattern of cases[index][2]) assert.match(output.stderr, pattern);
    });
    assert.equal(await exists(root), false, "nothing is written on a usage error");
  });
});

Deno.test("a pass with an item that cannot be downloaded exits 1 and leaves it only in staging", async () => {
  // Every download body is cut after 1000 bytes: the large file can never finish in its tries.
  await withCli([
    { name: "small", count: 2, tags: ["a"] },
    { name: "large", count: 1, sizeBytes: 300_000, tags: ["a"] },
  ], async ({ platform, root, sync }) => {
    const output = await sync("--tags", "a", "--json");
    assertExit(output, 1);
    const summary = summaryOf(output);
    assert.equal(summary.downloaded, 2);
    assert.equal(summary.failed, 1);
    const large = platform.items().find((item) => item.fileId.startsWith("large"))!;
    assert.match(output.stderr, new RegExp(`failed to download ${large.fileName}`));
    await assertMirrorHolds(root, platform, idsWhere(platform, (id) => id.startsWith("small")));
    const partials = await Array.fromAsync(Deno.readDir(join(root, ".data-mirror/partial")));
    const parts = partials.filter((entry) => entry.name.endsWith(".part"));
    assert.equal(parts.length, 1);
    const held = (await Deno.stat(join(root, ".data-mirror/partial", parts[0].name))).size;
    assert.ok(held > 0 && held < large.sizeBytes, `the partial holds ${held} bytes`);
    // each retry asked for the rest only
    const ranges = platform.ranges.map((record) => record.range);
    assert.ok(ranges.length > 0);
    for (const range of ranges) assert.match(range, /^bytes=[1-9]\d*-$/);
  }, { faults: { dropBodyAfterBytes: 1000 } });
});

Deno.test("--help on the program and on every command exits 0; --version prints deno.json's version", async () => {
  await withCli([], async ({ run }) => {
    const helps = [["--help"], ["sync", "--help"], ["validate", "--help"], [
      "completion",
      "--help",
    ]];
    const [version, ...outputs] = await Promise.all([
      run(["--version"]),
      ...helps.map((args) => run(args)),
    ]);
    assertExit(version, 0);
    assert.equal(version.stdout.trim(), denoJson.version);
    outputs.forEach((output, index) => {
      assertExit(output, 0);
      const command = helps[index].length === 2 ? ` ${helps[index][0]}` : "";
      assert.match(output.stdout, new RegExp(`^Usage: data-mirror${command} `, "m"));
    });
    assert.match(outputs[1].stdout, /--dry-run/);
    assert.match(outputs[1].stdout, /--protected-dir/);
  });
});

Deno.test("a refused API key exits 1 and is not echoed", async () => {
  await withCli([{ count: 2, tags: ["a"] }], async ({ platform, run }) => {
    const output = await run([
      "sync",
      "--app-url",
      platform.url,
      "--api-key-id",
      KEY.id,
      "--json",
    ], { VIAM_API_KEY: WRONG_KEY });
    assertExit(output, 1);
    assert.match(String(summaryOf(output).error), /unauthenticated/);
  });
});

Deno.test("off a terminal, a slow pass prints a progress line on stderr while it runs", async () => {
  // 600,000 bytes at 100,000 bytes/s: longer than the 5 s between progress lines.
  await withCli(
    [{ count: 1, sizeBytes: 600_000, tags: ["a"] }],
    async ({ sync }) => {
      const output = await sync("--tags", "a");
      assertExit(output, 0);
      // By bytes first, files second.
      assert.match(
        output.stderr,
        /^progress: [\d.]+ KiB of 585\.9 KiB \([1-9]\d?%\), 0\/1 files, [\d.]+ KiB\/s, ETA \d+ s$/m,
        "a line before the file was done",
      );
      assert.match(output.stderr, /^progress: 585\.9 KiB of 585\.9 KiB \(100%\), 1\/1 files, /m);
    },
    { faults: { bodyBytesPerSecond: 100_000 } },
  );
});

Deno.test("on a terminal, a pass shows a live bar by bytes: bytes, files, rate and ETA", async () => {
  await withCli(
    [{ count: 3, sizeBytes: 200_000, tags: ["a"] }],
    async ({ platform, home }) => {
      const output = await runProgram(
        ["sync", "--app-url", platform.url, "--tags", "a"],
        { viamHome: home, env: KEY_ENV, tty: true },
      );
      assertNoSecret(output);
      assertExit(output, 0);
      // stderr and stdout share the terminal: the bar, then the summary
      assert.match(
        output.stdout,
        /[█░]{40} [\d.]+ \w*B of 585\.9 KiB \(\d+%\), \d\/3 files, [\d.]+ \w*B\/s, ETA /,
      );
      assert.doesNotMatch(output.stdout, /^progress:/m, "no plain lines on a terminal");
      assert.match(output.stdout, /3 listed, 3 downloaded/);
    },
    { faults: { bodyBytesPerSecond: 400_000 } },
  );
});

/** `sync --tags a --watch --sync-frequency 1 --json` against `appUrl`, the key in the environment. */
function _spawnWatch(appUrl: string, viamHome: string) {
  const args = ["--tags", "a", "--watch", "--sync-frequency", "1", "--json"];
  return spawnProgram(["sync", "--app-url", appUrl, ...args], { viamHome, env: KEY_ENV });
}

/** The JSON documents on stdout, complete lines only: the last one may still be arriving. */
// deno-lint-ignore no-explicit-any
function _documents(stdout: string): Record<string, any>[] {
  return stdout.split("\n").slice(0, -1).filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

Deno.test("--watch runs a pass every --sync-frequency seconds until SIGTERM, then exits 0", async () => {
  const groups: ItemGroup[] = [{ name: "cam", count: 2, tags: ["a"] }];
  await withCli(groups, async ({ platform, home, root }) => {
    await using program = _spawnWatch(platform.url, home);
    const summaries = () => _documents(program.stdout());
    await program.waitFor("stdout", () => summaries().length >= 2);
    // A later pass sees what the platform gained meanwhile.
    platform.replaceDataset(describeDataset([...groups, { name: "late", count: 1, tags: ["a"] }]));
    await program.waitFor("stdout", () => summaries().some((summary) => summary.downloaded === 1));
    program.kill("SIGTERM");
    const output = await program.done;
    assertNoSecret(output);
    assertExit(output, 0);
    assert.equal(output.signal, null, "it ended by itself, not by the signal");
    const all = summaries();
    assert.ok(all.length >= 3);
    assert.equal(all[0].downloaded, 2);
    assert.equal(all.at(-1)!.failed, 0);
    assert.deepEqual(all.map((summary) => summary.exitCode), all.map(() => 0), "each pass's own");
    // One line a pass on stderr (what a journal under systemd keeps), not the loop's as well.
    assert.doesNotMatch(output.stderr, /sync pass done/);
    assert.match(output.stderr, /^pass 1: /m);
    await assertMirrorHolds(root, platform, platform.items().map((item) => item.binaryDataId));
  });
});

Deno.test("--watch says a held-back deletion once a pass, in its flags' words", async () => {
  await withCli([{ name: "cam", count: 2, tags: ["a"] }], async ({ platform, home, root }) => {
    const args = ["--tags", "a", "--watch", "--sync-frequency", "1", "--delete", "--json"];
    await using program = spawnProgram(["sync", "--app-url", platform.url, ...args], {
      viamHome: home,
      env: KEY_ENV,
    });
    const summaries = () => _documents(program.stdout());
    await program.waitFor("stdout", () => summaries().length >= 1);
    platform.replaceDataset(describeDataset([]));
    await program.waitFor(
      "stdout",
      () => summaries().filter((summary) => summary.guard).length >= 2,
    );
    program.kill("SIGTERM");
    const output = await program.done;
    assertExit(output, 0);
    assert.match(
      summaries().find((summary) => summary.guard)!.guard,
      /--allow-delete-all allows it/,
    );
    // Not again by the pass's log, in the attributes' words.
    assert.doesNotMatch(output.stderr, /not deleting:|allow_delete_all: true/);
    assert.match(output.stderr, /--allow-delete-all allows it/);
    assert.equal((await readTree(root)).size, 2);
  });
});

Deno.test("--watch with a push_path in --config pushes after each pass, as the module does", async (t) => {
  const groups: ItemGroup[] = [{ name: "cam", count: 2, tags: ["a"] }];
  for (const filter of [{ tags: ["a"] }, {}]) {
    const pushOnly = Object.keys(filter).length === 0;
    await t.step(pushOnly ? "a config that only pushes" : "a config that mirrors too", async () => {
      await withCli(groups, async ({ platform, home, root, run }) => {
        const config = join(home, "mirror.json");
        await writeJson(config, {
          ...{ app_url: platform.url, sync_frequency: 1, ...filter },
          ...{ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 },
        });
        await Deno.mkdir(join(home, "outbox"));
        await Deno.writeTextFile(join(home, "outbox", "capture.jpg"), "a capture");
        const args = ["sync", "--config", config, "--watch", "--json"];
        // The uploads need the machine part they belong to.
        const noPart = await run(args, KEY_ENV);
        assertExit(noPart, 2);
        assert.match(noPart.stderr, /VIAM_MACHINE_PART_ID/);
        const env = { ...KEY_ENV, VIAM_MACHINE_PART_ID: "part-1" };
        await using program = spawnProgram(args, { viamHome: home, env });
        const documents = () => _documents(program.stdout());
        await program.waitFor("stdout", () => documents().some((d) => d.push?.uploaded === 1));
        program.kill("SIGTERM");
        const output = await program.done;
        assertExit(output, 0);
        assert.match(output.stderr, /^pass 1 push: 1 found, 1 uploaded/m);
        assert.deepEqual(
          platform.items().filter((i) => i.tags.includes("fleet")).map((i) => i.fileName),
          [
            "capture.jpg",
          ],
        );
        assert.equal(await exists(join(home, "outbox", "capture.jpg")), false);
        if (pushOnly) {
          assert.equal(platform.calls.BinaryDataByFilter, 0, "nothing listed");
          assert.equal(await exists(root), false, "no mirror made");
          assert.equal(documents()[0].pushOnly, true);
          assert.equal(documents()[0].mirrorRoot, undefined);
        } else {
          await assertMirrorHolds(root, platform, idsWhere(platform, (id) => id.startsWith("cam")));
        }

        // A pass stopped in its push part still gets its document, with what the push did; a
        // push that fails makes its pass's exit code 1.
        await Deno.writeTextFile(join(home, "outbox", "refused.jpg"), "refused");
        platform.setFaults({
          refuseUploadFileNames: ["refused.jpg"],
          uploadBytesPerSecond: 20_000,
        });
        await using again = spawnProgram(args, { viamHome: home, env });
        const refusedPass = () => _documents(again.stdout()).find((d) => d.push?.failed === 1);
        await again.waitFor("stdout", () => refusedPass() !== undefined);
        assert.equal(refusedPass()!.exitCode, 1, "its push failed a file");
        // 200 KB at 20 KB/s: ten seconds of upload, stopped two seconds in.
        await Deno.writeTextFile(join(home, "outbox", "slow.jpg"), "x".repeat(200_000));
        await new Promise((resolve) => setTimeout(resolve, 2000));
        again.kill("SIGTERM");
        const stopped = await again.done;
        assertExit(stopped, 0);
        const last = _documents(stopped.stdout).at(-1)!;
        assert.equal(last.interrupted, "SIGTERM", stopped.stdout);
        assert.ok(last.push !== undefined, JSON.stringify(last));
        // A pass that only pushes downloads nothing: no partial download is spoken of.
        if (pushOnly) assert.equal(last.error, "interrupted by SIGTERM");
        else assert.match(String(last.error), /partial downloads, if any, stay in staging/);
        assert.ok(await exists(join(home, "outbox", "slow.jpg")), "the cut upload's file kept");
      });
    });
  }
});

/**
 * Runs `fn` with an HTTP proxy's environment (a listener that counts its connections, on every
 * proxy variable; `NO_PROXY` a user's own entry) and resolves to how many connections it got.
 * Deno's fetch takes the proxy from the environment whatever the permissions.
 */
async function _proxiedCount(fn: (env: Record<string, string>) => Promise<void>): Promise<number> {
  const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const connection of proxy) {
      connections++;
      connection.close();
    }
  })();
  try {
    const url = `http://127.0.0.1:${proxy.addr.port}`;
    await fn({
      HTTP_PROXY: url,
      http_proxy: url,
      ALL_PROXY: url,
      NO_PROXY: "example.com",
      // `deno run`'s own update check goes through ALL_PROXY (a compiled binary has none).
      DENO_NO_UPDATE_CHECK: "1",
    });
  } finally {
    proxy.close();
    await accepting.catch(() => {});
  }
  return connections;
}

Deno.test("an HTTP_PROXY in the environment never sees an http:// loopback app URL (its key would go in the clear)", async () => {
  await withCli([{ count: 2, tags: ["a"] }], async ({ platform, run }) => {
    const connections = await _proxiedCount(async (proxyEnv) => {
      const output = await run(["sync", "--app-url", platform.url, "--tags", "a", "--json"], {
        ...KEY_ENV,
        ...proxyEnv,
      });
      assertExit(output, 0);
      assert.equal((JSON.parse(output.stdout) as { downloaded: number }).downloaded, 2);
    });
    assert.equal(connections, 0, "the proxy was dialled");
  });
});

for (const host of ["0.0.0.0", "[::]"]) {
  Deno.test(`an HTTP_PROXY never sees an app URL on ${host}, the config's "this machine" too (its key would go in the clear)`, async () => {
    await withCli([{ count: 2, tags: ["a"] }], async ({ platform, run }) => {
      const appUrl = platform.url.replace("127.0.0.1", host);
      const connections = await _proxiedCount(async (proxyEnv) => {
        await run(["sync", "--app-url", appUrl, "--tags", "a", "--json"], {
          ...KEY_ENV,
          ...proxyEnv,
        });
      });
      assert.equal(connections, 0, "the proxy was dialled (and sent the sign-in, key and all)");
    });
  });
}

Deno.test("--watch --json: a push of its own while a pass runs long gets its line and document, counted once", async () => {
  // One 1 MB item at 100 kB/s: the pass downloads for ten seconds, the interval is 1 s.
  await withCli(
    [{ name: "cam", count: 1, tags: ["a"], sizeBytes: 1_000_000 }],
    async ({ platform, home }) => {
      platform.setFaults({ bodyBytesPerSecond: 100_000 });
      const config = join(home, "mirror.json");
      await writeJson(config, {
        ...{ app_url: platform.url, sync_frequency: 1, tags: ["a"] },
        ...{ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 },
      });
      await Deno.mkdir(join(home, "outbox"));
      await Deno.writeTextFile(join(home, "outbox", "capture.jpg"), "a capture");
      const env = { ...KEY_ENV, VIAM_MACHINE_PART_ID: "part-1" };
      await using program = spawnProgram(["sync", "--config", config, "--watch", "--json"], {
        viamHome: home,
        env,
      });
      const documents = () => _documents(program.stdout());
      await program.waitFor("stdout", () => documents().some((d) => d.pushOfItsOwn === true));
      const own = documents().find((d) => d.pushOfItsOwn === true)!;
      assert.equal(own.push?.uploaded, 1);
      assert.equal(own.exitCode, 0);
      assert.equal(own.pass, undefined, "no pass of its own");
      // The first pass, once its download ends, does not count that upload again.
      await program.waitFor("stdout", () => documents().some((d) => d.pass === 1));
      const uploads = documents().reduce((sum, d) => sum + (d.push?.uploaded ?? 0), 0);
      assert.equal(uploads, 1);
      program.kill("SIGTERM");
      const output = await program.done;
      assertExit(output, 0);
      assert.match(output.stderr, /^push of its own: 1 found, 1 uploaded/m);
    },
  );
});

Deno.test("--watch: a push pass that fails says why on its line, not only counts that read as done", async () => {
  await withCli([], async ({ platform, home }) => {
    const config = join(home, "mirror.json");
    await writeJson(config, {
      ...{ app_url: platform.url, sync_frequency: 1 },
      ...{ push_path: "outbox", push_tags: ["fleet"], push_min_age: 0 },
    });
    await Deno.mkdir(join(home, "outbox"));
    const env = { ...KEY_ENV, VIAM_MACHINE_PART_ID: "part-1" };
    await using program = spawnProgram(["sync", "--config", config, "--watch", "--json"], {
      viamHome: home,
      env,
    });
    await program.waitFor("stderr", (text) => /^pass 1 push: 0 found/m.test(text));
    // The folder goes, and a file takes its name: each push pass fails before it finds anything.
    await Deno.remove(join(home, "outbox"), { recursive: true });
    await Deno.writeTextFile(join(home, "outbox"), "not a folder");
    await program.waitFor("stdout", (text) => /"error"/.test(text));
    program.kill("SIGTERM");
    const output = await program.done;
    assertExit(output, 0);
    assert.match(
      output.stderr,
      /^pass \d+ push: 0 found, .* 0 failed in [\d.]+ s; failed: push folder outbox .* is not a directory$/m,
    );
    const failed = _documents(output.stdout).find((d) => d.push?.error !== undefined)!;
    assert.equal(failed.exitCode, 1);
  });
});

Deno.test("--watch --json: a pass that fails reports its own zero counts; one cut by SIGTERM its own document", async () => {
  const groups: ItemGroup[] = [{ name: "cam", count: 2, tags: ["a"] }];
  await withCli(groups, async ({ platform, home, root }) => {
    await using program = _spawnWatch(platform.url, home);
    const documents = () => _documents(program.stdout());
    await program.waitFor("stdout", () => documents().length >= 1);
    // Another process holds the mirror: the next passes fail before they list anything.
    const lock = await Deno.open(join(root, ".data-mirror", "lock"), { read: true, write: true });
    await lock.lock(true);
    await program.waitFor("stdout", () => documents().some((d) => /busy/.test(d.error ?? "")));
    // Released, and every call slow: the next pass is in flight when SIGTERM comes.
    platform.setFaults({ latencyMs: 5000 });
    const calls = platform.calls.BinaryDataByFilter;
    await lock.unlock();
    lock.close();
    await pollUntil("a pass is listing", () => platform.calls.BinaryDataByFilter > calls);
    program.kill("SIGTERM");
    const output = await program.done;
    assertExit(output, 0);
    const all = documents();
    const busy = all.find((d) => /busy/.test(d.error ?? ""))!;
    assert.deepEqual(
      [busy.listed, busy.downloaded, busy.exitCode],
      [0, 0, 1],
      "not the last pass's",
    );
    const last = all.at(-1)!;
    assert.equal(last.interrupted, "SIGTERM");
    assert.equal(last.exitCode, 143);
    assert.equal(last.pass, all.length);
  });
});

/** `sync --tags a` one file at a time, logging each file written (`DEBUG wrote`), with `extra`. */
function _spawnOneAtATime(appUrl: string, viamHome: string, extra: string[]) {
  const args = ["--tags", "a", "--concurrency", "1", "--log-level", "debug", ...extra];
  return spawnProgram(["sync", "--app-url", appUrl, ...args], { viamHome, env: KEY_ENV });
}

/**
 * Waits until the program's Worker thread exists (its modules load, the program does not listen
 * yet): true then, false when the program ended before one was seen.
 */
async function _untilWorkerStarts(program: RunningProgram): Promise<boolean> {
  let ended = false;
  await pollUntil("the Worker's thread has started", async () => {
    if (program.exited) return ended = true;
    const tasks = await Array.fromAsync(Deno.readDir(`/proc/${program.pid}/task`)).catch(() => []);
    for (const task of tasks) {
      const name = await Deno.readTextFile(`/proc/${program.pid}/task/${task.name}/comm`)
        .catch(() => "");
      if (name.startsWith("worker-")) return true;
    }
    return false;
  }, { intervalMs: 1 });
  return !ended;
}

/**
 * What a program `spawn` starts printed when SIGTERM reached it while it loaded (its Worker
 * started). A short run (a configuration error, `validate`) can end before a look sees its Worker
 * or before the signal on a loaded machine (CI beside two other test runs: 30 s of looking at a
 * process gone): it is started again, up to five times.
 */
async function _terminatedWhileLoading(spawn: () => RunningProgram): Promise<ProgramOutput> {
  for (let attempt = 1;; attempt++) {
    await using program = spawn();
    if (await _untilWorkerStarts(program)) {
      try {
        program.kill("SIGTERM");
        return await program.done;
      } catch {
        // It ended between the look and the signal: started again too.
      }
    }
    assert.ok(attempt < 5, "the program ended before SIGTERM reached it, five times");
  }
}

Deno.test("SIGTERM while the program still loads (its Worker just started): one --json document, exit 143", async () => {
  await withCli([{ name: "cam", count: 2, tags: ["a"] }], async ({ platform, home, root }) => {
    await using program = _spawnOneAtATime(platform.url, home, ["--json"]);
    await _untilWorkerStarts(program);
    program.kill("SIGTERM");
    const output = await program.done;
    assertNoSecret(output);
    assertExit(output, 143);
    const document = summaryOf(output);
    assert.equal(document.interrupted, "SIGTERM");
    assert.equal(document.downloaded, 0);
    // Nothing had begun: no partial download is promised.
    assert.equal(
      document.error,
      "interrupted by SIGTERM: nothing had been written yet, nothing to resume",
    );
    assert.match(
      output.stderr,
      /interrupted by SIGTERM: nothing had been written yet, nothing to resume/,
    );
    assert.equal((await readTree(root).catch(() => new Map())).size, 0);
  });
});

Deno.test("--watch --json: a pass cut by SIGTERM mid-download reports what it had done", async () => {
  // 4 files of 600 kB (fetched by uri) at 600 kB/s, one at a time: the stop comes after one.
  await withCli(
    [{ name: "cam", count: 4, sizeBytes: 600_000, tags: ["a"] }],
    async ({ platform, home, root }) => {
      await using program = _spawnOneAtATime(platform.url, home, ["--watch", "--json"]);
      await program.waitFor("stderr", (text) => /^DEBUG wrote /m.test(text));
      program.kill("SIGTERM");
      const output = await program.done;
      assertExit(output, 0);
      const written = (await readTree(root)).size;
      const last = _documents(output.stdout).at(-1)!;
      assert.equal(last.interrupted, "SIGTERM");
      // A --watch pass knows its finished files only: partials are not ruled out.
      assert.equal(
        last.error,
        "interrupted by SIGTERM: partial downloads, if any, stay in staging and resume next time",
      );
      assert.equal(last.listed, 4);
      assert.ok(written >= 1 && written < 4, `${written} files written`);
      assert.equal(last.downloaded, written, JSON.stringify(last));
    },
    { faults: { bodyBytesPerSecond: 600_000 } },
  );
});

Deno.test("a one-shot sync prints where the files went; a refused key prints its error once on stderr, and on its summary line", async () => {
  await withCli([{ count: 2, tags: ["a"] }], async ({ platform, root, run, sync }) => {
    const ok = await sync("--tags", "a");
    assertExit(ok, 0);
    const [where, summary, ...rest] = ok.stdout.trimEnd().split("\n");
    assert.equal(where, `mirror: ${root}`);
    assert.match(
      summary,
      /^2 listed, 2 downloaded \(\d+\.\d KiB\), 0 skipped, 0 deleted, 0 failed/,
    );
    assert.deepEqual(rest, []);

    const refused = await run(
      ["sync", "--app-url", platform.url, "--tags", "a"],
      { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: WRONG_KEY },
    );
    assertExit(refused, 1);
    const [refusedWhere, refusedSummary, ...more] = refused.stdout.trimEnd().split("\n");
    assert.equal(refusedWhere, `mirror: ${root}`);
    assert.match(refusedSummary, /^0 listed, .* in \d+\.\d s; failed: \[unauthenticated\] /);
    assert.deepEqual(more, []);
    // A dry run alike.
    const dry = await run(
      ["sync", "--app-url", platform.url, "--tags", "a", "--dry-run"],
      { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: WRONG_KEY },
    );
    assertExit(dry, 1);
    assert.match(dry.stdout, /^dry run: 0 listed, .*; failed: \[unauthenticated\] /m);
    const mentions = refused.stderr.split("\n").filter((line) => /unauthenticated/i.test(line));
    assert.equal(mentions.length, 1, refused.stderr);
    assert.match(mentions[0], /^data-mirror: sync failed: /);
  });
});

Deno.test("Ctrl-C during a pass: exit 130, what was done is reported, the reason said once", async () => {
  // 4 files of 600 kB (fetched by uri) at 600 kB/s, one at a time: the stop comes after one.
  await withCli(
    [{ name: "cam", count: 4, sizeBytes: 600_000, tags: ["a"] }],
    async ({ platform, home, root }) => {
      for (const json of [false, true]) {
        await using program = _spawnOneAtATime(platform.url, home, [
          "--mirror-path",
          `run-${json}`,
          ...(json ? ["--json"] : []),
        ]);
        await program.waitFor(
          "stderr",
          (text) => (text.match(/^DEBUG wrote /gm) ?? []).length >= 1,
        );
        program.kill("SIGINT");
        const output = await program.done;
        assertNoSecret(output);
        assertExit(output, 130);
        const said = output.stderr.split("\n").filter((line) =>
          line.includes("interrupted by SIGINT")
        );
        assert.deepEqual(said, [
          "data-mirror: interrupted by SIGINT: partial downloads stay in staging and resume next time",
        ]);
        const mirror = root.replace(/data_mirror$/, `run-${json}`);
        const written = (await readTree(mirror)).size;
        assert.ok(written >= 1 && written < 4, `${written} files written`);
        const human = json ? output.stderr : output.stdout;
        assert.match(human, new RegExp(`^mirror: ${mirror}$`, "m"));
        assert.match(
          human,
          /^interrupted: (?:[1-3] of 4 files \([\d.]+ [KM]iB of 2\.3 MiB\) done|\d+ listed, [1-3] downloaded)/m,
        );
        if (json) {
          const document = summaryOf(output);
          assert.equal(document.interrupted, "SIGINT");
          assert.ok(Number(document.downloaded) >= 1, JSON.stringify(document));
        }
      }
    },
    { faults: { bodyBytesPerSecond: 600_000 } },
  );
});

Deno.test("deno task mirror --watch stopped by Ctrl-C exits 0 (the signal reaches every process of the job)", async () => {
  await withCli([{ count: 2, tags: ["a"] }], async ({ platform, home }) => {
    const inherited = Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("VIAM_")
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "mirror", "sync", "--app-url", platform.url, "--tags", "a", "--watch"],
      cwd: new URL("../..", import.meta.url),
      env: { ...Object.fromEntries(inherited), NO_COLOR: "1", VIAM_HOME: home, ...KEY_ENV },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const guard = setTimeout(() => _killTree(child.pid, "SIGKILL"), 60_000);
    const decoder = new TextDecoder();
    let stdout = "";
    const reader = child.stdout.getReader();
    while (!/^pass 1: /m.test(stdout)) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += decoder.decode(value, { stream: true });
    }
    // Ctrl-C: SIGINT to every process of the foreground job (deno task and the program), at once.
    await _killTree(child.pid, "SIGINT");
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += decoder.decode(value, { stream: true });
    }
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    clearTimeout(guard);
    assert.match(stdout, /^pass 1: 2 listed, 2 downloaded/m);
    assert.equal(status.code, 0, stderr);
    assert.equal(status.signal, null);
    assert.match(stderr, /^INFO {2}SIGINT: stopping/m);
    assert.ok(!stderr.includes(KEY.key) && !stdout.includes(KEY.key));
  });
});

/** Sends `signal` to `pid` and all its descendants at once. */
async function _killTree(pid: number, signal: Deno.Signal): Promise<void> {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const children = await new Deno.Command("pgrep", { args: ["-P", `${pids[i]}`] }).output();
    pids.push(...new TextDecoder().decode(children.stdout).split("\n").filter(Boolean).map(Number));
  }
  for (const each of pids) {
    try {
      Deno.kill(each, signal);
    } catch {
      // It exited meanwhile.
    }
  }
}

Deno.test("a narrowed filter over max_delete's default deletes nothing: exit 3, the reason worded with the flag", async () => {
  await withCli([
    { name: "keep", count: 4, tags: ["a", "b"] },
    { name: "drop", count: 20, tags: ["a"] },
  ], async ({ root, sync }) => {
    assertExit(await sync("--tags", "a"), 0);
    const narrowed = await sync("--tags", "b", "--delete", "--json");
    assertExit(narrowed, 3);
    const held = "this pass would delete 20 of the mirror's 24 files, more than --max-delete " +
      "allows (50% of them, at least 10 files): nothing deleted (if this is meant, raise " +
      "--max-delete for one pass)";
    assert.equal(summaryOf(narrowed).guard, held);
    assert.equal(summaryOf(narrowed).deleted, 0);
    assert.ok(narrowed.stderr.includes(`\nheld back: ${held}\n`), narrowed.stderr);
    assert.doesNotMatch(narrowed.stderr, /not deleting:|raise max_delete/);
    assert.equal((await readTree(root)).size, 24);
  });
});
