/**
 * Push's settle time against a wall clock stepped forward (NTP right after a robot without a
 * real-time clock boots): a file still being written must not look settled by the step.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { productionRunArgs } from "../../scripts/mirror.ts";
import { ClockStepWatch } from "../../src/push/clock_step_watch.ts";
import { denoCacheEnv } from "../_program.ts";
import {
  componentConfig,
  fromStruct,
  toStruct,
  ViamClient,
  waitForSocket,
} from "../module/_viam_client.ts";
import { startPlatform } from "../support/platform/mod.ts";
import { withPush } from "./_harness.ts";
import { programBundle } from "../../scripts/program_bundle.ts";

/** libfaketime (Debian's `faketime`, which `.ci/run` installs): steps the module's wall clock. */
const _LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/** Clocks the test moves by hand: the wall clock, and the monotonic one. */
function _clocks() {
  const clocks = { wall: Date.UTC(2026, 0, 1), monotonic: 1_000 };
  const watch = new ClockStepWatch({ wall: () => clocks.wall, monotonic: () => clocks.monotonic });
  return { clocks, watch };
}

Deno.test("a change made before a forward step is settled only after the settle time of real time", () => {
  const { clocks, watch } = _clocks();
  const lastWrite = clocks.wall - 1_000;
  assert.equal(watch.settled(lastWrite, 10_000), true, "no step seen: the wall clock decides");
  clocks.wall += 3_600_000; // NTP steps the clock an hour ahead
  clocks.monotonic += 2_000;
  assert.equal(watch.settled(lastWrite, 10_000), false);
  clocks.monotonic += 9_000;
  clocks.wall += 9_000;
  assert.equal(watch.settled(lastWrite, 10_000), false, "9 s of real time since the step");
  clocks.monotonic += 1_000;
  clocks.wall += 1_000;
  assert.equal(watch.settled(lastWrite, 10_000), true, "10 s of real time since the step");
  // A change after the step is the wall clock's alone.
  assert.equal(watch.settled(clocks.wall - 1, 10_000), true);
});

Deno.test("slewing and steps back are no forward step", () => {
  const { clocks, watch } = _clocks();
  const lastWrite = clocks.wall - 1_000;
  clocks.wall += 60_000 + 30; // a minute with 0.5 ms/s of slewing
  clocks.monotonic += 60_000;
  assert.equal(watch.settled(lastWrite, 10_000), true);
  clocks.wall -= 3_600_000;
  assert.equal(watch.settled(lastWrite - 3_600_000, 10_000), true);
});

Deno.test("push does not send a file still being written when the clock steps ahead between passes", async () => {
  await withPush(async ({ platform, pass, write }) => {
    let step = 0;
    const wall = () => Date.now() + step;
    const clockSteps = new ClockStepWatch({ wall });
    await write("growing.log", "first line\n", 0);
    const before = await pass({ minAgeSeconds: 10 }, { now: wall, clockSteps });
    assert.deepEqual([before.uploaded, before.skippedBy.settling], [0, 1]);
    step = 3_600_000; // the file's last write now looks an hour old
    const after = await pass({ minAgeSeconds: 10 }, { now: wall, clockSteps });
    assert.deepEqual([after.uploaded, after.skippedBy.settling], [0, 1]);
    assert.equal(platform.items().length, 0);
  });
});

Deno.test("a watch reading the clocks often tells a step of 4 s from the fastest slewing", async () => {
  const clocks = { wall: Date.UTC(2026, 0, 1), monotonic: 1_000 };
  const watch = new ClockStepWatch({
    toleranceMs: 500,
    wall: () => clocks.wall,
    monotonic: () => clocks.monotonic,
  });
  watch.sample(10);
  const reads = () => new Promise((resolve) => setTimeout(resolve, 40));
  // Twelve seconds of chrony's fastest slewing (83 ms a second, 1 s in all), read each second: no
  // step (read only now, the 1 s would pass for one).
  const before = clocks.wall;
  for (let second = 0; second < 12; second++) {
    clocks.monotonic += 1_000;
    clocks.wall += 1_083;
    await reads();
  }
  assert.equal(watch.settled(before, 10_000), true);
  // A write, then 7 s of real time with a step of 4 s in it: 11 s old by the wall clock, 7 in truth.
  const written = clocks.wall;
  clocks.monotonic += 7_000;
  clocks.wall += 11_000;
  await reads();
  assert.equal(watch.settled(written, 10_000), false, "the file is 7 s old, not 11");
});

Deno.test({
  name: "the module sees a clock step made before its first push resource",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await Deno.lstat(_LIBFAKETIME).catch(() => {
      throw new Error(`${_LIBFAKETIME} is missing: apt-get install faketime`);
    });
    const root = await Deno.makeTempDir({ prefix: "clock-step-module-" });
    const home = join(root, "viam");
    const outbox = join(home, "outbox");
    await Deno.mkdir(outbox, { recursive: true });
    // The module's wall clock only (NTP steps that one), read again at every call.
    const offsetFile = join(root, "faketime");
    await Deno.writeTextFile(offsetFile, "+0\n");
    await using platform = await startPlatform();
    const socket = join(root, "m.sock");
    const module = new Deno.Command(Deno.execPath(), {
      args: productionRunArgs(await programBundle(), [socket]),
      env: {
        VIAM_HOME: home,
        VIAM_MODULE_DATA: join(root, "module-data"),
        VIAM_NO_MODULE_PARENT: "true",
        VIAM_MACHINE_PART_ID: "part-1",
        LD_PRELOAD: _LIBFAKETIME,
        FAKETIME_TIMESTAMP_FILE: offsetFile,
        FAKETIME_NO_CACHE: "1",
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
        ...denoCacheEnv(),
      },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = await Deno.open(join(outbox, "growing.log"), { create: true, append: true });
    const line = () => writer.write(new TextEncoder().encode(`${Date.now()}\n`));
    const appends = setInterval(line, 1_000);
    try {
      await waitForSocket(socket);
      const client = new ViamClient(socket);
      // A writer appends a line every second (a log, a recording)...
      await line();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // ...as NTP steps the clock a day ahead, and the cloud's config (a push folder) arrives.
      await Deno.writeTextFile(offsetFile, "+1d\n");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await client.call(client.module, "AddResource", {
        config: componentConfig("pusher", "rdk:service:generic", {
          app_api_key_id: platform.apiKeyId,
          app_api_key: platform.apiKey,
          app_url: platform.url,
          push_path: "outbox",
          sync_frequency: 3600,
        }),
        dependencies: [],
      });
      const reply = await client.call(client.service, "DoCommand", {
        name: "pusher",
        command: toStruct({ command: "push" }),
      }, 30_000);
      client.close();
      const summary = fromStruct(reply.result);
      assert.deepEqual([summary.uploaded, summary.skipped], [0, 1], "held as settling");
      await Deno.lstat(join(outbox, "growing.log"));
      assert.equal(platform.items().length, 0, "not sent while its writer still writes");
    } finally {
      clearInterval(appends);
      writer.close();
      module.kill("SIGTERM");
      await module.status;
      await Deno.remove(root, { recursive: true });
    }
  },
});
