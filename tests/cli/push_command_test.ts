/**
 * `data-mirror push` as an operator runs it: the real program under the production permissions,
 * against the local platform over HTTP/2; then `sync` on another machine (another `VIAM_HOME`)
 * mirrors what was pushed at the same path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_UPLOADS_PER_PASS } from "../../src/push/run_push_pass.ts";
import { describeDataset, type Platform, startPlatform } from "../support/platform/mod.ts";
import { foldedJournal } from "../push/_harness.ts";
import { readTree } from "../sync/_harness.ts";
import { runProgram } from "../_program.ts";
import { withTmpfsAt } from "../fs/_helpers.ts";

const KEY = { id: "push-cli-key-id", key: "PUSH-CLI-SECRET-7a1e90c3d2" };
const KEY_ENV = { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: KEY.key };

/** `push` of the Viam home's `outbox` folder to `appUrl` for the part `part-cli-1`, then `extra`. */
function _pushArgs(appUrl: string, extra: string[]): string[] {
  return [
    "push",
    "--app-url",
    appUrl,
    "--part-id",
    "part-cli-1",
    "--push-path",
    "outbox",
    "--min-age",
    "0",
    ...extra,
  ];
}

/**
 * `push` of the home's `outbox` as a service user runs it: without root's override of file modes,
 * so a folder of mode 000 is one it cannot read.
 */
function _pushAsServiceUser(platform: Platform, home: string, extra: string[] = []) {
  return runProgram(_pushArgs(platform.url, extra), {
    viamHome: home,
    env: KEY_ENV,
    fileModesBind: true,
  });
}

/** Runs `fn` with a local platform holding nothing and a new Viam home, removed afterwards. */
async function _withPlatformAndHome(
  prefix: string,
  fn: (platform: Platform, home: string) => Promise<void>,
): Promise<void> {
  await using platform = await startPlatform({ dataset: describeDataset([]), apiKeys: [KEY] });
  const home = await Deno.makeTempDir({ prefix });
  try {
    await fn(platform, home);
  } finally {
    // rm, not Deno.remove: Deno unlinks in a folder's hash order (21 s for the backlog test's
    // 100,001 files on ext4; rm goes in inode order, some 2 s).
    await new Deno.Command("rm", { args: ["-rf", home] }).output();
  }
}

