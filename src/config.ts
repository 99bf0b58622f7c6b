/**
 * The module attributes (and the CLI, which builds the same attribute record from its flags) turned
 * into one validated {@linkcode MirrorConfig}.
 *
 * Every problem is collected before anything is thrown, so a user fixes a config in one round. No
 * message ever contains the value of `app_api_key` (nor of `app_api_key_id`): only its kind.
 *
 * `mirror_path` decisions:
 * - It is relative to the Viam home (`$VIAM_HOME`, which viam-server sets for modules, else
 *   `$HOME/.viam`). An absolute value is an error that says so, not silently re-rooted: the original
 *   Python module wrote absolute paths outside `.viam`, the Go one re-rooted them, and a user cannot
 *   guess which one we do.
 * - A `..` component is an error even when it would stay inside (`a/../b`): same strictness as file
 *   names. A value that names the Viam home itself (`""`, `.`, `./`) is an error: with `delete` it
 *   would remove viam-server's own files.
 * - It may not be or lie inside a directory viam-server keeps directly under the Viam home
 *   (`VIAM_OWNED_DIRS` in `paths.ts`: `packages`, `module-data`, `capture`, `grpc`...). Compared
 *   without regard to case (case-insensitive file systems) nor to trailing dots and spaces.
 * - No component may be `.data-mirror` (without regard to case): that is where a mirror or a push
 *   folder keeps its state, which another mirror there would delete as stale.
 * - A backslash is an error (`use / between names`): on Linux it would be part of a directory name.
 *
 * `null` for an optional attribute means "not set" (a google.protobuf.Struct can carry nulls).
 *
 * @module
 */
import { posix } from "node:path";
import { editDistance } from "./edit_distance.ts";
import { isLoopbackHost } from "./loopback_host.ts";
import {
  foldCase,
  isStateDirPath,
  splitRelativePath,
  STATE_DIR_NAME,
  viamOwnedDir,
} from "./paths.ts";
import { MIN_SECRET_LENGTH, scrubSecrets } from "./redaction.ts";

/** The model every resource of the module has: whose attributes {@linkcode parseConfig} reads. */
export const MIRROR_MODEL = "viam-soleng:data:mirror";

/** The validated configuration of one mirror. */
export interface MirrorConfig {
  /** `app_api_key_id`: the API key id. */
  apiKeyId: string;
  /** `app_api_key`: the API key. A secret: never logged, never in a message. */
  apiKey: string;
  /** `app_url`, default `https://app.viam.com`: an http(s) URL, without a trailing `/`. */
  appUrl: string;
  /** `sync_frequency`: seconds between passes, default 60; fractions allowed; at least 1. */
  syncFrequencySeconds: number;
  /** `tags`: capture tags to match (OR), duplicates removed. */
  tags: string[];
  /** `labels`: bounding-box labels to match (OR), duplicates removed. */
  labels: string[];
  /** `dataset_id`, when set. */
  datasetId?: string;
  /** `mime_types`: MIME types to match (OR), duplicates removed; empty: any. */
  mimeTypes: string[];
  /** `start`: only items requested (captured) at or after this time. */
  start?: Date;
  /** `end`: only items requested before this time; after `start`. */
  end?: Date;
  /** `max_age`: only items requested within this many seconds before each pass (rolling). */
  maxAgeSeconds?: number;
  /** `bandwidth_limit`: download bytes per second for the whole mirror; 0 means no limit. */
  bandwidthLimit: number;
  /** `$VIAM_HOME` when set, else `$HOME/.viam`: absolute and normalised. */
  viamHome: string;
  /** `mirror_path` as given, default `data_mirror`. */
  mirrorPath: string;
  /** The absolute mirror directory: `mirrorPath` resolved against `viamHome`. */
  mirrorRoot: string;
  /** `delete`, default false: remove the files the mirror placed that the platform no longer lists. */
  delete: boolean;
  /** `allow_delete_all`, default false: with `delete`, also delete when the listing is empty. */
  allowDeleteAll: boolean;
  /** `max_delete`: the most files one pass may delete; above it the pass deletes none. */
  maxDelete: DeleteLimit;
  /** `protected_dirs`: normalised relative posix paths (`a/`, `./a`, `a` -> `a`), no duplicates. */
  protectedDirs: string[];
  /** `concurrency`: inline calls in flight (large files stream beside them), 1..64, default 4. */
  concurrency: number;
  /** `free_space_reserve_percent`: share of the disk kept free, 0..50, default 5. */
  freeSpaceReservePercent: number;
  /**
   * `manifest`, default true: after each complete pass, rewrite `.data-mirror/manifest.jsonl` in
   * the mirror, one JSON line per mirrored file with its metadata (tags, boxes, datasets).
   */
  manifest: boolean;
  /** Uploading a local folder to the platform; present only when `push_path` is set. */
  push?: PushConfig;
  /**
   * Set when `push_path` is and no `tags`, `labels` or `dataset_id` is: the resource only pushes.
   * A robot that sends its captures should not download every file the key can read (and get its
   * own uploads back) because it has nothing to mirror.
   */
  pushOnly?: true;
}

/** The push side (`push_*` attributes): files placed in a folder are uploaded to the platform. */
export interface PushConfig {
  /** `push_path` as given: relative to the Viam home, same rules as `mirror_path`. */
  pushPath: string;
  /** The absolute push directory; neither it nor the mirror root lies inside the other. */
  pushRoot: string;
  /** `push_tags`: tags given to each uploaded file, duplicates removed. */
  tags: string[];
  /** `push_dataset_ids`: datasets each uploaded file is added to, duplicates removed. */
  datasetIds: string[];
  /** `push_keep`, default false: keep a file after its upload instead of removing it. */
  keep: boolean;
  /** `push_min_age`, default 10: seconds a file must be unchanged before it is uploaded. */
  minAgeSeconds: number;
}

/**
 * How many files one pass may delete: the larger of `files` and `percent` % of the mirror's files
 * (rounded down). `max_delete: 500` is `{ files: 500, percent: 0 }`, `max_delete: "25%"` is
 * `{ files: 0, percent: 25 }`; `"100%"` never holds a deletion back.
 */
export interface DeleteLimit {
  /** A number of files. */
  files: number;
  /** A share of the files the mirror holds (those it could delete), 0 to 100. */
  percent: number;
}

/**
 * The default `max_delete`: half of the mirror's files, but always at least 10. Half catches a
 * narrowed filter or a listing that lost most of the set; 10 lets a small mirror follow ordinary
 * churn (2 of 3 files removed on the platform is not an accident worth holding back).
 */
export const DEFAULT_MAX_DELETE: Readonly<DeleteLimit> = Object.freeze({ files: 10, percent: 50 });

