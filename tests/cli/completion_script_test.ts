/**
 * `data-mirror completion bash|zsh`: the scripts come from the command tree, and real shells load
 * them and complete commands, options and option values.
 */
import assert from "node:assert/strict";
import { type CliEnvironment, runCli } from "../../src/cli/run_cli.ts";

async function script(shell: string): Promise<{ code: number; text: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const environment: CliEnvironment = {
    env: () => undefined,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    tty: false,
  };
  const code = await runCli(["completion", shell], environment);
  return { code, text: stdout.join("\n"), stderr: stderr.join("\n") };
}

/** Runs `commands(file)` in `shell`, `file` holding the script. */
async function inShell(
  shell: string,
  scriptText: string,
  commands: (file: string) => string,
): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "data-mirror-completion-" });
  try {
    await Deno.writeTextFile(file, scriptText);
    const output = await new Deno.Command(shell, {
      args: ["-c", commands(file)],
      env: { HOME: Deno.env.get("HOME") ?? "/tmp", PATH: Deno.env.get("PATH") ?? "" },
      clearEnv: true,
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.ok(output.success, stderr);
    return new TextDecoder().decode(output.stdout);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("bash: commands, options, option values and file names complete from the tree", async () => {
  const { code, text } = await script("bash");
  assert.equal(code, 0);
  const complete = (words: string[]) =>
    [
      `COMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      "_data_mirror_complete",
      'echo "${COMPREPLY[*]}"',
    ].join("; ");
  const replies = await inShell(
    "bash",
    text,
    (file) =>
      [
        `source ${file}`,
        complete(["data-mirror", ""]),
        complete(["data-mirror", "sy"]),
        complete(["data-mirror", "sync", "--max-d"]),
        complete(["data-mirror", "sync", "--log-level", ""]),
        complete(["data-mirror", "completion", ""]),
        complete(["data-mirror", "validate", "--"]),
        "complete -p data-mirror",
      ].join("\n"),
  );
  assert.deepEqual(replies.trimEnd().split("\n"), [
    "sync validate push completion --help --version",
    "sync",
    "--max-delete",
    "debug info warn error",
    "bash zsh",
    "--config --json --help",
    "complete -o default -F _data_mirror_complete data-mirror",
  ]);
});

Deno.test("zsh: the script parses, registers itself when sourced, and lists every command and option", async () => {
  const { code, text } = await script("zsh");
  assert.equal(code, 0);
  assert.match(text, /^#compdef data-mirror$/m);
  for (
    const spec of [
      "'sync:Run one sync pass (or keep running passes with --watch), then exit.'",
      "'--config[JSON file with the module'\\''s attributes (flags override it)]:file:_files'",
      "'--log-level[lowest log level shown on stderr]:value:(debug info warn error)'",
      "'*--protected-dir[a directory never pruned, nor any file in it (repeatable, added to those of --config)]:value: '",
      "'--delete[delete the files the mirror placed that the platform no longer lists]'",
      "'1:completion:(bash zsh)'",
    ]
  ) {
    assert.ok(text.includes(spec), `${spec} in\n${text}`);
  }
  const registered = await inShell(
    "zsh",
    text,
    (file) =>
      `autoload -Uz compinit && compinit -u -D\nsource ${file}\nprint -r -- $_comps[data-mirror]`,
  );
  assert.equal(registered.trim(), "_data_mirror");
});

Deno.test("completion for an unknown shell is a usage error naming the choices", async () => {
  const { code, stderr } = await script("fish");
  assert.equal(code, 2);
  assert.equal(
    stderr,
    "error: command-argument value 'fish' is invalid for argument 'shell'. Allowed choices are " +
      "bash, zsh.\n(run with --help for usage)",
  );
});
