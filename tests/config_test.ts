import assert from "node:assert/strict";
import {
  CONFIG_ATTRIBUTES,
  ConfigError,
  type ConfigIssue,
  DEFAULT_MAX_DELETE,
  type DeleteLimit,
  type MirrorConfig,
  parseConfig,
  type ParsedConfig,
} from "../src/config.ts";

const SECRET = "s3cr3t-KEY-value-9f8e7d";
const KEYS = { app_api_key: SECRET, app_api_key_id: "key-id-1" };
const HOME_ENV: Record<string, string> = { HOME: "/home/pi" };

function parse(
  attributes: Record<string, unknown>,
  env: Record<string, string> = HOME_ENV,
): ParsedConfig {
  return parseConfig(attributes, { env: (name) => env[name] });
}

/** The issues parsing raises; fails when it does not throw a ConfigError. */
function issues(attributes: Record<string, unknown>, env = HOME_ENV): ConfigIssue[] {
  try {
    parse(attributes, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(!error.message.includes(SECRET), "the API key is never in a message");
    return error.issues;
  }
  assert.fail("expected a ConfigError");
}

/** The single issue `attributes` (with valid keys) raise for `field`. */
function issueFor(field: string, value: unknown): string {
  const found = issues({ ...KEYS, tags: ["t"], [field]: value });
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0].field, field);
  return found[0].message;
}

Deno.test("minimal attributes get every default", () => {
  const { config, warnings } = parse({ ...KEYS, tags: ["face"] });
  const expected: MirrorConfig = {
    apiKeyId: "key-id-1",
    apiKey: SECRET,
    appUrl: "https://app.viam.com",
    syncFrequencySeconds: 60,
    tags: ["face"],
    labels: [],
    mimeTypes: [],
    bandwidthLimit: 0,
    viamHome: "/home/pi/.viam",
    mirrorPath: "data_mirror",
    mirrorRoot: "/home/pi/.viam/data_mirror",
    delete: false,
    allowDeleteAll: false,
    maxDelete: { files: 10, percent: 50 },
    protectedDirs: [],
    concurrency: 4,
    freeSpaceReservePercent: 5,
    manifest: true,
  };
  assert.deepEqual(config, expected);
  assert.deepEqual(warnings, []);
});

Deno.test("every attribute is read", () => {
  const { config, warnings } = parse({
    app_api_key: ` ${SECRET}\n`,
    app_api_key_id: "key-id-1",
    app_url: "http://127.0.0.1:8080/",
    sync_frequency: 1.5,
    tags: ["a", "b", "a"],
    labels: ["cat"],
    dataset_id: " ds1 ",
    mime_types: ["image/jpeg", " image/png", "image/jpeg"],
    start: "2024-05-01",
    end: "2024-06-01T10:00:00+02:00",
    max_age: "7d",
    bandwidth_limit: "2M",
    push_path: "outbox",
    push_tags: ["edge", "edge"],
    push_dataset_ids: [" ds2"],
    push_keep: true,
    push_min_age: 0,
    mirror_path: "models/current/",
    delete: true,
    allow_delete_all: true,
    max_delete: "12.5%",
    protected_dirs: ["keep/", "./keep", "x//y/"],
    concurrency: 16.0,
    free_space_reserve_percent: 2.5,
    manifest: false,
  }, { VIAM_HOME: "/opt/viam/", HOME: "/root" });
  assert.deepEqual(config, {
    apiKeyId: "key-id-1",
    apiKey: SECRET,
    appUrl: "http://127.0.0.1:8080",
    syncFrequencySeconds: 1.5,
    tags: ["a", "b"],
    labels: ["cat"],
    datasetId: "ds1",
    mimeTypes: ["image/jpeg", "image/png"],
    start: new Date("2024-05-01T00:00:00Z"),
    end: new Date("2024-06-01T08:00:00Z"),
    maxAgeSeconds: 7 * 86400,
    bandwidthLimit: 2 * 1024 * 1024,
    push: {
      pushPath: "outbox",
      pushRoot: "/opt/viam/outbox",
      tags: ["edge"],
      datasetIds: ["ds2"],
      keep: true,
      minAgeSeconds: 0,
    },
    viamHome: "/opt/viam",
    mirrorPath: "models/current/",
    mirrorRoot: "/opt/viam/models/current",
    delete: true,
    allowDeleteAll: true,
    maxDelete: { files: 0, percent: 12.5 },
    protectedDirs: ["keep", "x/y"],
    concurrency: 16,
    freeSpaceReservePercent: 2.5,
    manifest: false,
  });
  assert.deepEqual(warnings, []);
});

Deno.test("null means not set", () => {
  const { config } = parse({
    ...KEYS,
    tags: ["t"],
    sync_frequency: null,
    delete: null,
    mirror_path: null,
    dataset_id: null,
    protected_dirs: null,
    manifest: null,
  });
  assert.equal(config.syncFrequencySeconds, 60);
  assert.equal(config.manifest, true, "manifest: null keeps the default");
  assert.equal(config.delete, false);
  assert.equal(config.mirrorPath, "data_mirror");
  assert.equal("datasetId" in config, false);
  assert.deepEqual(config.protectedDirs, []);
});

Deno.test("the API keys are required, and never echoed", async (t) => {
  await t.step("missing", () => {
    assert.deepEqual(issues({ tags: ["t"] }), [
      {
        field: "app_api_key",
        message: "app_api_key is required: a non-empty string, the API key with access to " +
          "Viam data management",
      },
      {
        field: "app_api_key_id",
        message: "app_api_key_id is required: a non-empty string, the id of that API key",
      },
    ]);
  });
  const wrong: [unknown, string][] = [
    ["", "an empty string"],
    ["   ", "a blank string"],
    [12345, "a number"],
    [[SECRET], "a list"],
    [{ key: SECRET }, "an object"],
    [true, "a boolean"],
  ];
  for (const [value, kind] of wrong) {
    await t.step(`app_api_key ${kind}`, () => {
      const message = issueFor("app_api_key", value);
      assert.equal(message, `app_api_key must be a non-empty string, got ${kind}`);
      assert.ok(!message.includes("12345"));
    });
  }
  await t.step("a valid key never shows up in errors or warnings", () => {
    // A key pasted into the wrong attribute, or used as a name, is redacted where it is quoted.
    const found = issues({ app_api_key: SECRET, app_api_key_id: "id", sync_frequency: SECRET });
    assert.equal(
      found[0].message,
      'sync_frequency must be a number of seconds from 1 to 2147483, got "<app_api_key>"',
    );
    const { warnings } = parse({ app_api_key: SECRET, app_api_key_id: "x", [SECRET]: 1 });
    assert.ok(warnings.includes('unknown attribute "<app_api_key>" (ignored)'), warnings.join());
    assert.ok(!warnings.join().includes(SECRET));
  });
  await t.step("nor does the key's id, pasted into another attribute", () => {
    const keyId = "a1b2c3d4-key-id";
    const found = issues({ app_api_key: SECRET, app_api_key_id: keyId, labels: keyId });
    assert.equal(
      found[0].message,
      'labels must be a list of non-empty strings, got "<app_api_key_id>"',
    );
    const { warnings } = parse({ app_api_key: SECRET, app_api_key_id: keyId, [keyId]: 1 });
    assert.ok(warnings.includes('unknown attribute "<app_api_key_id>" (ignored)'), warnings.join());
  });
});