/** One problem with the configuration. */
export interface ConfigIssue {
  /** The attribute (or environment variable) at fault, such as `sync_frequency` or `VIAM_HOME`. */
  field: string;
  /** What is wrong and what was expected, naming the field. */
  message: string;
}

/** A configuration that cannot be used; the message lists every issue. */
export class ConfigError extends Error {
  /** Every problem found, in attribute order. */
  readonly issues: ConfigIssue[];

  /** Builds the error from at least one issue. */
  constructor(issues: ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((issue) => issue.message).join("; ")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A valid configuration and what the user should be told about it. */
export interface ParsedConfig {
  /** The configuration with defaults applied. */
  config: MirrorConfig;
  /** Things that work but are probably not what was meant (unknown attributes, no filter...). */
  warnings: string[];
}

/** Where {@linkcode parseConfig} reads the environment from. */
export interface ParseConfigOptions {
  /** Reads one environment variable (`VIAM_HOME`, `HOME`). */
  env: (name: string) => string | undefined;
  /**
   * Takes the values the original module took for "unset" as unset, with a warning each: `""` for
   * `mirror_path` and `dataset_id`, and a `sync_frequency` of 0 or less (60). For a module's
   * config, which may be one written for the original (it would not start otherwise); a flag's
   * empty value stays an error.
   */
  unsetAsOriginal?: boolean;
}

/**
 * `attributes` without the values the original module (Go and Python alike) took for unset: `""`
 * for `mirror_path` and `dataset_id`, a `sync_frequency` of 0 or less. Each one dropped is told in
 * `warnings`, with what is used instead.
 */
function _unsetAsOriginal(
  attributes: Record<string, unknown>,
  warnings: string[],
): Record<string, unknown> {
  const unset: [string, string][] = [];
  // `""` alone: the original took `" "` for a folder or an id (of nothing), not for unset.
  if (attributes.mirror_path === "") {
    unset.push(["mirror_path", `the default, ${_DEFAULT_MIRROR_PATH}`]);
  }
  if (attributes.dataset_id === "") {
    unset.push(["dataset_id", "no dataset filter"]);
  }
  const frequency = attributes.sync_frequency;
  if (typeof frequency === "number" && frequency <= 0) {
    unset.push(["sync_frequency", `the default, ${_DEFAULT_SYNC_FREQUENCY} seconds`]);
  }
  if (unset.length === 0) return attributes;
  const kept = { ...attributes };
  for (const [field, instead] of unset) {
    warnings.push(
      `${field} ${JSON.stringify(attributes[field])} is taken as unset, as the original module ` +
        `took it: ${instead} (leave ${field} out to say so)`,
    );
    delete kept[field];
  }
  return kept;
}

/** Every attribute the mirror knows; {@linkcode parseConfig} names any other with the closest. */
export const CONFIG_ATTRIBUTES: readonly string[] = Object.freeze([
  "app_api_key",
  "app_api_key_id",
  "app_url",
  "sync_frequency",
  "tags",
  "labels",
  "dataset_id",
  "mime_types",
  "start",
  "end",
  "max_age",
  "mirror_path",
  "delete",
  "allow_delete_all",
  "max_delete",
  "protected_dirs",
  "concurrency",
  "free_space_reserve_percent",
  "bandwidth_limit",
  "manifest",
  "push_path",
  "push_tags",
  "push_dataset_ids",
  "push_keep",
  "push_min_age",
]);

const _DEFAULT_APP_URL = "https://app.viam.com";
const _DEFAULT_SYNC_FREQUENCY = 60;
const _DEFAULT_MIRROR_PATH = "data_mirror";
// Measured (2026-12-05, alternated pairs at 20 ms a request): 4 downloads in flight instead of 8
// took the 10,020-file fresh copy from 115.8-120.3 MB to 110.0-114.2 and the 100,000-item one from
// 158.1-162.4 to 153.4-159.0 in the same time within the swing (2.34 s against 2.28, 16.9 against
// 16.1); 2 took it to 107-110 MB but 3.3 s.
const _DEFAULT_CONCURRENCY = 4;
const _DEFAULT_FREE_SPACE_RESERVE = 5;
const _MAX_CONCURRENCY = 64;
const _MAX_FREE_SPACE_RESERVE = 50;
const _DEFAULT_PUSH_MIN_AGE = 10;
/** Seconds per unit of a duration (`max_age`). */
const _DURATION_UNITS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
};
/** Multipliers of a byte rate's suffix (binary, as rclone's `--bwlimit`). */
const _RATE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};
// Each pass lists every matching item and walks the mirror: below a second between passes the loop
// would spend its time re-listing and hammer the API (1e-300 ran passes back to back).
const _MIN_SYNC_FREQUENCY = 1;
// Timers hold at most 2^31 - 1 ms; a longer delay fires at once and would turn the loop into a spin.
const _MAX_SYNC_FREQUENCY = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Validates the attributes and applies the defaults.
 *
 * @throws {ConfigError} listing every problem found.
 *
 * @example
 * ```ts
 * const { config, warnings } = parseConfig(
 *   { app_api_key: "k", app_api_key_id: "id", tags: ["face"] },
 *   { env: (name) => Deno.env.get(name) },
 * );
 * ```
 */
