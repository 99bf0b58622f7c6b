import assert from "node:assert/strict";
import {
  ConfigSupersededError,
  ResourceNotRunningError,
  ResourceRemovedError,
  ResourceTable,
} from "../../src/module/resource_table.ts";
import type { MirrorController } from "../../src/mirror_controller.ts";
import { emptySummary } from "../../src/sync/summary.ts";

/** A controller whose stop resolves only when the test says so; it records events in order. */
class _Controller implements MirrorController {
  #finishStop: (() => void) | undefined;
  constructor(readonly id: string, readonly events: string[]) {}
  syncNow() {
    return Promise.resolve(emptySummary());
  }
  dryRun(): never {
    throw new Error("not used");
  }
  pushNow(): never {
    throw new Error("not used");
  }
  status() {
    return { state: "idle" as const, passes: 0, consecutiveFailures: 0 };
  }
  stop(): Promise<void> {
    this.events.push(`stop ${this.id} begins`);
    return new Promise((resolve) =>
      this.#finishStop = () => {
        this.events.push(`stop ${this.id} ends`);
        resolve();
      }
    );
  }
  finishStop(): void {
    this.#finishStop?.();
  }
}

Deno.test("resource table: a replacement starts only after the old controller has stopped", async () => {
  const table = new ResourceTable();
  const events: string[] = [];
  const first = new _Controller("first", events);
  const second = new _Controller("second", events);
  assert.equal(await table.put("rdk:service:generic/m", () => first), false);
  assert.equal(table.isReplacing("rdk:service:generic", "m"), false, "added, not replaced");
  const replacing = table.put("rdk:service:generic/m", () => {
    events.push("create second");
    return second;
  });
  // A removal queued behind the replacement waits for it, then stops the second controller.
  const removing = table.remove("rdk:service:generic/m");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events, ["stop first begins"]);
  assert.equal(table.get("rdk:service:generic", "m"), undefined);
  // No controller for that while, yet the resource exists: a call to it is cut off (ABORTED), not
  // told it is unknown (NOT_FOUND).
  assert.equal(table.isReplacing("rdk:service:generic", "m"), true);
  assert.equal(table.isReplacing("rdk:component:generic", "m"), false);
  first.finishStop();
  assert.equal(await replacing, true);
  assert.equal(table.isReplacing("rdk:service:generic", "m"), false);
  await new Promise((resolve) => setTimeout(resolve, 0));
  second.finishStop();
  assert.equal(await removing, true);
  assert.deepEqual(events, [
    "stop first begins",
    "stop first ends",
    "create second",
    "stop second begins",
    "stop second ends",
  ]);
  assert.deepEqual(table.names(), []);
});

Deno.test("resource table: names are per API and a failed create leaves nothing running", async () => {
  const table = new ResourceTable();
  const events: string[] = [];
  const service = new _Controller("service", events);
  const component = new _Controller("component", events);
  await table.put("rdk:service:generic/m", () => service);
  await table.put("rdk:component:generic/m", () => component);
  assert.equal(table.get("rdk:service:generic", "m"), service);
  assert.equal(table.get("rdk:component:generic", "m"), component);
  assert.equal(await table.remove("rdk:service:generic/other"), false);

  await assert.rejects(
    () =>
      table.put("rdk:service:generic/broken", () => {
        throw new Error("bad config");
      }),
    /bad config/,
  );
  assert.equal(table.get("rdk:service:generic", "broken"), undefined);
  assert.deepEqual(table.names().sort(), ["rdk:component:generic/m", "rdk:service:generic/m"]);
});

Deno.test("resource table: a replacement that cannot start leaves the resource running as it was", async () => {
  const table = new ResourceTable();
  const events: string[] = [];
  let made = 0;
  const working = () => {
    const controller = new _Controller(`working ${++made}`, events);
    controller.stop = () => Promise.resolve(); // stops at once
    return controller;
  };
  await table.put("rdk:service:generic/m", working);
  await assert.rejects(
    () =>
      table.put("rdk:service:generic/m", () => {
        throw new Error("mirror b overlaps a");
      }),
    /overlaps/,
  );
  const running = table.get("rdk:service:generic", "m") as _Controller;
  assert.equal(running?.id, "working 2", "the previous configuration runs again");
  assert.equal(table.isReplacing("rdk:service:generic", "m"), false);
  // And a later good config replaces it as usual.
  assert.equal(await table.put("rdk:service:generic/m", working), true);
  assert.equal((table.get("rdk:service:generic", "m") as _Controller).id, "working 3");
});

