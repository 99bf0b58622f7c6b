/**
 * `deno task demo`: the main job on the embedded default. Starts the local data platform with its
 * sample data set (310 images in nested folders, some unnamed, some with absolute names, tagged), then
 * runs the real program (under the production permission flags, as `deno task mirror` does) to mirror
 * the tag `demo` into `.viam-demo/data_mirror` in this repository, twice: the first pass downloads
 * everything with progress and a summary, the second downloads nothing. Then the round trip of
 * the push side: a file dropped in `.viam-demo/outbox` is pushed with the tag `demo` (and deleted
 * locally once the platform has it), and the next sync mirrors it into `data_mirror` at the same
 * path.
 *
 * No Viam account and no network are needed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { runWithProductionFlags } from "./mirror.ts";
import { sampleDataset, startPlatform } from "../tests/support/platform/mod.ts";
import { programBundle } from "./program_bundle.ts";

const viamHome = fileURLToPath(new URL("../.viam-demo", import.meta.url));
const mirror = `${viamHome}/data_mirror`;

await Deno.remove(mirror, { recursive: true }).catch((error) => {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
});
await Deno.mkdir(viamHome, { recursive: true });

await using platform = await startPlatform({ dataset: sampleDataset() });
console.log(`local data platform on ${platform.url}: ${platform.items().length} sample items\n`);

// The key goes through the environment, as on a robot, so it never shows in a process listing.
Deno.env.set("VIAM_HOME", viamHome);
Deno.env.set("VIAM_API_KEY_ID", platform.apiKeyId);
Deno.env.set("VIAM_API_KEY", platform.apiKey);
const args = ["sync", "--app-url", platform.url, "--tags", "demo", "--delete"];
const main = await programBundle();

console.log(`$ data-mirror ${args.join(" ")}    # first pass: everything is new`);
const first = await runWithProductionFlags(main, args);
console.log(`\n$ data-mirror ${args.join(" ")}    # second pass: nothing to do`);
const second = await runWithProductionFlags(main, args);

// The round trip: what one machine pushes with a tag reaches every machine mirroring that tag.
const outbox = `${viamHome}/outbox`;
await Deno.remove(outbox, { recursive: true }).catch(() => {});
await Deno.mkdir(`${outbox}/models`, { recursive: true });
await Deno.writeTextFile(`${outbox}/models/detector.tflite`, "demo model weights\n");
const pushArgs = [
  "push",
  "--app-url",
  platform.url,
  "--part-id",
  "demo-part",
  "--push-path",
  "outbox",
  "--tags",
  "demo",
  "--min-age",
  "0",
];
console.log(`\n$ data-mirror ${pushArgs.join(" ")}    # push a file from the outbox`);
const pushed = await runWithProductionFlags(main, pushArgs);
console.log(`\n$ data-mirror ${args.join(" ")}    # the pushed file comes back by the tag`);
const third = await runWithProductionFlags(main, args);
const back = await Deno.readTextFile(`${mirror}/models/detector.tflite`).catch(() => undefined);
console.log(
  back === undefined
    ? "\nthe pushed file did not come back"
    : `\nround trip: ${outbox}/models/detector.tflite -> ${mirror}/models/detector.tflite`,
);

const counts = new Map<string, number>();
const walk = async (dir: string, top: string) => {
  for await (const entry of Deno.readDir(`${mirror}/${dir}`)) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (rel === ".data-mirror") continue;
    if (entry.isDirectory) await walk(rel, top || entry.name);
    else counts.set(top || "(top level)", (counts.get(top || "(top level)") ?? 0) + 1);
  }
};
await walk("", "");
console.log(`\nThe files are in ${mirror}:`);
for (const [dir, count] of [...counts].sort()) {
  console.log(`  ${dir.padEnd(14)} ${count} ${count === 1 ? "file" : "files"}`);
}
console.log(`\ncalls the four runs made: ${JSON.stringify(platform.calls)}`);
Deno.exitCode = first || second || pushed || third || (back === undefined ? 1 : 0);