export function parseConfig(
  given: Record<string, unknown>,
  options: ParseConfigOptions,
): ParsedConfig {
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const attributes = options.unsetAsOriginal ? _unsetAsOriginal(given, warnings) : given;
  const read = new _Reader(attributes, issues);

  const apiKey = read.secret("app_api_key", "the API key with access to Viam data management");
  const apiKeyId = read.secret("app_api_key_id", "the id of that API key");
  const appUrl = read.appUrl("app_url");
  if (
    attributes.app_url !== undefined &&
    (_holdsSecret(appUrl, [apiKey, apiKeyId]) || _hostHoldsKey(appUrl, apiKey))
  ) {
    // Errors name the URL (an HTTP 404 from a wrong path), and with it the key: in logs, the
    // status file and `--json` answers. Refused without quoting either.
    issues.push({
      field: "app_url",
      message: "app_url must not contain the API key or its id (they are sent as headers)",
    });
  }
  const syncFrequencySeconds = read.number("sync_frequency", {
    fallback: _DEFAULT_SYNC_FREQUENCY,
    valid: (n) => n >= _MIN_SYNC_FREQUENCY && n <= _MAX_SYNC_FREQUENCY,
    expected: `a number of seconds from ${_MIN_SYNC_FREQUENCY} to ${_MAX_SYNC_FREQUENCY}`,
    hint: (n) =>
      n <= 0
        ? `the original module read ${n} as 60: write 60 for a pass a minute`
        : n < _MIN_SYNC_FREQUENCY
        ? "the original module ran a pass that often, each one listing the whole set again: " +
          "write 1 or more (60 for a pass a minute)"
        : undefined,
  });
  const tags = read.stringList("tags", { trim: false });
  const labels = read.stringList("labels", { trim: false });
  const datasetId = read.datasetId("dataset_id");
  const mimeTypes = read.mimeTypes("mime_types");
  const start = read.time("start");
  const end = read.time("end");
  const maxAgeSeconds = read.duration("max_age");
  const mirrorPath = read.string("mirror_path", _DEFAULT_MIRROR_PATH);
  const deleteEnabled = read.boolean("delete");
  const allowDeleteAll = read.boolean("allow_delete_all");
  const maxDelete = read.deleteLimit("max_delete");
  const protectedDirs = read.protectedDirs("protected_dirs");
  const concurrency = read.number("concurrency", {
    fallback: _DEFAULT_CONCURRENCY,
    valid: (n) => Number.isInteger(n) && n >= 1 && n <= _MAX_CONCURRENCY,
    expected: `a whole number from 1 to ${_MAX_CONCURRENCY}`,
  });
  const freeSpaceReservePercent = read.number("free_space_reserve_percent", {
    fallback: _DEFAULT_FREE_SPACE_RESERVE,
    valid: (n) => n >= 0 && n <= _MAX_FREE_SPACE_RESERVE,
    expected: `a number from 0 to ${_MAX_FREE_SPACE_RESERVE}`,
  });
  const bandwidthLimit = read.byteRate("bandwidth_limit");
  if (bandwidthLimit > 0 && bandwidthLimit < _LOW_BANDWIDTH_LIMIT) {
    // Bytes, not megabytes: a pass at this pace takes hours and says nothing meanwhile.
    warnings.push(
      `bandwidth_limit ${bandwidthLimit} is ${bandwidthLimit} bytes a second: a listing page ` +
        `alone takes minutes at that pace (for ${bandwidthLimit} MiB a second write ` +
        `"${bandwidthLimit}M")`,
    );
  }
  const manifest = read.boolean("manifest", true);
  const pushPath = read.optionalString("push_path");
  const pushTags = read.stringList("push_tags", { trim: false });
  const pushDatasetIds = read.stringList("push_dataset_ids");
  const pushKeep = read.boolean("push_keep");
  const pushMinAgeSeconds = read.number("push_min_age", {
    fallback: _DEFAULT_PUSH_MIN_AGE,
    valid: (n) => n >= 0 && n <= _MAX_SYNC_FREQUENCY,
    expected: `a number of seconds from 0 to ${_MAX_SYNC_FREQUENCY}`,
  });

  if (deleteEnabled) _protectedDirsFromHome(attributes.protected_dirs, mirrorPath, issues);
  if (start !== undefined && end !== undefined && start >= end) {
    issues.push({
      field: "end",
      message:
        `end must be after start, got start ${start.toISOString()} and end ${end.toISOString()}`,
    });
  }
  const viamHome = _viamHome(options.env, issues);
  const mirrorRoot = _directoryRoot("mirror_path", mirrorPath, viamHome, issues);
  const pushRoot = pushPath === undefined
    ? undefined
    : _directoryRoot("push_path", pushPath, viamHome, issues);
  // Without a filter the resource only pushes (`pushOnly` below): it has no mirror to overlap.
  const filtered = tags.length > 0 || labels.length > 0 || datasetId !== undefined;
  if (mirrorRoot !== undefined && pushRoot !== undefined && filtered) {
    const problem = _rootsOverlap(mirrorRoot, pushRoot);
    if (problem !== undefined) issues.push({ field: "push_path", message: problem });
  }
  for (
    const [field, path, root] of [
      ["mirror_path", mirrorPath, mirrorRoot],
      ["push_path", pushPath, pushRoot],
    ] as const
  ) {
    // `.viam/faces` reads as ~/.viam/faces to its writer, and names ~/.viam/.viam/faces.
    if (
      root !== undefined && path?.split("/").find((part) => part !== "" && part !== ".") === ".viam"
    ) {
      warnings.push(
        `${field} ${_describe(path)} is relative to the Viam home already: it names ${root}`,
      );
    }
  }

  const deletes = deleteEnabled
    ? "with delete on"
    : pushPath !== undefined && !pushKeep
    ? "with push_path set and push_keep off (each file is deleted once uploaded)"
    : undefined;
  const unknown = _unknownAttributes(Object.keys(attributes), {
    noFilter: !filtered,
    deletes,
    pushes: pushPath !== undefined,
  });
  issues.push(...unknown.issues);
  warnings.push(...unknown.warnings);
  // Kept as written: the platform compares tags exactly, and items tagged "fleet " (by a push of
  // an earlier version, or any uploader) would leave a trimmed filter's listing, and be deleted.
  for (
    const [field, list] of [["tags", tags], ["labels", labels], ["push_tags", pushTags]] as const
  ) {
    const spaced = list.filter((entry) => entry !== entry.trim());
    if (spaced.length > 0) {
      warnings.push(
        `${field} ${spaced.map((entry) => JSON.stringify(entry)).join(", ")} begins or ends ` +
          "with white space: matched exactly as written (remove it if that is not meant)",
      );
    }
  }
  const pushOnly = !filtered && pushPath !== undefined;
  const port = URL.parse(appUrl)?.port ?? "";
  if (_FETCH_BAD_PORTS.has(Number(port))) {
    // Listings and downloads go through fetch; uploads through HTTP/2, which has no such list.
    const refused = `app_url port ${port} is one fetch refuses to connect to (the Fetch ` +
      "standard's bad ports, e.g. 6000, 6667, 5060)";
    if (pushOnly) {
      warnings.push(
        `${refused}: uploads go, but a push cut off by a kill cannot be checked against the ` +
          "platform's listing; use another port",
      );
    } else {
      issues.push({
        field: "app_url",
        message: `${refused}: every pass would fail; use another port`,
      });
    }
  }
  const narrowed = mimeTypes.length > 0 || start !== undefined || end !== undefined ||
    maxAgeSeconds !== undefined;
  const everything = `every binary file the API key can read${
    narrowed ? " (of the mime_types and times given)" : ""
  }`;
  // Written as an empty list, a filter a template left empty: the CLI refuses `--tags ""` alike.
  // Or as null, as a field cleared in the app may come (a Struct's null): no less a filter emptied.
  const emptied = !filtered && !pushOnly
    ? ["tags", "labels", "dataset_id"].filter((field) =>
      attributes[field] === null ||
      (Array.isArray(attributes[field]) && (attributes[field] as unknown[]).length === 0)
    )
    : [];
  for (const field of emptied) {
    const written = attributes[field] === null ? "null" : "an empty list";
    issues.push({
      field,
      message: `${field} is ${written}, and no tags, labels or dataset_id filter is given: it ` +
        `would mirror ${everything}; give at least one, or leave ${field} out to mirror everything`,
    });
  }
  if (!filtered && !unknown.widensFilter && !pushOnly && emptied.length === 0) {
    warnings.push(`no tags, labels or dataset_id: ${everything} will be mirrored`);
  }
  if (allowDeleteAll && !deleteEnabled) {
    warnings.push("allow_delete_all has no effect without delete: true");
  }
  if (_isSet(attributes, "max_delete") && !deleteEnabled) {
    warnings.push("max_delete has no effect without delete: true");
  }
  if (pushPath !== undefined && pushTags.length === 0 && pushDatasetIds.length === 0) {
    // Sent so, a file reaches no machine that mirrors by tag, and without push_keep it is gone here.
    warnings.push(
      "push_path is set without push_tags or push_dataset_ids: its " +
        "uploads carry no tag and join no dataset, so no machine mirroring a tag receives them" +
        (tags.length > 0 ? " (tags is what this machine mirrors, not what it pushes with)" : ""),
    );
  }
  if (pushPath === undefined) {
    const unused = ["push_tags", "push_dataset_ids", "push_keep", "push_min_age"]
      .filter((name) => _isSet(attributes, name));
    if (unused.length > 0) warnings.push(`${unused.join(", ")}: no effect without push_path`);
  }

  if (issues.length > 0) {
    throw new ConfigError(
      // Messages never quote app_api_key, but a key pasted into another attribute (or used as
      // an attribute name) would be quoted there.
      issues.map((issue) => ({ ...issue, message: _redactKey(issue.message, apiKeyId, apiKey) })),
    );
  }
  return {
    config: {
      apiKeyId,
      apiKey,
      appUrl,
      syncFrequencySeconds,
      tags,
      labels,
      ...(datasetId === undefined ? {} : { datasetId }),
      mimeTypes,
      ...(start === undefined ? {} : { start }),
      ...(end === undefined ? {} : { end }),
      ...(maxAgeSeconds === undefined ? {} : { maxAgeSeconds }),
      bandwidthLimit,
      viamHome: viamHome!,
      mirrorPath,
      mirrorRoot: mirrorRoot!,
      delete: deleteEnabled,
      allowDeleteAll,
      maxDelete,
      protectedDirs,
      concurrency,
      freeSpaceReservePercent,
      manifest,
      ...(pushOnly ? { pushOnly } : {}),
      ...(pushPath === undefined ? {} : {
        push: {
          pushPath,
          pushRoot: pushRoot!,
          tags: pushTags,
          datasetIds: pushDatasetIds,
          keep: pushKeep,
          minAgeSeconds: pushMinAgeSeconds,
        },
      }),
    },
    warnings: warnings.map((warning) => _redactKey(warning, apiKeyId, apiKey)),
  };
}