Deno.test("a module's config written for the original: what it took for unset is unset, with a warning", () => {
  const attributes = {
    ...KEYS,
    tags: ["a"],
    mirror_path: "",
    dataset_id: "",
    sync_frequency: 0,
  };
  const { config, warnings } = parseConfig(attributes, {
    env: (name) => HOME_ENV[name],
    unsetAsOriginal: true,
  });
  assert.equal(config.mirrorRoot, "/home/pi/.viam/data_mirror");
  assert.equal(config.datasetId, undefined);
  assert.equal(config.syncFrequencySeconds, 60);
  assert.deepEqual(warnings, [
    'mirror_path "" is taken as unset, as the original module took it: the default, ' +
    "data_mirror (leave mirror_path out to say so)",
    'dataset_id "" is taken as unset, as the original module took it: no dataset filter ' +
    "(leave dataset_id out to say so)",
    "sync_frequency 0 is taken as unset, as the original module took it: the default, 60 " +
    "seconds (leave sync_frequency out to say so)",
  ]);
  // Elsewhere (flags, a config file of the CLI) they stay errors.
  assert.deepEqual(issues(attributes).map((issue) => issue.field).sort(), [
    "dataset_id",
    "mirror_path",
    "sync_frequency",
  ]);
  // White space is no "unset" (the original took it for a folder, or an id of nothing).
  assert.throws(
    () =>
      parseConfig({ ...KEYS, tags: ["a"], dataset_id: " ", mirror_path: " " }, {
        env: (name) => HOME_ENV[name],
        unsetAsOriginal: true,
      }),
    (error: Error) => /dataset_id must be/.test(error.message) && /mirror_path/.test(error.message),
  );
  // A sync_frequency between 0 and 1 was run as written by the original: refused here too.
  assert.throws(
    () =>
      parseConfig({ ...KEYS, tags: ["a"], sync_frequency: 0.01 }, {
        env: (name) => HOME_ENV[name],
        unsetAsOriginal: true,
      }),
    /sync_frequency must be a number of seconds from 1/,
  );
});

Deno.test("sync_frequency is a number of seconds from 1 (no back-to-back passes)", async (t) => {
  const expected = "sync_frequency must be a number of seconds from 1 to 2147483";
  // Below 1, the original module's 60: what to write is said.
  // The original read 0 or less as 60, and ran a pass every 0.5 s for 0.5 (the reference's
  // table): each is told as it was.
  const original = (n: number) =>
    ` (the original module read ${n} as 60: write 60 for a pass a minute)`;
  const often = " (the original module ran a pass that often, each one listing the whole set " +
    "again: write 1 or more (60 for a pass a minute))";
  const bad: [unknown, string][] = [
    [-3, `-3${original(-3)}`],
    [0, `0${original(0)}`],
    [1e-300, `1e-300${often}`],
    [0.999, `0.999${often}`],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [2147484, "2147484"],
    ["10", '"10"'],
    [[10], "a list"],
  ];
  for (const [value, got] of bad) {
    await t.step(`bad ${got}`, () => {
      assert.equal(issueFor("sync_frequency", value), `${expected}, got ${got}`);
    });
  }
  for (const value of [1, 1.5, 10, 2147483]) {
    await t.step(`good ${value}`, () => {
      assert.equal(
        parse({ ...KEYS, tags: ["t"], sync_frequency: value }).config.syncFrequencySeconds,
        value,
      );
    });
  }
});

Deno.test("concurrency is a whole number from 1 to 64", async (t) => {
  for (const value of [0, 65, 8.5, -1, "8", true]) {
    await t.step(`bad ${value}`, () => {
      assert.match(
        issueFor("concurrency", value),
        /^concurrency must be a whole number from 1 to 64, got /,
      );
    });
  }
  for (const value of [1, 8.0, 64]) {
    await t.step(`good ${value}`, () => {
      assert.equal(parse({ ...KEYS, tags: ["t"], concurrency: value }).config.concurrency, value);
    });
  }
});

Deno.test("free_space_reserve_percent is a number from 0 to 50", async (t) => {
  for (const value of [-1, 50.5, 100, "5"]) {
    await t.step(`bad ${value}`, () => {
      assert.match(
        issueFor("free_space_reserve_percent", value),
        /^free_space_reserve_percent must be a number from 0 to 50, got /,
      );
    });
  }
  for (const value of [0, 2.5, 50]) {
    await t.step(`good ${value}`, () => {
      const { config } = parse({ ...KEYS, tags: ["t"], free_space_reserve_percent: value });
      assert.equal(config.freeSpaceReservePercent, value);
    });
  }
});

Deno.test("booleans must be booleans", () => {
  assert.equal(issueFor("delete", "true"), 'delete must be true or false, got "true"');
  assert.equal(issueFor("allow_delete_all", 1), "allow_delete_all must be true or false, got 1");
  assert.equal(issueFor("manifest", "no"), 'manifest must be true or false, got "no"');
});

Deno.test("tags and labels are lists of non-empty strings", async (t) => {
  const cases: [string, unknown, string][] = [
    ["tags", "face", 'tags must be a list of non-empty strings, got "face"'],
    ["tags", { a: 1 }, "tags must be a list of non-empty strings, got an object"],
    ["tags", ["ok", ""], 'tags[1] must be a non-empty string, got ""'],
    ["labels", [3], "labels[0] must be a non-empty string, got 3"],
    ["labels", [" "], 'labels[0] must be a non-empty string, got " "'],
  ];
  for (const [field, value, message] of cases) {
    await t.step(`${field} ${JSON.stringify(value)}`, () => {
      assert.equal(issueFor(field, value), message);
    });
  }
});

Deno.test("dataset_id is a non-empty string", () => {
  assert.equal(
    issueFor("dataset_id", ""),
    'dataset_id must be a non-empty string (leave it out for no dataset filter), got ""',
  );
  assert.match(issueFor("dataset_id", 5), /got 5$/);
  assert.equal(parse({ ...KEYS, dataset_id: "d" }).config.datasetId, "d");
});

