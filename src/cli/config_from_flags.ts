/**
 * The `sync` flags turned into the module's attribute record, so the CLI goes through the same
 * `parseConfig` as the module: `--config` file first, each flag given overrides it, the API key from
 * `VIAM_API_KEY_ID` / `VIAM_API_KEY` when nothing else sets it (never from a flag).
 *
 * @example
 * ```ts
 * import { attributesFromFlags } from "./config_from_flags.ts";
 *
 * attributesFromFlags({ tags: ["a"], maxDelete: "25%" }, { env: (name) => Deno.env.get(name) });
 * ```
 *
 * @module
 */
import { InvalidArgumentError } from "commander";

/** The `sync` command's options as commander parses them. */
export interface SyncFlags {
  config?: string;
  apiKeyId?: string;
  tags?: string[];
  labels?: string[];
  datasetId?: string;
  mimeTypes?: string[];
  start?: string;
  end?: string;
  maxAge?: string;
  bwlimit?: string;
  mirrorPath?: string;
  delete?: boolean;
  allowDeleteAll?: boolean;
  maxDelete?: string;
  protectedDir?: string[];
  appUrl?: string;
  concurrency?: string;
  syncFrequency?: string;
  freeSpaceReserve?: string;
  /** False with `--no-manifest`; commander sets true otherwise, which must not override a file. */
  manifest?: boolean;
}

/** Reads the environment (the API key fallbacks). */
export type EnvReader = (name: string) => string | undefined;

/**
 * Builds the module attributes a CLI run means: the `--config` file's attributes, overridden by
 * each flag given, with the API key taken from `VIAM_API_KEY_ID` / `VIAM_API_KEY` when neither a flag
 * nor the file sets it. The result goes through the same `parseConfig` as the module's attributes.
 */
export function attributesFromFlags(
  flags: SyncFlags,
  options: { fileAttributes?: Record<string, unknown>; env: EnvReader },
): Record<string, unknown> {
  const attributes: Record<string, unknown> = { ...options.fileAttributes };
  const set = (name: string, value: unknown) => {
    if (value !== undefined) attributes[name] = value;
  };
  set("app_api_key_id", flags.apiKeyId);
  set("tags", flags.tags);
  set("labels", flags.labels);
  set("dataset_id", flags.datasetId);
  set("mime_types", flags.mimeTypes);
  set("start", flags.start);
  set("end", flags.end);
  set("max_age", numberOrText(flags.maxAge));
  set("bandwidth_limit", numberOrText(flags.bwlimit));
  set("mirror_path", flags.mirrorPath);
  set("delete", flags.delete);
  set("allow_delete_all", flags.allowDeleteAll);
  // `500` becomes a number, `25%` stays a string: parseConfig reads both forms.
  set("max_delete", numberOrText(flags.maxDelete));
  // Protections add up: `--protected-dir logs` on top of a file protecting `models` must not leave
  // `models` to delete (a file's value that is no list stays, for parseConfig to refuse).
  const fileDirs = options.fileAttributes?.protected_dirs;
  set(
    "protected_dirs",
    flags.protectedDir === undefined || fileDirs === undefined || fileDirs === null
      ? flags.protectedDir
      : Array.isArray(fileDirs)
      ? [...fileDirs, ...flags.protectedDir]
      : fileDirs,
  );
  set("app_url", flags.appUrl);
  // Numbers stay strings here when they do not parse, so parseConfig names the attribute at fault.
  set("concurrency", numberOrText(flags.concurrency));
  set("sync_frequency", numberOrText(flags.syncFrequency));
  set("free_space_reserve_percent", numberOrText(flags.freeSpaceReserve));
  if (flags.manifest === false) set("manifest", false);
  if (attributes.app_api_key_id === undefined) {
    set("app_api_key_id", options.env("VIAM_API_KEY_ID"));
  }
  if (attributes.app_api_key === undefined) set("app_api_key", options.env("VIAM_API_KEY"));
  return attributes;
}

/**
 * A warning when the key id and the key come from two places while the environment holds a pair
 * of its own: the id from `--api-key-id` or the config file with the environment's key, or the
 * file's key with the environment's id (a `.bashrc` exporting another pair). The platform refuses
 * such a pair with no word of where its halves came from. No value is quoted.
 */
export function splitKeyPairWarning(
  apiKeyIdFlag: string | undefined,
  fileAttributes: Record<string, unknown> | undefined,
  env: EnvReader,
): string | undefined {
  const envId = env("VIAM_API_KEY_ID");
  const envKey = env("VIAM_API_KEY");
  if (!envId || !envKey) return undefined;
  const apiKeyId = apiKeyIdFlag ?? fileAttributes?.app_api_key_id;
  const apiKey = fileAttributes?.app_api_key;
  if (apiKeyId !== undefined && apiKey === undefined && apiKeyId !== envId) {
    return "the API key id comes from --api-key-id or the config file, and the key from " +
      "VIAM_API_KEY, whose pair in the environment has another id: if the platform refuses the " +
      "key, give both in one place";
  }
  if (apiKey !== undefined && apiKeyId === undefined && apiKey !== envKey) {
    return "the API key comes from the config file, and its id from VIAM_API_KEY_ID, whose pair " +
      "in the environment has another key: if the platform refuses the key, give both in one place";
  }
  return undefined;
}

/**
 * Splits a comma-separated flag value, dropping blanks: `--tags a,b`. A value that names nothing
 * (`--tags ""`, `--tags "$UNSET"`, `--tags ,`) is a usage error: without it `sync` would mirror
 * every file the key can read, where `--dataset-id ""` is refused.
 */
export function parseList(value: string, previous: string[] = []): string[] {
  const parts = value.split(",").map((part) => part.trim()).filter(Boolean);
  if (parts.length === 0) {
    throw new InvalidArgumentError(
      "it names nothing (blank, or only commas): give at least one, or leave the flag out",
    );
  }
  return [...previous, ...parts];
}

/**
 * A flag's text as a number when it is one written in decimal (as a config's JSON number is: `0x10`
 * or `0b1` are no number there), else the text itself (so that parseConfig names the attribute at
 * fault), or undefined when the flag was not given.
 */
export function numberOrText(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  return _DECIMAL.test(text) && Number.isFinite(value) ? value : text;
}

/** A number as JSON writes one (a leading `+` and surrounding spaces allowed, as shells pass them). */
const _DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;