/** True when the attribute is present and not null. */
function _isSet(attributes: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(attributes, name) && attributes[name] !== null &&
    attributes[name] !== undefined;
}

/**
 * The ports fetch refuses to connect to (https://fetch.spec.whatwg.org/#bad-port; Deno 2.9 blocks
 * exactly these): an `app_url` on one fails every listing and download, as a transient error.
 */
const _FETCH_BAD_PORTS: ReadonlySet<number> = new Set(
  (
    "1 7 9 11 13 15 17 19 20 21 22 23 25 37 42 43 53 69 77 79 87 95 101 102 103 104 109 110 111 " +
    "113 115 117 119 123 135 137 139 143 161 179 389 427 465 512 513 514 515 526 530 531 532 " +
    "540 548 554 556 563 587 601 636 989 990 993 995 1719 1720 1723 2049 3659 4045 4190 5060 " +
    "5061 6000 6566 6665 6666 6667 6668 6669 6679 6697 10080"
  ).split(" ").map(Number),
);

/**
 * Refuses a config with a push folder where no machine part is known (`VIAM_MACHINE_PART_ID`,
 * which viam-server sets for a machine connected to the cloud): every upload needs it. The module
 * checks it at validation, so that such a resource is refused by name rather than failing its push
 * on every pass behind a status that shows no error.
 */
export function assertPushPartId(config: MirrorConfig, partId: string | undefined): void {
  if (config.push === undefined || partId?.trim()) return;
  throw new ConfigError([{
    field: "push_path",
    message: "push_path is set but VIAM_MACHINE_PART_ID is not: the uploads need the machine " +
      "part they belong to (viam-server sets it for a machine connected to the cloud)",
  }]);
}

/**
 * Refuses, while `delete` is on, a `protected_dirs` entry written from the Viam home as
 * `mirror_path` is (`data_mirror/models`, `.viam/data_mirror/models`): it names a folder inside the
 * mirror's own name, which protects nothing, and the files of `models` would go in the same pass
 * (as with `~/.viam/data_mirror/models`, refused above). Written with `./`, it means a folder of
 * that very name in the mirror (`captures/cam1` of a mirror `captures` holding items uploaded from
 * `C:\captures\cam1`). `written` is the attribute as given; what is not a list of strings is refused
 * elsewhere.
 */
function _protectedDirsFromHome(written: unknown, mirrorPath: string, issues: ConfigIssue[]): void {
  const mirror = splitRelativePath(mirrorPath);
  if (!mirror.ok || mirror.components.length === 0 || !Array.isArray(written)) return;
  for (const entry of new Set(written)) {
    if (typeof entry !== "string" || entry.startsWith("./")) continue;
    const split = splitRelativePath(entry);
    if (!split.ok) continue;
    const dir = split.components.join("/");
    for (const prefix of [mirror.components, [".viam", ...mirror.components]]) {
      const head = `${prefix.join("/")}/`;
      if (!dir.startsWith(head)) continue;
      const inside = dir.slice(head.length);
      issues.push({
        field: "protected_dirs",
        message:
          `protected_dirs "${dir}" starts with the mirror's own path "${prefix.join("/")}": ` +
          `protected_dirs are relative to the mirror (write "${inside}" for <mirror>/${inside}, ` +
          `"./${dir}" for a folder of that very name in the mirror); ` +
          "with delete, the files it was written to keep would be deleted",
      });
    }
  }
}

/**
 * Whether the path of `url` holds one of `secrets` (of a credential's length), as written or
 * percent-encoded. (Credentials and a query are refused on their own; a host that holds a key id
 * is a coincidence: `127.0.0` is a valid id.)
 */
