// A separate process running one push pass, for the kill tests: `_push_child.ts <app url> <push
// root> <part id> [keep]` with the API key in DATA_MIRROR_TEST_KEY_ID / DATA_MIRROR_TEST_KEY. It
// prints the pass's result as one JSON line and exits. Run by `spawnPushChild`.
import { FileUploader } from "../../src/remote/file_upload.ts";
import type { Logger } from "../../src/logger.ts";
import { type PushResult, runPushPass } from "../../src/push/run_push_pass.ts";

/** A running push child. */
export interface PushChild {
  /** Whether it has ended. */
  readonly ended: boolean;
  /** Kills it with SIGKILL and waits for it to end. */
  kill(): Promise<void>;
  /** Waits for its end and parses its result line; fails with its stderr when it failed. */
  result(): Promise<PushResult>;
}

const _SCRIPT = new URL(import.meta.url).pathname;
const _CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** Starts a push pass in a child process with read/write on `home` and net to 127.0.0.1 only. */
export function spawnPushChild(
  home: string,
  args: {
    appUrl: string;
    root: string;
    partId: string;
    keyId: string;
    key: string;
    keep?: boolean;
  },
): PushChild {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--config=${_CONFIG}`,
      `--allow-read=${home}`,
      `--allow-write=${home}`,
      "--allow-net=127.0.0.1",
      "--allow-env=BUF_BIGINT_DISABLE,DATA_MIRROR_TEST_KEY_ID,DATA_MIRROR_TEST_KEY",
      "--ignore-env", // as in production: other names read as undefined (undici probes some)
      _SCRIPT,
      args.appUrl,
      args.root,
      args.partId,
      ...(args.keep ? ["keep"] : []),
    ],
    env: { DATA_MIRROR_TEST_KEY_ID: args.keyId, DATA_MIRROR_TEST_KEY: args.key },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let ended = false;
  output.then(() => ended = true, () => ended = true);
  return {
    get ended() {
      return ended;
    },
    async kill() {
      child.kill("SIGKILL");
      await output;
    },
    async result() {
      const { code, stdout, stderr } = await output;
      const text = new TextDecoder().decode(stdout);
      if (code !== 0) {
        throw new Error(`push child exited ${code}:\n${new TextDecoder().decode(stderr)}`);
      }
      return JSON.parse(text.trim().split("\n").at(-1)!);
    },
  };
}

const _stderr: Logger = {
  debug: () => {},
  info: (message) => console.error(message),
  warn: (message) => console.error(message),
  error: (message) => console.error(message),
};

async function main([appUrl, root, partId, keep]: string[]): Promise<void> {
  await using uploader = new FileUploader({
    env: () => undefined, // http:// on loopback: never through a proxy
    appUrl,
    apiKeyId: Deno.env.get("DATA_MIRROR_TEST_KEY_ID")!,
    apiKey: Deno.env.get("DATA_MIRROR_TEST_KEY")!,
  });
  const result = await runPushPass(
    {
      pushPath: "outbox",
      pushRoot: root,
      tags: ["crash"],
      datasetIds: [],
      keep: keep === "keep",
      minAgeSeconds: 0,
    },
    { uploader, partId, appUrl },
    { logger: _stderr, minRetryDelayMs: 1 },
  );
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main(Deno.args);