Deno.test("app_url must be an http(s) URL", async (t) => {
  const bad: [unknown, string][] = [
    ["ftp://app.viam.com", 'got "ftp://app.viam.com"'],
    ["not a url", 'got "not a url"'],
    ["app.viam.com", 'got "app.viam.com"'],
    [42, "got 42"],
    ["https://app.viam.com/?x=1", "without ?query or #fragment"],
  ];
  for (const [value, got] of bad) {
    await t.step(String(value), () => {
      const message = issueFor("app_url", value);
      assert.ok(message.startsWith("app_url must be an http:// or https:// URL"), message);
      assert.ok(message.endsWith(got) || message.includes(got), message);
    });
  }
  await t.step("http:// only on loopback: the key would cross the network in the clear", () => {
    for (const host of ["app.viam.com", "192.168.1.5", "10.0.0.2:8080", "[fe80::1]"]) {
      const message = issueFor("app_url", `http://${host}`);
      assert.match(
        message,
        /^app_url may use http:\/\/ only for a loopback host .* use https:\/\//,
      );
    }
    for (
      const host of ["127.0.0.1:8080", "localhost:9000", "[::1]:4000", "127.1.2.3", "0.0.0.0:8080"]
    ) {
      const { config } = parse({ ...KEYS, tags: ["t"], app_url: `http://${host}` });
      assert.equal(config.appUrl, `http://${host}`);
    }
  });
  await t.step("credentials are refused without echoing them", () => {
    const message = issueFor("app_url", `https://user:${SECRET}@app.viam.com`);
    assert.equal(message, "app_url must not contain credentials (user:password@)");
  });
  await t.step("a URL holding the API key or its id is refused without echoing it", () => {
    // Errors name the URL (a 404 from a wrong path), so the key would reach logs and status files.
    for (
      const url of [
        `https://app.viam.com/${SECRET}`,
        // percent-encoded (`%73` is `s`): the URL's path is compared decoded too
        `https://app.viam.com/x/%73${SECRET.slice(1)}`,
        "https://app.viam.com/key-id-1/",
        // the key in the host: it would go out in a DNS query, and print lower-cased
        `https://${SECRET}.viam.com`,
        `https://${SECRET.toLowerCase()}.example`,
      ]
    ) {
      const message = issueFor("app_url", url);
      assert.equal(
        message,
        "app_url must not contain the API key or its id (they are sent as headers)",
      );
    }
  });
  await t.step(
    "a key id that happens to be in the host, or in the default URL, is no secret there",
    () => {
      const id = { app_api_key: SECRET, tags: ["t"] };
      const local = parse({ ...id, app_api_key_id: "127.0.0", app_url: "http://127.0.0.1:8080" });
      assert.equal(local.config.appUrl, "http://127.0.0.1:8080");
      assert.equal(
        parse({ ...id, app_api_key_id: "pp.viam.c" }).config.appUrl,
        "https://app.viam.com",
      );
    },
  );
  await t.step("a port fetch refuses to connect to is refused, naming it", () => {
    for (const port of [6000, 6667, 5060, 10080, 1]) {
      const message = issueFor("app_url", `https://localhost:${port}`);
      assert.match(message, new RegExp(`^app_url port ${port} is one fetch refuses to connect to`));
    }
    const { config } = parse({ ...KEYS, tags: ["t"], app_url: "https://localhost:6001" });
    assert.equal(config.appUrl, "https://localhost:6001");
    // A config that only pushes uploads over HTTP/2, which has no such list: a warning.
    const pushOnly = parse({ ...KEYS, push_path: "out", app_url: "https://localhost:6000" });
    assert.equal(pushOnly.config.appUrl, "https://localhost:6000");
    assert.match(pushOnly.warnings.join("\n"), /port 6000 .*: uploads go/);
  });
  await t.step("a path is kept, the trailing slash dropped", () => {
    const { config } = parse({ ...KEYS, tags: ["t"], app_url: "https://example.com/viam/" });
    assert.equal(config.appUrl, "https://example.com/viam");
  });
});

Deno.test("the Viam home comes from VIAM_HOME, else HOME", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ VIAM_HOME: "/opt/viam", HOME: "/root" }, "/opt/viam"],
    [{ VIAM_HOME: "/opt//viam/./", HOME: "/root" }, "/opt/viam"],
    [{ VIAM_HOME: "", HOME: "/home/pi/" }, "/home/pi/.viam"],
    [{ HOME: "/" }, "/.viam"],
  ];
  for (const [env, viamHome] of cases) {
    await t.step(JSON.stringify(env), () => {
      const { config } = parse({ ...KEYS, tags: ["t"] }, env);
      assert.equal(config.viamHome, viamHome);
      assert.equal(config.mirrorRoot, `${viamHome === "/" ? "" : viamHome}/data_mirror`);
    });
  }
  await t.step("neither set", () => {
    assert.deepEqual(issues({ ...KEYS }, {}), [{
      field: "VIAM_HOME",
      message:
        "neither VIAM_HOME nor HOME is set: cannot locate the Viam home that mirror_path is " +
        "relative to",
    }]);
  });
  await t.step("relative", () => {
    assert.deepEqual(issues({ ...KEYS }, { VIAM_HOME: "viam" }), [
      { field: "VIAM_HOME", message: 'VIAM_HOME must be an absolute path, got "viam"' },
    ]);
    assert.deepEqual(issues({ ...KEYS }, { HOME: "home" }), [
      { field: "HOME", message: 'HOME must be an absolute path, got "home"' },
    ]);
  });
});

