/**
 * Which `sync` flag sets each attribute, so that what the engine and `parseConfig` say in the
 * module's terms (`allow_delete_all: true allows it`, `raise max_delete`) reads in the CLI's terms
 * (`--allow-delete-all allows it`, `raise --max-delete`). Messages name attributes; the shell maps
 * them, so no message is written twice.
 *
 * @example
 * ```ts
 * import { inCliTerms } from "./attribute_flags.ts";
 *
 * inCliTerms("allow_delete_all: true allows it"); // "--allow-delete-all allows it"
 * ```
 *
 * @module
 */

/**
 * The flag of each attribute the CLI can set (`app_api_key` has none: it is never a flag); the
 * `push_` ones are `push`'s flags.
 */
const _ATTRIBUTE_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  app_api_key_id: "--api-key-id",
  app_url: "--app-url",
  sync_frequency: "--sync-frequency",
  tags: "--tags",
  labels: "--labels",
  dataset_id: "--dataset-id",
  mime_types: "--mime-types",
  start: "--start",
  end: "--end",
  max_age: "--max-age",
  mirror_path: "--mirror-path",
  delete: "--delete",
  allow_delete_all: "--allow-delete-all",
  max_delete: "--max-delete",
  protected_dirs: "--protected-dir",
  concurrency: "--concurrency",
  free_space_reserve_percent: "--free-space-reserve",
  bandwidth_limit: "--bwlimit",
  // `push`'s own attributes: each has one flag of that command.
  push_path: "--push-path",
  push_tags: "--tags",
  push_dataset_ids: "--dataset-id",
  push_keep: "--keep",
  push_min_age: "--min-age",
});

/** The attributes `push` sets by its flags besides its own `push_` ones: the connection's. */
const _PUSH_SHARED: ReadonlySet<string> = new Set(["app_url", "app_api_key_id", "bandwidth_limit"]);

/**
 * The flag of `command` (`sync` or `push`, whose flags are `flags`) for an unknown flag spelt as an
 * attribute (`--push-tags`, `--bandwidth-limit`), or undefined: commander's own suggestion goes by
 * spelling alone, and for `push --push-tags` it was `--push-path`, which would take the tag for a
 * folder (a reviewer).
 */
export function flagForAttributeSpelling(
  word: string,
  command: string,
  flags: readonly string[],
): string | undefined {
  const attribute = word.replace(/^--/, "").replaceAll("-", "_");
  const flag = _ATTRIBUTE_FLAGS[attribute];
  if (flag === undefined || flag === word || !flags.includes(flag)) return undefined;
  const forPush = attribute.startsWith("push_") || _PUSH_SHARED.has(attribute);
  return (command === "push" ? forPush : !attribute.startsWith("push_")) ? flag : undefined;
}

/**
 * Where a CLI user sets an attribute that is missing or wrong, for a config error (the text
 * output puts it in parentheses after the message, `--json` as the issue's `hint`).
 */
export function flagHint(field: string): string | undefined {
  if (field === "app_api_key") {
    return "set the VIAM_API_KEY environment variable, or app_api_key in the --config file";
  }
  if (field === "app_api_key_id") {
    // The environment first, as for the key: a flag shows in ps, the shell's history and the line
    // `deno task` echoes, and the id is kept out of every output as the key is.
    return "set the VIAM_API_KEY_ID environment variable, or app_api_key_id in the --config file " +
      "(or --api-key-id)";
  }
  return _ATTRIBUTE_FLAGS[field];
}

// Longest names first, so that `delete` does not match inside `allow_delete_all`; an attribute
// set to `true` is its flag alone (`allow_delete_all: true` -> `--allow-delete-all`).
const _ATTRIBUTE = new RegExp(
  `(?<![\\w-])(${
    Object.keys(_ATTRIBUTE_FLAGS).sort((a, b) => b.length - a.length).join("|")
  })(: true)?(?![\\w-])`,
  "g",
);

/**
 * A message from the engine (a guard, a pass error) with each attribute name that has a flag
 * replaced by the flag. Only names written with an underscore are attributes, so ordinary words
 * (`delete`, `start`) are left alone unless set `: true`.
 */
export function inCliTerms(message: string): string {
  return message.replace(_ATTRIBUTE, (whole, name: string, isTrue?: string) => {
    if (!name.includes("_") && isTrue === undefined) return whole;
    return _ATTRIBUTE_FLAGS[name];
  });
}