function _holdsSecret(url: string, secrets: readonly string[]): boolean {
  const path = URL.parse(url)?.pathname ?? url;
  const decoded = _decodedOrAsIs(path);
  return secrets.some((secret) =>
    secret.length >= MIN_SECRET_LENGTH && (path.includes(secret) || decoded.includes(secret))
  );
}

/**
 * Whether the URL's host holds the API key (not its id: a short id may be part of a host by
 * chance). A host is lower-cased when parsed, so the key is compared without case: found there, it
 * would go out in a DNS query and be printed case-folded, past the redaction of the key as written.
 */
function _hostHoldsKey(url: string, apiKey: string): boolean {
  const host = URL.parse(url)?.hostname ?? "";
  return apiKey.length >= MIN_SECRET_LENGTH && host.includes(apiKey.toLowerCase());
}

function _decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The message with the API key, and its id, replaced by the attributes' names. The id grants
 * nothing alone, but it is half of the pair, and no message needs to quote it: pasted into another
 * attribute, it would be.
 */
function _redactKey(message: string, apiKeyId: string, apiKey: string): string {
  return scrubSecrets(
    scrubSecrets(message, [apiKey], "<app_api_key>"),
    [apiKeyId],
    "<app_api_key_id>",
  );
}

/** Reads typed attributes, recording an issue (and returning a placeholder) for each bad one. */
class _Reader {
  #attributes: Record<string, unknown>;
  #issues: ConfigIssue[];

  constructor(attributes: Record<string, unknown>, issues: ConfigIssue[]) {
    this.#attributes = attributes;
    this.#issues = issues;
  }

  /** The value, or undefined when absent or null. */
  #get(field: string): unknown {
    return Object.hasOwn(this.#attributes, field)
      ? this.#attributes[field] ?? undefined
      : undefined;
  }