Deno.test("mirror_path stays strictly inside the Viam home", async (t) => {
  const good: [string, string][] = [
    ["data_mirror", "/home/pi/.viam/data_mirror"],
    ["data_mirror/", "/home/pi/.viam/data_mirror"],
    ["./a//b/.", "/home/pi/.viam/a/b"],
    ["packages2", "/home/pi/.viam/packages2"],
    ["my packages", "/home/pi/.viam/my packages"],
    ["a/packages", "/home/pi/.viam/a/packages"],
  ];
  for (const [mirrorPath, root] of good) {
    await t.step(`good ${mirrorPath}`, () => {
      const { config } = parse({ ...KEYS, tags: ["t"], mirror_path: mirrorPath });
      assert.equal(config.mirrorRoot, root);
      assert.equal(config.mirrorPath, mirrorPath);
    });
  }
  const home = "/home/pi/.viam";
  const bad: [unknown, string][] = [
    [
      "/data",
      `mirror_path "/data" is absolute: mirror_path is relative to ${home} (write "data" for ` +
      `"${home}/data")`,
    ],
    [
      `${home}/faces`,
      `mirror_path "${home}/faces" is absolute: mirror_path is relative to ${home} (write ` +
      `"faces" for "${home}/faces")`,
    ],
    [
      "~/.viam/faces",
      `mirror_path "~/.viam/faces" starts with ~, which is not expanded here: mirror_path is ` +
      `relative to ${home} (write "faces" for "${home}/faces")`,
    ],
    [
      "~/faces",
      `mirror_path "~/faces" starts with ~, which is not expanded here: mirror_path is ` +
      `relative to ${home} (write "faces" for "${home}/faces")`,
    ],
    [
      "$HOME/faces",
      `mirror_path "$HOME/faces" starts with $HOME, which is not expanded here: mirror_path is ` +
      `relative to ${home} (write it without the variable, or "./$HOME/faces" for a folder of ` +
      "that very name)",
    ],
    ["..", `mirror_path ".." has a ".." component: expected a directory inside ${home}`],
    ["../x", `mirror_path "../x" has a ".." component: expected a directory inside ${home}`],
    ["a/../b", `mirror_path "a/../b" has a ".." component: expected a directory inside ${home}`],
    ["a/..", `mirror_path "a/.." has a ".." component: expected a directory inside ${home}`],
    ["", `mirror_path "" names ${home} itself: expected a directory inside it`],
    [".", `mirror_path "." names ${home} itself: expected a directory inside it`],
    ["./", `mirror_path "./" names ${home} itself: expected a directory inside it`],
    [
      "a\\b",
      `mirror_path "a\\\\b" contains a backslash (use / between names): expected a directory ` +
      `inside ${home}`,
    ],
    [
      "a\u0000",
      `mirror_path "a\\u0000" contains the control character U+0000: expected a directory ` +
      `inside ${home}`,
    ],
    [3, "mirror_path must be a string, got 3"],
    [
      " faces",
      `mirror_path " faces" has a folder name that starts or ends with white space (" faces"): ` +
      "write it without",
    ],
    [
      "cams/front /today",
      `mirror_path "cams/front /today" has a folder name that starts or ends with white space ` +
      `("front "): write it without`,
    ],
  ];
  for (const [mirrorPath, message] of bad) {
    await t.step(`bad ${JSON.stringify(mirrorPath)}`, () => {
      assert.equal(issueFor("mirror_path", mirrorPath), message);
    });
  }
  for (
    const owned of [
      "packages",
      "Packages/x",
      "module-data",
      "capture/mine",
      "diagnostics.data",
      // viam-server's cached app tokens: with delete, a mirror there removed them.
      "grpc",
      "bin",
      "mongod-data/db",
      // local tarball modules, unpacked (rdk LocalPackagesDir): with delete, a mirror there removed them.
      "packages-local",
      "Packages-Local/x",
    ]
  ) {
    await t.step(`viam-server's own ${owned}`, () => {
      const message = issueFor("mirror_path", owned);
      assert.ok(message.includes("a directory viam-server manages in /home/pi/.viam"), message);
    });
  }
  assert.match(
    issueFor("mirror_path", "Packages/x"),
    /lies in packages \(Packages but for case or trailing dots\), a directory viam-server manages/,
  );
  // FAT and exFAT drop trailing dots: `capture.` is `capture` there.
  assert.match(
    issueFor("mirror_path", "capture./x"),
    /lies in capture \(capture\. but for case or trailing dots\)/,
  );
  assert.match(issueFor("push_path", "Packages.."), /lies in packages/);
  for (const state of ["data_mirror/.data-mirror", "a/.Data-Mirror/b", ".data-mirror"]) {
    await t.step(`a mirror's state folder: ${state}`, () => {
      assert.equal(
        issueFor("mirror_path", state),
        `mirror_path ${JSON.stringify(state)} lies in a .data-mirror directory, where a mirror ` +
          "or a push folder keeps its lock, manifest and partial downloads: choose another directory",
      );
    });
  }
});

Deno.test("protected_dirs are normalised, unsafe entries named", async (t) => {
  const { config } = parse({
    ...KEYS,
    tags: ["t"],
    protected_dirs: ["a/", "./a", "a", "a//b/", "c/./d"],
  });
  assert.deepEqual(config.protectedDirs, ["a", "a/b", "c/d"]);
  const bad: [unknown, string][] = [
    ["..", `protected_dirs[0] ".." has a ".." component: expected a directory inside the mirror`],
    ["a/../b", 'protected_dirs[0] "a/../b" has a ".." component'],
    ["/abs", 'protected_dirs[0] "/abs" is absolute'],
    ["", 'protected_dirs[0] "" names the mirror root itself: expected a directory inside it'],
    [".", 'protected_dirs[0] "." names the mirror root itself'],
    ["./", 'protected_dirs[0] "./" names the mirror root itself'],
    ["a\\b", 'protected_dirs[0] "a\\\\b" contains a backslash'],
    [5, "protected_dirs[0] must be a relative directory path, got 5"],
    ["cams/*", 'protected_dirs[0] "cams/*" is a pattern: protected_dirs takes folder paths'],
    ["models/**", 'protected_dirs[0] "models/**" is a pattern'],
    ["img?", 'protected_dirs[0] "img?" is a pattern'],
    ["[ab]", 'protected_dirs[0] "[ab]" is a pattern'],
    ["{a,b}", 'protected_dirs[0] "{a,b}" is a pattern'],
    [" cams", 'protected_dirs[0] " cams" has a folder name that begins or ends with white space'],
    ["cams ", 'protected_dirs[0] "cams " has a folder name that begins or ends with white space'],
    ["cams/ front", 'protected_dirs[0] "cams/ front" has a folder name that begins or ends'],
    ["cams /front", 'protected_dirs[0] "cams /front" has a folder name that begins or ends'],
    // Not expanded: it would protect a folder named "~", and delete the files of models.
    ["~/.viam/data_mirror/models", 'protected_dirs[0] "~/.viam/data_mirror/models" starts with ~'],
    ["~", 'protected_dirs[0] "~" starts with ~'],
    [
      "$HOME/.viam/data_mirror/models",
      'protected_dirs[0] "$HOME/.viam/data_mirror/models" starts with $',
    ],
  ];
  for (const [entry, message] of bad) {
    await t.step(`bad ${JSON.stringify(entry)}`, () => {
      const found = issueFor("protected_dirs", [entry]);
      assert.ok(found.startsWith(message), found);
    });
  }
  await t.step("not a list", () => {
    assert.equal(
      issueFor("protected_dirs", "models"),
      'protected_dirs must be a list of directory paths, got "models"',
    );
  });
  await t.step("every bad entry is reported", () => {
    const found = issues({ ...KEYS, protected_dirs: ["ok", "..", "/x"] });
    assert.deepEqual(found.map((issue) => issue.message.slice(0, 17)), [
      "protected_dirs[1]",
      "protected_dirs[2]",
    ]);
  });
});

