import assert from "node:assert/strict";

/** The modules `entry` loads before any of its dynamic imports runs (`deno info`'s static edges). */
async function _staticGraph(entry: URL): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { isDynamic?: boolean; code?: { specifier: string } }[];
    }[];
  };
  const edges = new Map(info.modules.map((module) => [
    module.specifier,
    (module.dependencies ?? []).filter((d) => !d.isDynamic && d.code).map((d) => d.code!.specifier),
  ]));
  const reached = new Set([info.roots[0]]);
  for (const specifier of reached) for (const next of edges.get(specifier) ?? []) reached.add(next);
  return [...reached];
}

Deno.test("sync command: one pass loads no push side and no loop (only --watch imports them)", async () => {
  const graph = await _staticGraph(new URL("../../src/cli/sync_command.ts", import.meta.url));
  assert.ok(graph.some((specifier) => specifier.endsWith("/src/sync/run_pass.ts")));
  assert.deepEqual(
    graph.filter((specifier) =>
      /\/src\/push\/|\/src\/mirror_loop\.ts$|^node:(http2|tls|net|crypto)$/.test(specifier)
    ),
    [],
  );
});