  #issue(field: string, message: string): void {
    this.#issues.push({ field, message });
  }

  /** A required non-empty string whose value never appears in a message. */
  secret(field: string, what: string): string {
    const value = this.#get(field);
    if (value === undefined) {
      this.#issue(
        field,
        `${field} is required: a non-empty string, ${what}` +
          _likelyTypoOf(field, Object.keys(this.#attributes)),
      );
      return "";
    }
    if (typeof value !== "string" || value.trim() === "") {
      this.#issue(field, `${field} must be a non-empty string, got ${_kind(value)}`);
      return "";
    }
    return value.trim();
  }

  /** A string when set, else undefined. */
  optionalString(field: string): string | undefined {
    const value = this.#get(field);
    if (value === undefined) return undefined;
    if (typeof value === "string") return value;
    this.#issue(field, `${field} must be a string, got ${_describe(value)}`);
    return undefined;
  }

  /** MIME types such as `image/jpeg`, duplicates removed. */
  mimeTypes(field: string): string[] {
    const types = this.stringList(field);
    const bad = types.findIndex((type) => !/^[\w.+-]+\/[\w.+-]+$/.test(type));
    if (bad >= 0) {
      this.#issue(
        field,
        `${field}[${bad}] must be a MIME type such as "image/jpeg", got ${_describe(types[bad])}`,
      );
      return [];
    }
    return [...new Set(types)];
  }

  /** An ISO 8601 date (`2024-05-01`, UTC) or date and time with a zone (`...T08:00:00Z`). */
  time(field: string): Date | undefined {
    const value = this.#get(field);
    if (value === undefined) return undefined;
    const expected = `${field} must be an ISO 8601 date ("2024-05-01", UTC) or date and time ` +
      `with a zone ("2024-05-01T08:00:00Z", "2024-05-01T10:00:00+02:00")`;
    const iso =
      /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
    const time = typeof value === "string" && iso.test(value.trim()) && _onCalendar(value.trim())
      ? new Date(value.trim())
      : undefined;
    if (time === undefined || Number.isNaN(time.getTime())) {
      const noZone = typeof value === "string" && /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(value.trim());
      this.#issue(
        field,
        `${expected}, got ${_describe(value)}${noZone ? " (add Z for UTC, or an offset)" : ""}`,
      );
      return undefined;
    }
    return time;
  }

  /** A duration: seconds as a number, or a number and a unit (`90s`, `30m`, `12h`, `7d`, `2w`). */
  duration(field: string): number | undefined {
    const value = this.#get(field);
    if (value === undefined) return undefined;
    let seconds: number | undefined;
    if (typeof value === "number" && Number.isFinite(value)) seconds = value;
    const match = typeof value === "string"
      ? /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(value)
      : null;
    if (match !== null) seconds = Number(match[1]) * _DURATION_UNITS[match[2].toLowerCase()];
    if (seconds === undefined || !(seconds > 0) || !Number.isFinite(seconds)) {
      this.#issue(
        field,
        `${field} must be a duration greater than 0: a number of seconds, or a number and a ` +
          `unit (s, m, h, d, w) such as "7d" or "12h", got ${_describe(value)}`,
      );
      return undefined;
    }
    return seconds;
  }

  /** Bytes per second: a number, or a string with a k, M or G suffix (binary); 0 is no limit. */
  byteRate(field: string): number {
    const value = this.#get(field);
    if (value === undefined) return 0;
    let rate: number | undefined;
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) rate = value;
    const match = typeof value === "string"
      ? /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$/i.exec(value)
      : null;
    if (match !== null) rate = Number(match[1]) * _RATE_UNITS[match[2].toLowerCase()];
    // Under one byte a second would floor to 0, which means no limit at all.
    if (rate === undefined || !Number.isSafeInteger(Math.floor(rate)) || (rate > 0 && rate < 1)) {
      this.#issue(
        field,
        `${field} must be bytes per second: a number, or a number with k, M or G (1024-based) ` +
          `such as "512k" or "2M"; 0 for no limit, got ${_describe(value)}`,
      );
      return 0;
    }
    return Math.floor(rate);
  }

  string(field: string, fallback: string): string {
    const value = this.#get(field);
    if (value === undefined) return fallback;
    if (typeof value === "string") return value;
    this.#issue(field, `${field} must be a string, got ${_describe(value)}`);
    return fallback;
  }

  /** `true` or `false`; `fallback` (default false) when not set. */
  boolean(field: string, fallback = false): boolean {
    const value = this.#get(field);
    if (value === undefined) return fallback;
    if (typeof value === "boolean") return value;
    this.#issue(field, `${field} must be true or false, got ${_describe(value)}`);
    return fallback;
  }

  number(
    field: string,
    rule: {
      fallback: number;
      valid: (n: number) => boolean;
      expected: string;
      /** What to write instead of a number that is refused, when there is more to say. */
      hint?: (n: number) => string | undefined;
    },
  ): number {
    const value = this.#get(field);
    if (value === undefined) return rule.fallback;
    if (typeof value === "number" && Number.isFinite(value) && rule.valid(value)) return value;
    const hint = typeof value === "number" ? rule.hint?.(value) : undefined;
    this.#issue(
      field,
      `${field} must be ${rule.expected}, got ${_describe(value)}${hint ? ` (${hint})` : ""}`,
    );
    return rule.fallback;
  }

  /** A whole number of files (`500`) or a percentage of the mirror's files (`"25%"`). */
  deleteLimit(field: string): DeleteLimit {
    const value = this.#get(field);
    if (value === undefined) return { ...DEFAULT_MAX_DELETE };
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
      return { files: value, percent: 0 };
    }
    const percent = typeof value === "string" ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null;
    if (percent !== null && Number(percent[1]) <= 100) {
      return { files: 0, percent: Number(percent[1]) };
    }
    this.#issue(
      field,
      `${field} must be a whole number of files (such as 500) or a percentage of the mirror's ` +
        `files from "0%" to "100%", got ${_describe(value)}`,
    );
    return { ...DEFAULT_MAX_DELETE };
  }

  /**
   * A list of non-empty strings, each trimmed as the CLI's list flags trim theirs (`--tags "a "`)
   * unless `trim` is false (kept as written), duplicates removed (first occurrence kept).
   */
  stringList(field: string, options: { trim?: boolean } = {}): string[] {
    const value = this.#get(field);
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.#issue(field, `${field} must be a list of non-empty strings, got ${_describe(value)}`);
      return [];
    }
    const bad = value.findIndex((entry) => typeof entry !== "string" || entry.trim() === "");
    if (bad >= 0) {
      this.#issue(
        field,
        `${field}[${bad}] must be a non-empty string, got ${_describe(value[bad])}`,
      );
      return [];
    }
    const trim = options.trim ?? true;
    return [...new Set((value as string[]).map((entry) => trim ? entry.trim() : entry))];
  }

  datasetId(field: string): string | undefined {
    const value = this.#get(field);
    if (value === undefined) return undefined;
    if (typeof value === "string" && value.trim() !== "") return value.trim();
    this.#issue(
      field,
      `${field} must be a non-empty string (leave it out for no dataset filter), got ${
        _describe(value)
      }`,
    );
    return undefined;
  }

  appUrl(field: string): string {
    const value = this.#get(field);
    if (value === undefined) return _DEFAULT_APP_URL;
    const expected = `${field} must be an http:// or https:// URL such as ${_DEFAULT_APP_URL}`;
    if (typeof value !== "string") {
      this.#issue(field, `${expected}, got ${_describe(value)}`);
      return _DEFAULT_APP_URL;
    }
    const url = URL.parse(value);
    if (url === null || (url.protocol !== "https:" && url.protocol !== "http:")) {
      this.#issue(field, `${expected}, got ${_describe(value)}`);
      return _DEFAULT_APP_URL;
    }
    // The value is not echoed here: it holds credentials.
    if (url.username !== "" || url.password !== "") {
      this.#issue(field, `${field} must not contain credentials (user:password@)`);
      return _DEFAULT_APP_URL;
    }
    if (url.search !== "" || url.hash !== "") {
      this.#issue(field, `${expected} without ?query or #fragment, got ${_describe(value)}`);
      return _DEFAULT_APP_URL;
    }
    // The sign-in carries the API key, and downloads its id and key: in the clear only on loopback
    // (the local data platform, a tunnel's local end). As a destination, the unspecified address
    // (0.0.0.0, ::) is this machine too.
    const local = isLoopbackHost(url.hostname) || ["0.0.0.0", "[::]"].includes(url.hostname);
    if (url.protocol === "http:" && !local) {
      this.#issue(
        field,
        `${field} may use http:// only for a loopback host (127.0.0.1, localhost, ::1): the API ` +
          `key would cross the network in the clear; use https://, got ${_describe(value)}`,
      );
      return _DEFAULT_APP_URL;
    }
    return url.href.replace(/\/+$/, "");
  }

  /** Normalised, deduplicated relative paths; an unsafe entry is an issue naming it. */
  protectedDirs(field: string): string[] {
    const value = this.#get(field);
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.#issue(field, `${field} must be a list of directory paths, got ${_describe(value)}`);
      return [];
    }
    const dirs: string[] = [];
    value.forEach((entry, index) => {
      const label = `${field}[${index}]`;
      if (typeof entry !== "string") {
        this.#issue(field, `${label} must be a relative directory path, got ${_describe(entry)}`);
        return;
      }
      const split = splitRelativePath(entry);
      if (!split.ok) {
        this.#issue(
          field,
          `${label} ${_describe(entry)} ${split.reason}: expected a directory inside the mirror`,
        );
      } else if (
        split.components[0] === "~" || /^\$(\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)(\/|$)/.test(entry)
      ) {
        // Not expanded (as in mirror_path): `~/.viam/data_mirror/models` or
        // `$HOME/.viam/data_mirror/models` would protect a folder named `~` or `$HOME`, and with
        // `delete` the files of `models` would go in the same pass.
        this.#issue(
          field,
          `${label} ${_describe(entry)} starts with ${entry[0]}, which is not expanded here: ` +
            `protected_dirs are relative to the mirror (write "models" for <mirror>/models` +
            (entry[0] === "$" ? `, "./${entry}" for a folder of that very name)` : ")"),
        );
      } else if (_GLOB.test(entry)) {
        // A pattern protects nothing (no folder has that name), and with `delete` the files it was
        // written to keep would go in the same pass: refused, as the other typos under delete are.
        this.#issue(
          field,
          `${label} ${_describe(entry)} is a pattern: protected_dirs takes folder paths such as ` +
            `"models" or "cams/front" (a folder protects everything below it); * ? [ ] { } are ` +
            `not expanded`,
        );
      } else if (split.components.some((name) => name !== name.trim())) {
        this.#issue(
          field,
          `${label} ${_describe(entry)} has a folder name that begins or ends with white space: ` +
            `write the folders' names exactly (a folder protects everything below it)`,
        );
      } else if (split.components.length === 0) {
        this.#issue(
          field,
          `${label} ${
            _describe(entry)
          } names the mirror root itself: expected a directory inside it`,
        );
      } else {
        dirs.push(split.components.join("/"));
      }
    });
    return [...new Set(dirs)];
  }
}

/** The characters of a shell or glob pattern, which a `protected_dirs` entry may not hold. */
const _GLOB = /[*?[\]{}]/;

/**
 * Whether the date and time of an ISO 8601 text (already of the right shape) exist: `Date` rolls
 * `2024-02-30` over to March 1st and `T24:00` to the next day instead of refusing them.
 */