Deno.test("all issues are collected into one ConfigError", () => {
  let error: unknown;
  try {
    parse({ sync_frequency: -3, tags: "x", concurrency: 0, mirror_path: "/x" }, {});
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.deepEqual(error.issues.map((issue) => issue.field), [
    "app_api_key",
    "app_api_key_id",
    "sync_frequency",
    "tags",
    "concurrency",
    "VIAM_HOME",
    "mirror_path",
  ]);
  assert.ok(error.message.startsWith("invalid configuration: app_api_key is required"));
  for (const issue of error.issues) assert.ok(error.message.includes(issue.message));
  assert.ok(
    error.message.includes(
      "sync_frequency must be a number of seconds from 1 to 2147483, got -3",
    ),
  );
  assert.ok(error.message.includes(
    'mirror_path "/x" is absolute: mirror_path is relative to ' +
      "the Viam home",
  ));
});

Deno.test("unknown attributes are warnings with the closest known name", async (t) => {
  const cases: [string, string | undefined][] = [
    ["sync_frequncy", "sync_frequency"],
    ["syncFrequency", "sync_frequency"],
    ["sync-frequency", "sync_frequency"],
    ["frequency", "sync_frequency"],
    ["tag", "tags"],
    ["label", "labels"],
    ["mirrorPath", "mirror_path"],
    ["protected_dir", "protected_dirs"],
    ["api_key", "app_api_key"],
    ["datasetId", "dataset_id"],
    ["delete_all", "allow_delete_all"],
    ["zzzzzzzz", undefined],
    ["id", undefined],
  ];
  for (const [name, near] of cases) {
    await t.step(name, () => {
      const { warnings } = parse({ ...KEYS, tags: ["t"], [name]: 1 });
      const hint = near === undefined ? " (ignored)" : ` (did you mean "${near}"?)`;
      assert.deepEqual(warnings, [`unknown attribute "${name}"${hint}`]);
    });
  }
});

Deno.test("a misspelt push_path with no filter set is an error, not a mirror of everything", () => {
  for (const name of ["push-path", "pushPath", "push_pth"]) {
    const found = issues({ ...KEYS, [name]: "outbox", push_tags: ["fleet"] });
    assert.deepEqual(found, [{
      field: name,
      message: `unknown attribute "${name}" (did you mean "push_path"?): with no tags, labels or ` +
        "dataset_id the mirror would take every binary file the API key can read; fix the name",
    }]);
  }
  // With a filter set it stays a warning.
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], pushPath: "outbox" }).warnings, [
    'unknown attribute "pushPath" (did you mean "push_path"?)',
  ]);
});

Deno.test("a misspelt filter with no filter set is an error, not a mirror of everything", () => {
  for (const [name, near] of [["tag", "tags"], ["lables", "labels"], ["datasetId", "dataset_id"]]) {
    const found = issues({ ...KEYS, [name]: ["x"] });
    assert.deepEqual(found, [{
      field: name,
      message: `unknown attribute "${name}" (did you mean "${near}"?): with no tags, labels or ` +
        "dataset_id the mirror would take every binary file the API key can read; fix the name",
    }]);
  }
  // With a filter set, the same typo stays a warning; no filter and no such typo: a warning too.
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], lables: ["x"] }).warnings, [
    'unknown attribute "lables" (did you mean "labels"?)',
  ]);
  assert.deepEqual(parse({ ...KEYS, delte: true }).warnings, [
    'unknown attribute "delte" (did you mean "delete"?)',
    "no tags, labels or dataset_id: every binary file the API key can read will be mirrored",
  ]);
  // Narrowed by type or time only: said so, not "every binary file".
  assert.deepEqual(parse({ ...KEYS, mime_types: ["image/jpeg"] }).warnings, [
    "no tags, labels or dataset_id: every binary file the API key can read (of the mime_types " +
    "and times given) will be mirrored",
  ]);
});

Deno.test("with delete on, an unknown attribute is an error: a misspelt one could delete what it was meant to keep", () => {
  const tail = ": with delete on, every attribute must be known (a misspelt one could delete " +
    "files it was meant to keep); fix the name or remove it";
  const cases: [string, string | undefined][] = [
    ["protected_dir", "protected_dirs"],
    ["mirror_pth", "mirror_path"],
    ["maxDelete", "max_delete"],
    ["sync_frequncy", "sync_frequency"],
    ["min_age", "push_min_age"], // a fragment first: not max_age, a window that deletes
    ["mirror_dir", undefined],
    ["comment", undefined],
  ];
  for (const [name, near] of cases) {
    const hint = near === undefined ? "" : ` (did you mean "${near}"?)`;
    assert.deepEqual(issues({ ...KEYS, tags: ["t"], delete: true, [name]: ["models"] }), [{
      field: name,
      message: `unknown attribute "${name}"${hint}${tail}`,
    }]);
    // Without delete the same name is a warning, as any unknown attribute.
    assert.deepEqual(parse({ ...KEYS, tags: ["t"], [name]: ["models"] }).warnings, [
      `unknown attribute "${name}"${near === undefined ? " (ignored)" : hint}`,
    ]);
  }
  // Every one is named; past ten, they are counted, and still refused.
  const both = issues({ ...KEYS, tags: ["t"], delete: true, protected_dir: [], mirror_pth: "x" });
  assert.deepEqual(both.map((issue) => issue.field), ["protected_dir", "mirror_pth"]);
  const notes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`note_${i}`, i]));
  const many = issues({ ...KEYS, tags: ["t"], delete: true, ...notes, protected_dir: ["m"] });
  assert.equal(many.length, 11);
  assert.deepEqual(many.at(-1), {
    field: "attributes",
    message: "1 more unknown attribute(s): with delete on, none may be unknown",
  });
});