Deno.test("push without a part id is a usage error that names it, as one JSON document with --json", async () => {
  await _withPlatformAndHome("dm-push-cli-", async (platform, home) => {
    const output = await runProgram(
      ["push", "--app-url", platform.url, "--push-path", "outbox", "--json"],
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(output.code, 2, output.stderr);
    const document = JSON.parse(output.stdout);
    assert.match(document.error, /--part-id is required/);
    // Blank, as an unset variable with a space makes it: the same.
    const blank = await runProgram(
      ["push", "--app-url", platform.url, "--push-path", "outbox", "--part-id", "  "],
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(blank.code, 2, blank.stderr);
    assert.match(blank.stderr, /--part-id is required/);
    assert.equal(platform.uploads.completed, 0);
  });
});

Deno.test("push names every problem at once: the part id and the folder beside the attributes' problems", async () => {
  const home = await Deno.makeTempDir({ prefix: "dm-push-all-" });
  try {
    // No key, a bad app URL and a negative settle time, and neither part id nor folder: one run
    // says all five (a reviewer fixed them in three runs).
    const output = await runProgram(
      ["push", "--json", "--min-age", "-5", "--app-url", "ftp://x"],
      { viamHome: home },
    );
    assert.equal(output.code, 2, output.stderr);
    const document = JSON.parse(output.stdout);
    assert.equal(document.error, "invalid configuration");
    const fields = document.issues.map((issue: { field: string }) => issue.field);
    for (const field of ["part_id", "push_path", "app_api_key", "app_url", "push_min_age"]) {
      assert.ok(fields.includes(field), `${field} in ${fields}`);
    }
    // Both usage problems alone (the attributes valid): one line naming both.
    const both = await runProgram(
      ["push", "--app-url", "http://127.0.0.1:9000", "--tags", "t"],
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /push: --part-id is required: .*; --push-path is required/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("push without --push-path says only that, before any warning about the other flags", async () => {
  const home = await Deno.makeTempDir({ prefix: "dm-push-nopath-" });
  try {
    const output = await runProgram(
      ["push", "--app-url", "http://127.0.0.1:9000", "--part-id", "p", "--tags", "t", "--keep"],
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(output.code, 2, output.stderr);
    assert.match(output.stderr, /--push-path is required/);
    assert.doesNotMatch(output.stderr, /no effect without push_path/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("push --config whose file misspells push_path names the misspelt key with the refusal", async () => {
  const home = await Deno.makeTempDir({ prefix: "dm-push-typo-" });
  try {
    const config = `${home}/push.json`;
    await Deno.writeTextFile(config, JSON.stringify({ "push-path": "outbox", tags: ["a"] }));
    const output = await runProgram(
      ["push", "--app-url", "http://127.0.0.1:9000", "--part-id", "p", "--config", config],
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(output.code, 2, output.stderr);
    assert.match(
      output.stderr,
      /--push-path is required: .*; unknown attribute "push-path" \(did you mean "push_path"\?\)/,
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("push uploads a folder tree, deletes what the platform has, and sync elsewhere mirrors it at the same paths", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([]), apiKeys: [KEY] });
  const sender = await Deno.makeTempDir({ prefix: "dm-push-sender-" });
  const receiver = await Deno.makeTempDir({ prefix: "dm-push-receiver-" });
  try {
    const outbox = join(sender, "outbox");
    await Deno.mkdir(join(outbox, "models"), { recursive: true });
    await Deno.writeTextFile(join(outbox, "models", "detector.tflite"), "weights v1");
    await Deno.writeTextFile(join(outbox, "notes.txt"), "hello fleet");
    const pushed = await runProgram(
      _pushArgs(platform.url, ["--tags", "fleet", "--json"]),
      { viamHome: sender, env: KEY_ENV },
    );
    assert.equal(pushed.code, 0, pushed.stderr);
    const document = JSON.parse(pushed.stdout);
    assert.deepEqual(
      [document.found, document.uploaded, document.skipped, document.deleted, document.failed],
      [2, 2, 0, 2, 0],
    );
    assert.deepEqual([document.command, document.dryRun], ["push", undefined]);
    assert.match(pushed.stderr, /push folder: .*outbox/);
    assert.deepEqual([...(await readTree(outbox)).keys()], [], "sent files are gone locally");
    assert.ok(!pushed.stdout.includes(KEY.key) && !pushed.stderr.includes(KEY.key));

    const synced = await runProgram(
      ["sync", "--app-url", platform.url, "--tags", "fleet", "--json"],
      { viamHome: receiver, env: KEY_ENV },
    );
    assert.equal(synced.code, 0, synced.stderr);
    const tree = await readTree(join(receiver, "data_mirror"));
    assert.deepEqual([...tree.keys()].sort(), ["models/detector.tflite", "notes.txt"]);
    assert.equal(new TextDecoder().decode(tree.get("models/detector.tflite")), "weights v1");
  } finally {
    await Deno.remove(sender, { recursive: true });
    await Deno.remove(receiver, { recursive: true });
  }
});

Deno.test("push --dry-run lists what would be uploaded and sends nothing", async () => {
  await _withPlatformAndHome("dm-push-dry-", async (platform, home) => {
    await Deno.mkdir(join(home, "outbox", "models"), { recursive: true });
    await Deno.writeTextFile(join(home, "outbox", "models", "a.tflite"), "a");
    await Deno.writeTextFile(join(home, "outbox", "b.txt"), "b");
    const output = await runProgram(_pushArgs(platform.url, ["--dry-run"]), {
      viamHome: home,
      env: KEY_ENV,
    });
    assert.equal(output.code, 0, output.stderr);
    const told = `${output.stdout}${output.stderr}`;
    assert.match(told, /would upload b\.txt/);
    assert.match(told, /would upload models\/a\.tflite/);
    // Sent with no tag: said, in the attributes' words (no CLI flag in a module's log).
    assert.match(
      output.stderr,
      /push_path is set without push_tags or push_dataset_ids: its uploads/,
    );
    assert.equal(platform.uploads.completed, 0);
    assert.equal(await Deno.readTextFile(join(home, "outbox", "b.txt")), "b");
    // What would be done, never counted as done (it said "2 deleted" beside "nothing deleted").
    assert.match(
      output.stdout,
      /2 found, 2 to upload, 2 to delete, 0 skipped, 0 failed in .* \(dry run/,
    );
    const json = await runProgram(_pushArgs(platform.url, ["--dry-run", "--json"]), {
      viamHome: home,
      env: KEY_ENV,
    });
    const document = JSON.parse(json.stdout);
    assert.deepEqual(
      [document.uploaded, document.deleted, document.toUpload, document.toDelete],
      [0, 0, 2, 2],
    );
  });
});

Deno.test("a push folder that does not exist is made, and the run says so (a misspelt --push-path)", async () => {
  await _withPlatformAndHome("dm-push-typo-", async (platform, home) => {
    await Deno.mkdir(join(home, "outbox"));
    await Deno.writeTextFile(join(home, "outbox", "waiting.txt"), "w");
    const args = _pushArgs(platform.url, []).map((arg) => arg === "outbox" ? "outbx" : arg);
    const first = await runProgram(args, { viamHome: home, env: KEY_ENV });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /push folder outbx \(.*outbx\) did not exist: made it, empty/);
    assert.match(first.stderr, /check push_path \(--push-path\)/);
    // Made once: the next run has nothing to say about it.
    const second = await runProgram(args, { viamHome: home, env: KEY_ENV });
    assert.doesNotMatch(second.stderr, /did not exist/);
    assert.equal(await Deno.readTextFile(join(home, "outbox", "waiting.txt")), "w");
  });
});

Deno.test("a folder listed but not searchable, and a file past PATH_MAX, are kept and named; the rest goes", async () => {
  await _withPlatformAndHome("dm-push-unsearchable-", async (platform, home) => {
    const outbox = join(home, "outbox");
    await Deno.mkdir(join(outbox, "cam"), { recursive: true });
    await Deno.writeTextFile(join(outbox, "normal.txt"), "sent");
    await Deno.writeTextFile(join(outbox, "cam", "a.jpg"), "kept");
    // `install -d -m 644`, a umask slip: read without search, so each of its files fails lstat.
    await Deno.chmod(join(outbox, "cam"), 0o644);
    // A producer nesting deep by relative paths: its folder's path fits PATH_MAX, its own not.
    const deep = join(outbox, ...Array(20).fill("d".repeat(200)));
    await Deno.mkdir(deep, { recursive: true });
    const cwd = Deno.cwd();
    try {
      Deno.chdir(deep);
      Deno.writeTextFileSync("f".repeat(200), "deep");
    } finally {
      Deno.chdir(cwd);
    }
    try {
      const output = await _pushAsServiceUser(platform, home);
      assert.equal(output.code, 0, output.stderr);
      assert.deepEqual(platform.items().map((item) => item.fileName), ["normal.txt"]);
      assert.match(output.stderr, /not pushing the folder "cam": .*Permission denied/);
      assert.match(
        output.stderr,
        /keeping "d{200}\/.*": it cannot be looked at \(File name too long/,
      );
    } finally {
      await Deno.chmod(join(outbox, "cam"), 0o755);
    }
    assert.equal(await Deno.readTextFile(join(outbox, "cam", "a.jpg")), "kept");
  });
});

Deno.test("a folder name with a newline, an escape and a C1 control forges no log line: the system's error quoting it is escaped", async () => {
  await _withPlatformAndHome("dm-push-forge-", async (platform, home) => {
    const outbox = join(home, "outbox");
    // A user's folder the service user cannot read: the system's error names it raw.
    const forged = "d\nERROR forged line \u001b[31mred\u009b0m";
    await Deno.mkdir(join(outbox, forged), { recursive: true });
    await Deno.writeTextFile(join(outbox, forged, "f.txt"), "kept");
    await Deno.writeTextFile(join(outbox, "ok.txt"), "sent");
    await Deno.chmod(join(outbox, forged), 0o000);
    try {
      const output = await _pushAsServiceUser(platform, home);
      assert.equal(output.code, 0, output.stderr);
      assert.deepEqual(platform.items().map((item) => item.fileName), ["ok.txt"]);
      assert.match(output.stderr, /not pushing the folder "d\\nERROR forged line/);
      assert.doesNotMatch(output.stderr, /^ERROR forged line/m, "a line of its own");
      assert.ok(
        !output.stderr.includes("\u001b") && !output.stderr.includes("\u009b"),
        "a raw escape reached the terminal",
      );
    } finally {
      await Deno.chmod(join(outbox, forged), 0o755);
    }
    assert.equal(await Deno.readTextFile(join(outbox, forged, "f.txt")), "kept");
  });
});

Deno.test("another spelling of .data-mirror at the top of the push folder is kept and named in a warning, not passed by without a word", async () => {
  await _withPlatformAndHome("dm-push-state-twin-", async (platform, home) => {
    const outbox = join(home, "outbox");
    // On ext4 other names than the program's folder; every mirror refuses them.
    await Deno.mkdir(join(outbox, ".DATA-MIRROR"), { recursive: true });
    await Deno.writeTextFile(join(outbox, ".DATA-MIRROR", "notes.txt"), "mine");
    await Deno.writeTextFile(join(outbox, ".data-mirror."), "mine too");
    await Deno.writeTextFile(join(outbox, "ok.txt"), "sent");
    const output = await runProgram(_pushArgs(platform.url, ["--json"]), {
      viamHome: home,
      env: KEY_ENV,
    });
    assert.equal(output.code, 0, output.stderr);
    assert.deepEqual(platform.items().map((item) => item.fileName), ["ok.txt"]);
    const document = JSON.parse(output.stdout);
    assert.deepEqual([document.found, document.uploaded, document.skipped], [3, 1, 2]);
    assert.match(output.stderr, /keeping "\.DATA-MIRROR\/notes\.txt": .*rename it to push it/);
    assert.match(output.stderr, /keeping "\.data-mirror\.": .*rename it to push it/);
    assert.equal(await Deno.readTextFile(join(outbox, ".DATA-MIRROR", "notes.txt")), "mine");
    assert.equal(await Deno.readTextFile(join(outbox, ".data-mirror.")), "mine too");
  });
});

Deno.test("beside a folder that cannot be read, a kept file deleted by its user is marked gone", async () => {
  await _withPlatformAndHome("dm-push-unread-forget-", async (platform, home) => {
    const outbox = join(home, "outbox");
    await Deno.mkdir(join(outbox, "lost+found"), { recursive: true });
    await Deno.writeTextFile(join(outbox, "app.1.log"), "one");
    await Deno.writeTextFile(join(outbox, "app.2.log"), "two");
    const keep = () => _pushAsServiceUser(platform, home, ["--keep"]);
    assert.equal((await keep()).code, 0);
    assert.equal(platform.items().length, 2);
    await Deno.chmod(join(outbox, "lost+found"), 0o700);
    await Deno.chown(join(outbox, "lost+found"), 65534, 65534); // as root's is to a service user
    await Deno.remove(join(outbox, "app.1.log")); // the user's log rotation
    const second = await keep();
    assert.match(second.stderr, /not pushing the folder "lost\+found"/);
    const journal = await foldedJournal(outbox);
    // Remembered as gone (forgotten 30 days on, or sooner past 4,000 such), the unread folder
    // elsewhere notwithstanding; the file still there is not.
    assert.equal(typeof journal.files["app.1.log"]?.goneMs, "number", "gone: unread elsewhere");
    assert.notEqual(journal.files["app.2.log"]?.sent, undefined);
    assert.equal(journal.files["app.2.log"]?.goneMs, undefined);
  });
});

for (const below of ["", "usb"]) {
  const where = below === "" ? "at the push folder" : "at a folder of the push folder";
  Deno.test(`the lost+found of a disk mounted ${where} (and Windows' folders on a stick) is neither sent nor deleted, even as root`, async () => {
    await _withPlatformAndHome("dm-push-lost-found-", async (platform, home) => {
      const outbox = join(home, "outbox");
      const disk = join(outbox, below);
      await Deno.mkdir(disk, { recursive: true });
      const prefix = below === "" ? "" : `${below}/`;
      // A disk of captures mounted there; root (as viam-server runs modules) may read fsck's
      // folder.
      await withTmpfsAt(disk, async () => {
        await Deno.mkdir(join(disk, "lost+found"), { mode: 0o700 });
        await Deno.writeTextFile(join(disk, "lost+found", "#1234"), "fsck's find");
        // A stick Windows has seen: its folders are the stick's too.
        await Deno.mkdir(join(disk, "System Volume Information"));
        await Deno.writeTextFile(join(disk, "System Volume Information", "WPSettings.dat"), "w");
        await Deno.writeTextFile(join(disk, "capture.bin"), "sent");
        const output = await runProgram(_pushArgs(platform.url, ["--json"]), {
          viamHome: home,
          env: KEY_ENV,
        });
        assert.equal(output.code, 0, output.stderr);
        assert.deepEqual(platform.items().map((item) => item.fileName), [`${prefix}capture.bin`]);
        const document = JSON.parse(output.stdout);
        assert.deepEqual([document.found, document.uploaded, document.skipped], [1, 1, 0]);
        assert.equal(await Deno.readTextFile(join(disk, "lost+found", "#1234")), "fsck's find");
        assert.equal(
          await Deno.readTextFile(join(disk, "System Volume Information", "WPSettings.dat")),
          "w",
        );
      });
    });
  });
}

Deno.test("a push folder holding more files than one pass sends says so, in the note and in --json", async () => {
  await _withPlatformAndHome("dm-push-backlog-", async (platform, home) => {
    // One file more than a pass's share, in 100 folders.
    const one = new Uint8Array([1]);
    const perFolder = MAX_UPLOADS_PER_PASS / 100;
    for (let folder = 0; folder < 100; folder++) {
      const dir = join(home, "outbox", `f${folder}`);
      Deno.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < (folder === 0 ? perFolder + 1 : perFolder); i++) {
        Deno.writeFileSync(join(dir, `${i}`), one);
      }
    }
    const output = await runProgram(
      _pushArgs(platform.url, ["--dry-run", "--json"]),
      { viamHome: home, env: KEY_ENV },
    );
    assert.equal(output.code, 0, output.stderr);
    const document = JSON.parse(output.stdout);
    assert.deepEqual([document.command, document.dryRun, document.backlog], ["push", true, true]);
    const share = MAX_UPLOADS_PER_PASS.toLocaleString("en-US");
    assert.ok(
      output.stderr.includes(`more files than one pass sends (${share}): run push again`),
      output.stderr,
    );
    assert.equal(platform.uploads.completed, 0);
  });
});

Deno.test("push loads neither the sync engine nor the module's code (each command starts with its own)", async () => {
  const loaded = await _loadedModules(new URL("../../src/cli/push_command.ts", import.meta.url));
  const src = new URL("../../src/", import.meta.url).href;
  assert.ok(loaded.includes(`${src}push/run_push_pass.ts`), "the graph was read");
  const foreign = loaded.filter((s) =>
    s.startsWith(`${src}sync/`) || s.startsWith(`${src}module/`)
  );
  assert.deepEqual(foreign, []);
});

/** The modules `entry` loads when it runs: its static imports, type-only ones left out. */
async function _loadedModules(entry: URL): Promise<string[]> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry.href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(info.success, new TextDecoder().decode(info.stderr));
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
  };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const loaded = new Set([entry.href]);
  for (const specifier of loaded) {
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code !== undefined) loaded.add(dependency.code.specifier);
    }
  }
  return [...loaded];
}