function _onCalendar(text: string): boolean {
  const [
    ,
    year,
    month,
    day,
    hour = "0",
    minute = "0",
    second = "0",
    zoneHour = "0",
    zoneMinute = "0",
  ] = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?[^Z+-]*(?:Z|[+-](\d{2}):(\d{2})))?$/
    .exec(text) ?? [];
  if (year === undefined) return false;
  const y = Number(year), m = Number(month);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  return days !== undefined && Number(day) >= 1 && Number(day) <= days && Number(hour) <= 23 &&
    Number(minute) <= 59 && Number(second) <= 59 && Number(zoneHour) <= 23 &&
    Number(zoneMinute) <= 59;
}

/** `$VIAM_HOME`, else `$HOME/.viam`, absolute and normalised; undefined (with an issue) if neither. */
function _viamHome(env: ParseConfigOptions["env"], issues: ConfigIssue[]): string | undefined {
  const viamHome = env("VIAM_HOME");
  const home = env("HOME");
  const [field, base, suffix] = viamHome ? ["VIAM_HOME", viamHome, ""] : ["HOME", home, ".viam"];
  if (!base) {
    issues.push({
      field: "VIAM_HOME",
      message: "neither VIAM_HOME nor HOME is set: cannot locate the Viam home that " +
        "mirror_path is relative to",
    });
    return undefined;
  }
  if (!posix.isAbsolute(base)) {
    issues.push({ field, message: `${field} must be an absolute path, got ${_describe(base)}` });
    return undefined;
  }
  // A launcher's environment file keeps a quoted value's spaces (`VIAM_HOME="/srv/viam "`): the
  // mirror would go to a twin of the Viam home on whatever disk holds its parent, not to the one
  // the operator named (and a unit waits to be mounted). Only the last name is held to that: a
  // folder above it may well end in a space (a stick labelled `DATA ` mounts as `/media/DATA `).
  const last = base.replace(/\/+$/, "").split("/").at(-1) ?? "";
  if (last !== last.trim()) {
    issues.push({
      field,
      message: `${field} ${_describe(base)} ends in a folder name that starts or ends with white ` +
        "space (a quoted value, or a space or carriage return after it, in an environment file?)",
    });
    return undefined;
  }
  return posix.join(base, suffix).replace(/(.)\/+$/, "$1");
}

/**
 * The absolute directory of `mirror_path` or `push_path` (`field`), or undefined (with an issue)
 * when the value is unusable.
 */