Deno.test("with a push that deletes what it uploaded, an unknown attribute is an error too", () => {
  const push = { ...KEYS, tags: ["t"], push_path: "outbox", push_tags: ["fleet"] };
  const tail = ": with push_path set and push_keep off (each file is deleted once uploaded), " +
    "every attribute must be known (a misspelt one could delete files it was meant to keep); " +
    "fix the name or remove it";
  // push_kep would delete the files it was written to keep; push_tag would send them untagged,
  // where no mirror of the tag gets them, and delete them.
  for (const [name, near] of [["push_kep", "push_keep"], ["push_tag", "push_tags"]]) {
    assert.deepEqual(issues({ ...push, [name]: true }), [{
      field: name,
      message: `unknown attribute "${name}" (did you mean "${near}"?)${tail}`,
    }]);
    // A push that keeps its files deletes nothing: a warning, as any unknown attribute.
    assert.deepEqual(parse({ ...push, push_keep: true, [name]: true }).warnings, [
      `unknown attribute "${name}" (did you mean "${near}"?)`,
    ]);
  }
  const notes = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`note_${i}`, i]));
  assert.deepEqual(issues({ ...push, ...notes }).at(-1), {
    field: "attributes",
    message: "1 more unknown attribute(s): with push_path set and push_keep off (each file is " +
      "deleted once uploaded), none may be unknown",
  });
});

Deno.test("a push folder without tags, labels or dataset_id only pushes: nothing is mirrored", () => {
  const pushOnly = parse({ ...KEYS, push_path: "outbox", push_tags: ["fleet"] });
  assert.equal(pushOnly.config.pushOnly, true);
  assert.deepEqual(pushOnly.warnings, [], "no warning of mirroring everything");
  for (const filter of [{ tags: ["t"] }, { labels: ["cat"] }, { dataset_id: "ds" }]) {
    const both = parse({ ...KEYS, push_path: "outbox", push_tags: ["fleet"], ...filter });
    assert.equal(both.config.pushOnly, undefined, JSON.stringify(filter));
  }
  assert.equal(parse({ ...KEYS }).config.pushOnly, undefined, "no push folder: mirrors all");
  // Its mirror_path is never used: a push folder there (the default's name) is no overlap.
  assert.equal(parse({ ...KEYS, push_path: "data_mirror" }).config.pushOnly, true);
  assert.match(issueFor("push_path", "data_mirror"), /data_mirror/, "one that mirrors: refused");
});

Deno.test("a required attribute that is missing names the unknown attribute that is likely it misspelt", () => {
  const found = issues({ app_api_keys: SECRET, app_api_key_id: "key-id-1", tags: ["t"] });
  assert.deepEqual(found.map((issue) => issue.field), ["app_api_key"]);
  assert.match(
    found[0].message,
    /^app_api_key is required: .* \(the config has "app_api_keys": misspelt\?\)$/,
  );
  assert.ok(!found[0].message.includes(SECRET), "the key is never quoted");
  // No likely typo, no note.
  const plain = issues({ app_api_key_id: "key-id-1", tags: ["t"] });
  assert.doesNotMatch(plain[0].message, /misspelt/);
});

Deno.test("a mirror_path or push_path that starts with .viam/ is warned about: it is relative to the Viam home", () => {
  const { warnings } = parse({
    ...KEYS,
    tags: ["t"],
    mirror_path: ".viam/faces",
    push_path: "out",
    push_tags: ["fleet"],
  });
  assert.deepEqual(warnings, [
    'mirror_path ".viam/faces" is relative to the Viam home already: it names ' +
    "/home/pi/.viam/.viam/faces",
  ]);
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], mirror_path: "faces/.viam" }).warnings, []);
});

Deno.test("a push_path without push_tags or push_dataset_ids is warned about: its uploads reach no tag's mirror", () => {
  const expected = "push_path is set without push_tags or push_dataset_ids: its uploads carry " +
    "no tag and join no dataset, so no machine mirroring a tag receives them";
  assert.deepEqual(parse({ ...KEYS, labels: ["l"], push_path: "out" }).warnings, [expected]);
  assert.deepEqual(parse({ ...KEYS, tags: ["fleet"], push_path: "out" }).warnings, [
    `${expected} (tags is what this machine mirrors, not what it pushes with)`,
  ]);
  for (const push of [{ push_tags: ["fleet"] }, { push_dataset_ids: ["ds"] }]) {
    assert.deepEqual(parse({ ...KEYS, tags: ["t"], push_path: "out", ...push }).warnings, []);
  }
});

Deno.test("unknown attribute names are echoed bounded, and at most ten of them", () => {
  const huge = "x".repeat(50 * 1024 * 1024);
  const { warnings } = parse({ ...KEYS, tags: ["t"], [huge]: 1, [`\u0000${"a".repeat(200)}`]: 2 });
  assert.deepEqual(warnings, [
    `unknown attribute "${"x".repeat(100)}…" (ignored)`,
    `unknown attribute "\\u0000${"a".repeat(99)}…" (ignored)`,
  ]);
  const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`zz_${i}`, i]));
  const listed = parse({ ...KEYS, tags: ["t"], ...many }).warnings;
  assert.equal(listed.length, 11);
  assert.equal(listed[0], 'unknown attribute "zz_0" (ignored)');
  assert.equal(listed[10], "990 more unknown attribute(s) (ignored)");
});

Deno.test("no filter at all is allowed, with a warning", () => {
  const { warnings } = parse({ ...KEYS });
  assert.deepEqual(warnings, [
    "no tags, labels or dataset_id: every binary file the API key can read will be mirrored",
  ]);
  for (const filter of [{ tags: ["t"] }, { labels: ["l"] }, { dataset_id: "d" }]) {
    assert.deepEqual(parse({ ...KEYS, ...filter }).warnings, []);
  }
});

Deno.test("an empty tags or labels list (or a null filter) as the only filter is an error; beside another filter it is none", () => {
  for (const field of ["tags", "labels"]) {
    const found = issues({ ...KEYS, [field]: [], delete: true });
    assert.deepEqual(found.map((issue) => issue.field), [field]);
    assert.match(found[0].message, /empty list.*every binary file the API key can read.*leave/);
  }
  // null too: a field cleared in the app may come so (a reviewer: everything mirrored, with delete).
  for (const field of ["tags", "labels", "dataset_id"]) {
    const found = issues({ ...KEYS, [field]: null, delete: true });
    assert.deepEqual(found.map((issue) => issue.field), [field]);
    assert.match(found[0].message, /is null.*every binary file the API key can read.*leave/);
  }
  assert.deepEqual(parse({ ...KEYS, tags: null, labels: ["l"] }).warnings, []);
  assert.equal(issues({ ...KEYS, tags: [], labels: [] }).length, 2);
  assert.deepEqual(parse({ ...KEYS, tags: [], dataset_id: "d" }).warnings, []);
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], labels: [] }).warnings, []);
  // A push-only resource lists nothing: an empty filter there mirrors nothing.
  assert.deepEqual(
    parse({ ...KEYS, tags: [], push_path: "outbox", push_tags: ["t"] }).warnings,
    [],
  );
});

Deno.test("allow_delete_all without delete is a warning", () => {
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], allow_delete_all: true }).warnings, [
    "allow_delete_all has no effect without delete: true",
  ]);
  assert.deepEqual(
    parse({ ...KEYS, tags: ["t"], allow_delete_all: true, delete: true }).warnings,
    [],
  );
});