Deno.test("resource table: configurations apply in the order they came, and none undoes a removal done since", async (t) => {
  const name = "rdk:service:generic/m";
  const events: string[] = [];
  // A controller that stops at once.
  const quick = (id: string) => {
    const controller = new _Controller(id, events);
    controller.stop = () => Promise.resolve();
    return controller;
  };
  const running = (table: ResourceTable) =>
    (table.get("rdk:service:generic", "m") as _Controller)?.id;

  await t.step(
    "a removal done while a reconfiguration is checked: refused, nothing started",
    async () => {
      const table = new ResourceTable();
      await table.put(name, () => quick("first"), { ticket: table.ticket(name) });
      const ticket = table.ticket(name); // the reconfiguration comes; its check takes a while
      assert.equal(await table.remove(name), true);
      await assert.rejects(
        table.put(name, () => quick("second"), { ticket, reconfigure: true }),
        ResourceNotRunningError,
      );
      assert.deepEqual(table.names(), []);
    },
  );

  await t.step(
    "a removal asked for while an addition is checked: done, the addition refused",
    async () => {
      const table = new ResourceTable();
      const ticket = table.ticket(name); // the addition comes; its check takes a while
      assert.equal(await table.remove(name), true, "it cancels the addition");
      await assert.rejects(
        table.put(name, () => quick("added"), { ticket }),
        ResourceRemovedError,
      );
      assert.deepEqual(table.names(), []);
      assert.equal(await table.remove(name), false, "nothing left to remove");
    },
  );

  await t.step(
    "an addition that comes while a removal waits its turn runs after it",
    async () => {
      const table = new ResourceTable();
      let finishStop = () => {};
      const slow = quick("first");
      slow.stop = () => new Promise<void>((resolve) => finishStop = resolve);
      await table.put(name, () => slow, { ticket: table.ticket(name) });
      const removing = table.remove(name); // waits for the old one's stop
      const ticket = table.ticket(name); // viam-server adds the resource again meanwhile
      const adding = table.put(name, () => quick("again"), { ticket });
      await new Promise((resolve) => setTimeout(resolve, 0)); // the removal's stop has begun
      finishStop();
      assert.equal(await removing, true);
      assert.equal(await adding, false);
      assert.equal(running(table), "again");
    },
  );

  await t.step("a removal after an addition's check failed finds nothing", async () => {
    const table = new ResourceTable();
    table.release(table.ticket(name));
    assert.equal(await table.remove(name), false);
  });

  await t.step("a removed name's order records are dropped: its tickets start afresh", async () => {
    const table = new ResourceTable();
    await table.put(name, () => quick("first"), { ticket: table.ticket(name) });
    const checked = table.ticket(name);
    assert.equal(checked.arrival, 2, "kept while it runs");
    table.release(checked);
    await table.remove(name);
    await new Promise((resolve) => setTimeout(resolve, 0)); // the removal's change settles
    assert.deepEqual(table.ticket(name), { fullName: name, arrival: 1, removals: 0 });
  });

  await t.step("removed and added again meanwhile: the one added runs on", async () => {
    const table = new ResourceTable();
    await table.put(name, () => quick("first"), { ticket: table.ticket(name) });
    const ticket = table.ticket(name);
    await table.remove(name);
    await table.put(name, () => quick("added"), { ticket: table.ticket(name) });
    await assert.rejects(
      table.put(name, () => quick("late"), { ticket, reconfigure: true }),
      ResourceNotRunningError,
    );
    assert.equal(running(table), "added");
  });

  await t.step(
    "a reconfiguration queued before a removal is asked for: applied, then removed",
    async () => {
      const table = new ResourceTable();
      await table.put(name, () => quick("first"), { ticket: table.ticket(name) });
      const reconfiguring = table.put(name, () => quick("second"), {
        ticket: table.ticket(name),
        reconfigure: true,
      });
      const removing = table.remove(name);
      assert.equal(table.isBeingRemoved("rdk:service:generic", "m"), true);
      assert.equal(await reconfiguring, true);
      assert.equal(await removing, true);
      assert.equal(table.isBeingRemoved("rdk:service:generic", "m"), false);
      assert.deepEqual(table.names(), []);
    },
  );

  await t.step(
    "of two configurations, the one sent last wins, whichever is checked first",
    async () => {
      const table = new ResourceTable();
      await table.put(name, () => quick("first"), { ticket: table.ticket(name) });
      const older = table.ticket(name);
      const newer = table.ticket(name);
      await table.put(name, () => quick("newer"), { ticket: newer, reconfigure: true });
      await assert.rejects(
        table.put(name, () => quick("older"), { ticket: older, reconfigure: true }),
        ConfigSupersededError,
      );
      assert.equal(running(table), "newer");
    },
  );

  await t.step("nothing running: a reconfiguration is refused", async () => {
    const table = new ResourceTable();
    await assert.rejects(
      table.put("rdk:service:generic/other", () => quick("x"), {
        ticket: table.ticket("rdk:service:generic/other"),
        reconfigure: true,
      }),
      /rdk:service:generic\/other is not running/,
    );
    assert.deepEqual(table.names(), []);
  });
});

Deno.test("resource table: stopAll stops everything, including a start under way, and refuses more", async () => {
  const table = new ResourceTable();
  const events: string[] = [];
  const running = new _Controller("running", events);
  const late = new _Controller("late", events);
  await table.put("rdk:service:generic/a", () => running);
  let finishCreate = (): void => {};
  const starting = table.put(
    "rdk:service:generic/b",
    () => new Promise<MirrorController>((resolve) => finishCreate = () => resolve(late)),
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  const stopping = table.stopAll();
  running.finishStop();
  finishCreate();
  await starting;
  await new Promise((resolve) => setTimeout(resolve, 0));
  late.finishStop();
  await stopping;
  assert.deepEqual(events, [
    "stop running begins",
    "stop running ends",
    "stop late begins",
    "stop late ends",
  ]);
  assert.deepEqual(table.names(), []);
  await assert.rejects(
    () => table.put("rdk:service:generic/c", () => running),
    /the module is shutting down: rdk:service:generic\/c was not started/,
  );
});

Deno.test("resource table: a replacement waiting for the old one's stop when stopAll begins starts nothing", async () => {
  const table = new ResourceTable();
  const events: string[] = [];
  const old = new _Controller("old", events);
  await table.put("rdk:service:generic/m", () => old);
  const replacing = table.put("rdk:service:generic/m", () => {
    events.push("create new");
    return new _Controller("new", events);
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const stopping = table.stopAll();
  old.finishStop();
  await assert.rejects(replacing, /the module is shutting down/);
  await stopping;
  assert.deepEqual(events, ["stop old begins", "stop old ends"]);
  assert.deepEqual(table.names(), []);
});
