/** What the `sync --watch --json` tests of a push folder share: the key, the environment, the documents. */

/** The platform's key (`startPlatform({ apiKeys: [WATCH_KEY] })`). */
export const WATCH_KEY = { id: "watch-key-id", key: "WATCH-SECRET-0a1b2c3d4e5f" };

/** The program's environment: the key and the machine part the uploads belong to. */
export const WATCH_ENV = {
  VIAM_API_KEY_ID: WATCH_KEY.id,
  VIAM_API_KEY: WATCH_KEY.key,
  VIAM_MACHINE_PART_ID: "part-1",
};

/** The JSON documents of a `--json` stdout, one a line (a last line not ended yet left out). */
// deno-lint-ignore no-explicit-any
export function watchDocuments(stdout: string): Record<string, any>[] {
  return stdout.split("\n").slice(0, -1).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/**
 * Writes `<home>/mirror.json` (the platform at `appUrl`, a push folder `outbox` of tag `fleet`
 * sent at once, then `attributes`), makes the push folder, and resolves to the config's path.
 */
export async function writeWatchConfig(
  home: string,
  appUrl: string,
  attributes: Record<string, unknown>,
): Promise<string> {
  const path = `${home}/mirror.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      app_url: appUrl,
      push_path: "outbox",
      push_tags: ["fleet"],
      push_min_age: 0,
      ...attributes,
    }),
  );
  await Deno.mkdir(`${home}/outbox`);
  return path;
}