Deno.test("max_delete is a number of files or a percentage; it needs delete", async (t) => {
  const expected = "max_delete must be a whole number of files (such as 500) or a percentage of " +
    'the mirror\'s files from "0%" to "100%"';
  const bad: [unknown, string][] = [
    [-1, "-1"],
    [1.5, "1.5"],
    ["500", '"500"'],
    ["101%", '"101%"'],
    ["-5%", '"-5%"'],
    [true, "true"],
  ];
  for (const [value, got] of bad) {
    await t.step(`bad ${got}`, () => {
      assert.equal(issueFor("max_delete", value), `${expected}, got ${got}`);
    });
  }
  const good: [unknown, DeleteLimit][] = [
    [0, { files: 0, percent: 0 }],
    [500, { files: 500, percent: 0 }],
    ["25%", { files: 0, percent: 25 }],
    [" 100 % ", { files: 0, percent: 100 }],
    [null, DEFAULT_MAX_DELETE],
  ];
  for (const [value, limit] of good) {
    await t.step(`good ${JSON.stringify(value)}`, () => {
      const parsed = parse({ ...KEYS, tags: ["t"], delete: true, max_delete: value });
      assert.deepEqual(parsed.config.maxDelete, limit);
      assert.deepEqual(parsed.warnings, []);
    });
  }
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], max_delete: 5 }).warnings, [
    "max_delete has no effect without delete: true",
  ]);
});

Deno.test("bandwidth_limit is bytes per second, with k, M or G (1024-based); 0 is none", async (t) => {
  const good: [unknown, number][] = [
    [0, 0],
    [1000, 1000],
    ["512k", 512 * 1024],
    ["2M", 2 * 1024 ** 2],
    ["1.5g", 1.5 * 1024 ** 3],
    [" 10 K ", 10 * 1024],
    [null, 0],
  ];
  for (const [value, rate] of good) {
    await t.step(`good ${JSON.stringify(value)}`, () => {
      assert.equal(
        parse({ ...KEYS, tags: ["t"], bandwidth_limit: value }).config.bandwidthLimit,
        rate,
      );
    });
  }
  const expected = "bandwidth_limit must be bytes per second: a number, or a number with k, M or " +
    'G (1024-based) such as "512k" or "2M"; 0 for no limit';
  const bad = [[-1, "-1"], ["2T", '"2T"'], ["fast", '"fast"'], [[1], "a list"], [0.5, "0.5"], [
    "0.5",
    '"0.5"',
  ]];
  for (const [value, got] of bad) {
    await t.step(`bad ${got}`, () => {
      assert.equal(issueFor("bandwidth_limit", value), `${expected}, got ${got}`);
    });
  }
});

Deno.test("a bandwidth_limit of a few bytes a second is warned about (megabytes were likely meant)", () => {
  const { warnings } = parse({ ...KEYS, tags: ["t"], bandwidth_limit: 2 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /bandwidth_limit 2 is 2 bytes a second.*"2M"/);
  assert.deepEqual(parse({ ...KEYS, tags: ["t"], bandwidth_limit: "512k" }).warnings, []);
});

Deno.test("mime_types are type/subtype strings", () => {
  assert.equal(
    issueFor("mime_types", ["image/jpeg", "jpeg"]),
    'mime_types[1] must be a MIME type such as "image/jpeg", got "jpeg"',
  );
  assert.equal(
    issueFor("mime_types", "image/jpeg"),
    'mime_types must be a list of non-empty strings, got "image/jpeg"',
  );
});

Deno.test("start and end are ISO 8601 with a zone; start before end", async (t) => {
  const expected = (field: string) =>
    `${field} must be an ISO 8601 date ("2024-05-01", UTC) or date and time with a zone ` +
    '("2024-05-01T08:00:00Z", "2024-05-01T10:00:00+02:00")';
  const bad: [unknown, string][] = [
    ["yesterday", '"yesterday"'],
    ["2024-13-01", '"2024-13-01"'],
    // Dates that do not exist, which Date would roll over into the next month or day:
    ["2024-02-30", '"2024-02-30"'],
    ["2023-02-29T10:00:00Z", '"2023-02-29T10:00:00Z"'],
    ["2024-05-01T24:00:00Z", '"2024-05-01T24:00:00Z"'],
    ["2024-05-01T10:00+24:00", '"2024-05-01T10:00+24:00"'],
    ["2024-05-01T08:00:00", '"2024-05-01T08:00:00" (add Z for UTC, or an offset)'],
    [1714550400, "1714550400"],
  ];
  for (const [value, got] of bad) {
    await t.step(`bad ${got}`, () => {
      assert.equal(issueFor("start", value), `${expected("start")}, got ${got}`);
    });
  }
  assert.deepEqual(issues({ ...KEYS, tags: ["t"], start: "2024-05-02", end: "2024-05-01" }), [{
    field: "end",
    message:
      "end must be after start, got start 2024-05-02T00:00:00.000Z and end 2024-05-01T00:00:00.000Z",
  }]);
  const { config } = parse({ ...KEYS, tags: ["t"], start: "2024-05-01T08:00:00.5Z" });
  assert.equal(config.start?.toISOString(), "2024-05-01T08:00:00.500Z");
  const leap = parse({ ...KEYS, tags: ["t"], start: "2024-02-29T23:59:59+01:00" }).config;
  assert.equal(leap.start?.toISOString(), "2024-02-29T22:59:59.000Z");
  assert.equal(config.end, undefined);
});

Deno.test("max_age is a positive duration: seconds or a number and a unit", async (t) => {
  const good: [unknown, number][] = [[90, 90], ["90s", 90], ["30m", 1800], ["12h", 43200], [
    "7d",
    604800,
  ], ["1.5w", 907200]];
  for (const [value, seconds] of good) {
    await t.step(`good ${value}`, () => {
      assert.equal(parse({ ...KEYS, tags: ["t"], max_age: value }).config.maxAgeSeconds, seconds);
    });
  }
  const expected = "max_age must be a duration greater than 0: a number of seconds, or a number " +
    'and a unit (s, m, h, d, w) such as "7d" or "12h"';
  for (const [value, got] of [[0, "0"], ["7 days", '"7 days"'], ["-1h", '"-1h"'], [true, "true"]]) {
    await t.step(`bad ${got}`, () => {
      assert.equal(issueFor("max_age", value), `${expected}, got ${got}`);
    });
  }
});

Deno.test("push_path follows mirror_path's rules and stays apart from the mirror", async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ push_path: "/outbox" }, 'push_path "/outbox" is absolute: push_path is relative to'],
    [{ push_path: "a/../b" }, 'push_path "a/../b" has a ".." component'],
    [{ push_path: "packages/x" }, 'push_path "packages/x" lies in packages'],
    [{ push_path: "Data_Mirror" }, "is the mirror_path directory"],
    [{ push_path: "data_mirror/out" }, "lies inside the mirror_path directory"],
    [{ push_path: "m", mirror_path: "m/in" }, "contains the mirror_path directory"],
    [{ push_path: 5 }, "push_path must be a string, got 5"],
    [{ push_path: "out", push_min_age: -1 }, "push_min_age must be a number of seconds from 0"],
  ];
  for (const [attributes, message] of cases) {
    await t.step(JSON.stringify(attributes), () => {
      const found = issues({ ...KEYS, tags: ["t"], ...attributes });
      assert.ok(found.some((issue) => issue.message.includes(message)), JSON.stringify(found));
    });
  }
  const { config } = parse({ ...KEYS, tags: ["t"], push_path: "data_mirror_out" });
  assert.deepEqual(config.push, {
    pushPath: "data_mirror_out",
    pushRoot: "/home/pi/.viam/data_mirror_out",
    tags: [],
    datasetIds: [],
    keep: false,
    minAgeSeconds: 10,
  });
  const unused = parse({ ...KEYS, tags: ["t"], push_tags: ["x"], push_keep: false });
  assert.equal(unused.config.push, undefined);
  assert.deepEqual(unused.warnings, ["push_tags, push_keep: no effect without push_path"]);
});