function _directoryRoot(
  field: string,
  path: string,
  viamHome: string | undefined,
  issues: ConfigIssue[],
): string | undefined {
  const home = viamHome ?? "the Viam home";
  const problem = (message: string): undefined => {
    issues.push({ field, message: `${field} ${_describe(path)} ${message}` });
    return undefined;
  };
  if (path.startsWith("/")) {
    // A path already inside the Viam home (`/home/pi/.viam/faces`) is meant as that folder.
    const inside = viamHome === undefined
      ? undefined
      : posix.relative(viamHome, posix.normalize(path));
    const meant = inside !== undefined && inside !== "" && !inside.startsWith("..")
      ? inside
      : path.replace(/^\/+/, "");
    return problem(
      `is absolute: ${field} is relative to ${home} (write ${_describe(meant)} for ` +
        `${_describe(posix.join(home, meant))})`,
    );
  }
  if (path === "~" || path.startsWith("~/")) {
    const meant = path.replace(/^~\/*/, "").replace(/^\.viam(\/+|$)/, "");
    return problem(
      `starts with ~, which is not expanded here: ${field} is relative to ${home} (` +
        (meant === ""
          ? "write a folder's name"
          : `write ${_describe(meant)} for ${_describe(posix.join(home, meant))}`) +
        ")",
    );
  }
  if (/^\$(\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)(\/|$)/.test(path)) {
    // `$HOME/faces` (from a shell line or a unit file) would be a folder named `$HOME`.
    return problem(
      `starts with ${path.split("/")[0]}, which is not expanded here: ${field} is relative to ` +
        `${home} (write it without the variable, or "./${path}" for a folder of that very name)`,
    );
  }
  const split = splitRelativePath(path);
  if (!split.ok) return problem(`${split.reason}: expected a directory inside ${home}`);
  if (split.components.length === 0) {
    return problem(`names ${home} itself: expected a directory inside it`);
  }
  // A name starting or ending in a space is easily mistaken for another (and a FAT or exFAT disk
  // drops trailing ones): refused, as in protected_dirs.
  const spaced = split.components.find((part) => part.trim() !== part);
  if (spaced !== undefined) {
    return problem(
      `has a folder name that starts or ends with white space (${JSON.stringify(spaced)}): ` +
        "write it without",
    );
  }
  const owned = viamOwnedDir(split.components[0]);
  if (owned !== undefined) {
    // Named as viam-server names it; another spelling is the same folder on a case-insensitive
    // disk, or on one that drops trailing dots.
    const sameBut = split.components[0] === owned
      ? ""
      : ` (${split.components[0]} but for case or trailing dots)`;
    return problem(
      `lies in ${owned}${sameBut}, a directory viam-server manages in ${home}: ` +
        `choose another directory`,
    );
  }
  if (isStateDirPath(split.components.join("/"))) {
    return problem(
      `lies in a ${STATE_DIR_NAME} directory, where a mirror or a push folder keeps its lock, ` +
        `manifest and partial downloads: choose another directory`,
    );
  }
  return viamHome === undefined ? undefined : posix.join(viamHome, ...split.components);
}

/**
 * Why the mirror and the push folder may not be where they are, or undefined: they must not contain
 * each other, or the mirror would upload what it downloaded, or delete (with `delete`) what waits to
 * be pushed. Compared as a case-insensitive disk compares them (`foldCase`), on the paths as
 * written: no symlink may lie on the way to either folder (`checkConfigLocations`), so these are
 * where they are on disk.
 */
function _rootsOverlap(mirrorRoot: string, pushRoot: string): string | undefined {
  const [mirror, push] = [mirrorRoot, pushRoot].map((root) => `${foldCase(root)}/`);
  const message = mirror === push
    ? "is the mirror_path directory: the push folder must be apart from the mirror"
    : push.startsWith(mirror)
    ? "lies inside the mirror_path directory: the mirror would delete or re-download what waits " +
      "to be pushed"
    : mirror.startsWith(push)
    ? "contains the mirror_path directory: downloaded files would be uploaded again"
    : undefined;
  return message === undefined ? undefined : `push_path ${_describe(pushRoot)} ${message}`;
}

/** Unknown attributes named in a warning each; more are counted, not listed. */
const _MAX_UNKNOWN_LISTED = 10;
/** Longer names are not compared with the known ones (a typo is short; the comparison is not). */
const _MAX_TYPO_LENGTH = 64;

/**
 * What the unknown attribute names amount to: a warning each (bounded in number and length) naming
 * the closest known attribute, or an error where an unknown name is dangerous. A misspelt filter
 * (`tag`, `datasetId`) with no filter set would mirror every file the key can read. When the
 * program deletes files (`delete` on, or a push that deletes what it uploaded: `push_keep` off),
 * every unknown attribute is an error: `protected_dir`, `mirror_pth`, `mirror_dir` or `max_delet`
 * would delete files the attribute was written to keep (a protected folder, the files of another
 * folder, a limit), `push_kep` the pushed files, `push_tag` would push them untagged (no mirror
 * of the tag gets them) and then delete them; and a note is easily moved out of the attributes.
 * `context.deletes` says how the program deletes, for the message, or is undefined.
 */
function _unknownAttributes(
  names: string[],
  context: { noFilter: boolean; deletes: string | undefined; pushes: boolean },
): { issues: ConfigIssue[]; warnings: string[]; widensFilter: boolean } {
  const unknown = names.filter((name) => !CONFIG_ATTRIBUTES.includes(name));
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  let widensFilter = false;
  for (const name of unknown.slice(0, _MAX_UNKNOWN_LISTED)) {
    const managers = Object.hasOwn(_DATA_MANAGER_NAMES, name)
      ? _DATA_MANAGER_NAMES[name]
      : undefined;
    const near = managers?.name ??
      (name.length <= _MAX_TYPO_LENGTH ? _closestAttribute(name) : undefined);
    const named = `unknown attribute ${_describe(name)}`;
    const hint = managers !== undefined
      ? ` (the data manager's; here ${JSON.stringify(managers.name)}, ${managers.note})`
      : near === undefined
      ? ""
      : ` (did you mean ${JSON.stringify(near)}?)`;
    if (managers?.name === "push_path" && !context.pushes) {
      // A folder meant to be uploaded, and nothing is: a config that mirrors instead.
      issues.push({
        field: name,
        message: `${named}${hint}: nothing would be pushed` +
          (context.noFilter
            ? ", and the mirror would take every binary file the key can read"
            : "") +
          "; write push_path (and push_tags for the tags its uploads get)",
      });
      widensFilter ||= context.noFilter;
    } else if (near !== undefined && context.noFilter && _WIDENING_TYPOS.includes(near)) {
      // A misspelt push_path turns a push-only config into a mirror of everything, too.
      issues.push({
        field: name,
        message: `${named}${hint}: with no tags, labels or dataset_id the mirror would take ` +
          "every binary file the API key can read; fix the name",
      });
      widensFilter = true;
    } else if (context.deletes !== undefined) {
      issues.push({
        field: name,
        message: `${named}${hint}: ${context.deletes}, every attribute must be known (a ` +
          "misspelt one could delete files it was meant to keep); fix the name or remove it",
      });
    } else {
      warnings.push(`${named}${near === undefined ? " (ignored)" : hint}`);
    }
  }
  if (unknown.length > _MAX_UNKNOWN_LISTED) {
    const more = `${unknown.length - _MAX_UNKNOWN_LISTED} more unknown attribute(s)`;
    if (context.deletes !== undefined) {
      issues.push({
        field: "attributes",
        message: `${more}: ${context.deletes}, none may be unknown`,
      });
    } else warnings.push(`${more} (ignored)`);
  }
  return { issues, warnings, widensFilter };
}

/**
 * For a required attribute that is missing, the unknown attribute that is likely it misspelt
 * (`app_api_keys` for `app_api_key`), as a note to its issue: the refusal's cause, which the
 * warning naming the unknown attribute would not reach (a refused config prints its issues only).
 */
function _likelyTypoOf(field: string, names: string[]): string {
  const typo = names.find((name) =>
    !CONFIG_ATTRIBUTES.includes(name) && name.length <= _MAX_TYPO_LENGTH &&
    _closestAttribute(name) === field
  );
  return typo === undefined ? "" : ` (the config has ${_describe(typo)}: misspelt?)`;
}

/** A `bandwidth_limit` below this (bytes a second) is warned about: megabytes were likely meant. */
const _LOW_BANDWIDTH_LIMIT = 1024;

/** The attributes that narrow the listing. */
const _FILTER_ATTRIBUTES = ["tags", "labels", "dataset_id"];

/**
 * The data manager's attributes (seed 002's example) an operator may bring to this module's
 * config, and this module's for them: `additional_sync_paths` with no filter set made a mirror of
 * every file the key can read, with a warning only, instead of a push.
 */
const _DATA_MANAGER_NAMES: Record<string, { name: string; note: string }> = {
  additional_sync_paths: {
    name: "push_path",
    note: "one folder, relative to the Viam home (a folder outside it can be bind-mounted there)",
  },
  sync_interval_mins: { name: "sync_frequency", note: "in seconds" },
};

/** Misspelt with no filter set, these make a mirror of every file the key can read. */
const _WIDENING_TYPOS = [..._FILTER_ATTRIBUTES, "push_path"];

/** The known attribute closest to an unknown one, when one is close enough to be a typo. */
function _closestAttribute(name: string): string | undefined {
  // Compare in snake_case so that `syncFrequency` and `sync-frequency` find `sync_frequency`.
  const wanted = name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[-\s]+/g, "_")
    .toLowerCase();
  // Short names are close to too much (`id` is 2 edits from `end`): allow them one edit.
  const limit = wanted.length < 4 ? 1 : Math.max(2, Math.floor(wanted.length / 3));
  let best: { name: string; distance: number; fragment: boolean } | undefined;
  for (const known of CONFIG_ATTRIBUTES) {
    const distance = editDistance(wanted, known);
    // A fragment of a known name (`frequency`, `api_key`, `min_age`) is a likely mistake, and a
    // likelier one than a name a few edits away (`min_age` is `push_min_age`, not `max_age`).
    const fragment = wanted.length >= 4 && known.includes(wanted);
    if (!fragment && distance > limit) continue;
    const better = best === undefined || (fragment && !best.fragment) ||
      (fragment === best.fragment && distance < best.distance);
    if (better) best = { name: known, distance, fragment };
  }
  return best?.name;
}

/** A value for a message: strings quoted and cut, lists and objects by kind only. */
function _describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return _kind(value);
}

/** The kind of a value, never its content (for secrets). */
function _kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") {
    if (value === "") return "an empty string";
    return value.trim() === "" ? "a blank string" : "a string";
  }
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