Deno.test("CONFIG_ATTRIBUTES lists every attribute, frozen", () => {
  assert.deepEqual([...CONFIG_ATTRIBUTES].sort(), [
    "allow_delete_all",
    "app_api_key",
    "app_api_key_id",
    "app_url",
    "bandwidth_limit",
    "concurrency",
    "dataset_id",
    "delete",
    "end",
    "free_space_reserve_percent",
    "labels",
    "manifest",
    "max_age",
    "max_delete",
    "mime_types",
    "mirror_path",
    "protected_dirs",
    "push_dataset_ids",
    "push_keep",
    "push_min_age",
    "push_path",
    "push_tags",
    "start",
    "sync_frequency",
    "tags",
  ]);
  assert.ok(Object.isFrozen(CONFIG_ATTRIBUTES));
});

Deno.test("a tag with white space at an end is kept as written, with a warning", () => {
  // The platform compares tags exactly: items tagged "fleet " by an earlier push would leave a
  // trimmed filter's listing, and be deleted.
  const { config, warnings } = parse({
    ...KEYS,
    tags: ["demo", "fleet "],
    push_path: "outbox",
    push_tags: [" fleet"],
  });
  assert.deepEqual(config.tags, ["demo", "fleet "]);
  assert.deepEqual(config.push?.tags, [" fleet"]);
  assert.ok(warnings.some((w) => w.includes('"fleet "')), warnings.join("\n"));
});

Deno.test("protected_dirs: a folder whose name starts with $ is kept; a shell variable is refused", () => {
  const dirs = (dir: string) =>
    parse({ ...KEYS, tags: ["demo"], delete: true, protected_dirs: [dir] }).config.protectedDirs;
  assert.deepEqual(dirs("$RECYCLE.BIN"), ["$RECYCLE.BIN"]); // Windows' folder on an exFAT stick
  assert.deepEqual(dirs("./$HOME"), ["$HOME"]); // a folder of that very name, as the refusal says
  for (const dir of ["$HOME/.viam/data_mirror/models", "${VIAM_HOME}/m", "~/x"]) {
    assert.throws(() => dirs(dir), ConfigError, dir);
  }
});

Deno.test("with delete, protected_dirs written from the Viam home (as mirror_path) are refused", () => {
  const base = { ...KEYS, tags: ["t"], delete: true };
  for (
    const [mirrorPath, entry, inside] of [
      [undefined, "data_mirror/models", "models"],
      [undefined, ".viam/data_mirror/models", "models"],
      ["faces/front", "faces/front/keep/", "keep"],
    ] as const
  ) {
    const found = issues({
      ...base,
      ...(mirrorPath === undefined ? {} : { mirror_path: mirrorPath }),
      protected_dirs: [entry],
    });
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].field, "protected_dirs");
    assert.match(found[0].message, new RegExp(`write "${inside}" for <mirror>/${inside}`));
  }
  // Written with ./, a folder of the mirror's very name is meant (items uploaded from
  // C:\captures\cam1 into a mirror "captures"); the refusal says so.
  const escaped = parse({ ...base, mirror_path: "captures", protected_dirs: ["./captures/cam1"] });
  assert.deepEqual(escaped.config.protectedDirs, ["captures/cam1"]);
  const [refusal] = issues({ ...base, mirror_path: "captures", protected_dirs: ["captures/cam1"] });
  assert.match(refusal.message, /"\.\/captures\/cam1" for a folder of that very name/);
  // Written twice, it is refused once.
  assert.equal(issues({ ...base, protected_dirs: ["data_mirror/m", "data_mirror/m"] }).length, 1);
  // Relative to the mirror, or without delete (protection is only against deletes), it stands.
  assert.deepEqual(
    parse({ ...base, protected_dirs: ["models", "data_mirror"] }).config.protectedDirs,
    [
      "models",
      "data_mirror",
    ],
  );
  assert.deepEqual(
    parse({ ...KEYS, tags: ["t"], protected_dirs: ["data_mirror/models"] }).config.protectedDirs,
    ["data_mirror/models"],
  );
});

Deno.test("the data manager's attribute names get this module's: additional_sync_paths with no filter is an error", () => {
  const found = issues({ ...KEYS, additional_sync_paths: ["/tmp/my_text_files"] });
  assert.deepEqual(found.map((issue) => issue.field), ["additional_sync_paths"]);
  assert.match(found[0].message, /the data manager's; here "push_path", one folder, relative to/);
  assert.match(found[0].message, /nothing would be pushed, and the mirror would take every binary/);
  // With a filter too (the data manager's tags are its uploads' tags): refused all the same.
  const filtered = issues({ ...KEYS, tags: ["t"], additional_sync_paths: ["/tmp/x"] });
  assert.deepEqual(filtered.map((issue) => issue.field), ["additional_sync_paths"]);
  assert.match(filtered[0].message, /nothing would be pushed; write push_path/);
  const { warnings } = parse({ ...KEYS, tags: ["t"], sync_interval_mins: 10 });
  assert.deepEqual(warnings, [
    'unknown attribute "sync_interval_mins" (the data manager\'s; here "sync_frequency", in seconds)',
  ]);
});
