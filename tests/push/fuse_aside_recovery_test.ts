// a file a kill left moved aside (with its record) goes back on the next pass.
import assert from "node:assert/strict";
import { join } from "node:path";
import { putBackAside } from "../../src/push/push_file.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";

/**
 * `putBackAside(root)` in a process of its own under strace, each of `syscalls` held `delayMs` at
 * the kernel's door; resolves, once the program is loaded and about to put back, to that process's
 * pid and its output (the warnings, one a line). Its tracer is not what is killed: a tracer's death
 * lets its tracee run on.
 */
async function _putBackAsideHeldUp(
  root: string,
  syscalls: string,
  delayMs: number,
): Promise<{ pid: number; output: Promise<Deno.CommandOutput> }> {
  const module = new URL("../../src/push/push_file.ts", import.meta.url).href;
  const started = join(root, "..", `${crypto.randomUUID()}.pid`);
  const child = new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      `trace=${syscalls}`,
      "-e",
      `inject=${syscalls}:delay_enter=${delayMs * 1000}`,
      Deno.execPath(),
      "eval",
      `const { putBackAside } = await import(${JSON.stringify(module)}); ` +
      `Deno.writeTextFileSync(${JSON.stringify(started)}, String(Deno.pid)); ` +
      `putBackAside(${JSON.stringify(root)}, (m) => console.log(m));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = child.output();
  for (
    let i = 0;
    i < 400 && (await Deno.lstat(started).catch(() => undefined)) === undefined;
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const pid = Number(await Deno.readTextFile(started));
  await Deno.remove(started);
  return { pid, output };
}

Deno.test("putBackAside returns a file a kill left in deleting/ on exfat-fuse", {
  ignore: !EXFAT_FUSE_USABLE,
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_" });
  try {
    await withExfatFuseAt(root, async () => {
      const dir = join(root, ".data-mirror", "deleting");
      await Deno.mkdir(join(root, "sub"));
      await Deno.mkdir(dir, { recursive: true });
      const [u1, u2, u3, u4] = [0, 1, 2, 3].map(() => crypto.randomUUID());
      await Deno.writeTextFile(join(dir, `${u1}-a.bin`), "version never sent");
      await Deno.writeTextFile(join(dir, `${u1}.from`), "sub/a.bin");
      const warnings: string[] = [];
      putBackAside(root, (m) => warnings.push(m));
      assert.equal(await Deno.readTextFile(join(root, "sub", "a.bin")), "version never sent");
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      // Its name taken meanwhile: kept aside and told.
      await Deno.writeTextFile(join(dir, `${u2}-a.bin`), "older");
      await Deno.writeTextFile(join(dir, `${u2}.from`), "sub/a.bin");
      putBackAside(root, (m) => warnings.push(m));
      assert.equal(await Deno.readTextFile(join(root, "sub", "a.bin")), "version never sent");
      assert.equal(await Deno.readTextFile(join(dir, `${u2}-a.bin`)), "older");
      assert.equal(warnings.length, 1);
      // A file moved aside whose own name ends in `.from` is no record; a record naming a path
      // out of the push folder puts nothing there.
      await Deno.writeTextFile(join(dir, `${u3}-notes.from`), "../../../etc/x");
      await Deno.writeTextFile(join(dir, `${u4}-b.bin`), "kept");
      await Deno.writeTextFile(join(dir, `${u4}.from`), "../outside.bin");
      const third: string[] = [];
      putBackAside(root, (m) => third.push(m));
      assert.equal(await Deno.readTextFile(join(dir, `${u3}-notes.from`)), "../../../etc/x");
      assert.equal(await Deno.readTextFile(join(dir, `${u4}-b.bin`)), "kept");
      // Each file kept aside is told (again, every pass, until it is moved back): the one whose
      // record named a path outside, the one kept before, and the one with no record at all.
      assert.equal(third.length, 3, third.join("\n"));
      assert.match(third.join("\n"), /outside\.bin was moved aside .*cannot go back/);
      assert.match(third.join("\n"), new RegExp(`kept in .*${u2}-a\\.bin \\(it was "a\\.bin"\\)`));
      assert.match(third.join("\n"), /notes\.from.*whether it is the version sent cannot be told/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test(
  "a kill between the put-back's empty claim and its rename keeps the file aside and says what the empty file may be; a writer that opened it meanwhile keeps its bytes",
  {
    ignore: !EXFAT_FUSE_USABLE,
  },
  async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_claim_kill_" });
    try {
      await withExfatFuseAt(root, async () => {
        const dir = join(root, ".data-mirror", "deleting");
        await Deno.mkdir(dir, { recursive: true });
        const id = crypto.randomUUID();
        await Deno.writeTextFile(join(dir, `${id}-video.bin`), "the only copy");
        await Deno.writeTextFile(join(dir, `${id}.from`), "video.bin");
        // A pass putting it back, killed while its rename over the claim is held up (exfat-fuse
        // has no hard links: the file goes back by a rename over an empty file made with O_EXCL).
        const held = await _putBackAsideHeldUp(root, "rename,renameat,renameat2", 2000);
        const claim = join(root, "video.bin");
        for (
          let i = 0;
          i < 200 && (await Deno.lstat(claim).catch(() => undefined)) === undefined;
          i++
        ) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        Deno.kill(held.pid, "SIGKILL");
        await held.output;
        const killedAt = await Deno.lstat(claim);
        assert.equal(
          killedAt.size,
          0,
          `the pass was not killed at its claim (${killedAt.size} bytes)`,
        );
        // A writer opens the name before the next pass, as a logger does (the claim is that file:
        // which of the two made it cannot be told).
        using writer = await Deno.open(claim, { append: true, create: true });
        const warnings: string[] = [];
        putBackAside(root, (m) => warnings.push(m));
        await writer.write(new TextEncoder().encode("NEW DATA"));
        assert.equal(await Deno.readTextFile(claim), "NEW DATA", "the writer wrote into nothing");
        assert.equal(await Deno.readTextFile(join(dir, `${id}-video.bin`)), "the only copy");
        assert.equal(warnings.length, 1);
        assert.match(
          warnings[0],
          /video\.bin .* is kept in .*-video\.bin: its name holds an empty file/,
        );
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

Deno.test(
  "a folder swapped for a link while a file goes back from deleting/ keeps the file aside, told",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_swap_" });
    const outside = await Deno.makeTempDir({ prefix: "data_mirror_aside_outside_" });
    try {
      const dir = join(root, ".data-mirror", "deleting");
      await Deno.mkdir(join(root, "sub"));
      await Deno.mkdir(dir, { recursive: true });
      const id = crypto.randomUUID();
      await Deno.writeTextFile(join(dir, `${id}-a.bin`), "the only copy");
      await Deno.writeTextFile(join(dir, `${id}.from`), "sub/a.bin");
      // A pass putting it back, its link held up at the kernel's door; `sub` is swapped for a link
      // out of the push folder meanwhile, after the look before it.
      const held = await _putBackAsideHeldUp(root, "link,linkat", 1500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await Deno.rename(join(root, "sub"), join(root, "sub-moved"));
      await Deno.symlink(outside, join(root, "sub"));
      const said = new TextDecoder().decode((await held.output).stdout);
      assert.equal(
        await Deno.readTextFile(join(dir, `${id}-a.bin`)),
        "the only copy",
        `not kept aside (said: ${said})`,
      );
      assert.match(said, /sub\/a\.bin .*kept in .*-a\.bin .*changed while it was put back/);
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(outside, { recursive: true });
    }
  },
);

Deno.test("what a kill left moved aside to delete (no record) is removed when it is the version sent, and kept and told when not", async () => {
  const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_left_" });
  try {
    const dir = join(root, ".data-mirror", "deleting");
    await Deno.mkdir(dir, { recursive: true });
    // Moved aside as a pass names it: the version sent (inode, size, modification time) in its id.
    const moveAside = async (name: string, savedOver: boolean) => {
      const path = join(root, name);
      await Deno.writeTextFile(path, "the version sent");
      const sent = await Deno.lstat(path);
      if (savedOver) await Deno.writeTextFile(path, "a version saved at that moment");
      const aside = `${crypto.randomUUID()}.v${sent.ino}-${sent.size}-${
        sent.mtime!.getTime()
      }-${name}`;
      await Deno.rename(path, join(dir, aside));
      return aside;
    };
    const sentOne = await moveAside("a.jpg", false);
    const savedOne = await moveAside("b.jpg", true);
    const warnings: string[] = [];
    putBackAside(root, (m) => warnings.push(m));
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!left.includes(sentOne), "the version sent stays hidden in deleting/");
    assert.deepEqual(left, [savedOne]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /kept in .*b\.jpg \(it was "b\.jpg"\): it is not the version sent .*; move it back/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name:
    "on exfat-fuse a file moved aside to delete carries no version in its name (its bytes, not " +
    "its version, tell it), so a kept one is never removed by a later pass",
  ignore: !EXFAT_FUSE_USABLE,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_fuse_name_" });
    try {
      await withExfatFuseAt(root, async () => {
        await Deno.writeTextFile(join(root, "a.bin"), "sent");
        const trace = join(root, "..", `${crypto.randomUUID()}.trace`);
        const module = new URL("../../src/push/push_file.ts", import.meta.url).href;
        const script = `
          const { createHash } = await import("node:crypto");
          const { ensureStateDir } = await import(${
          JSON.stringify(new URL("../../src/fs/state_dir.ts", import.meta.url).href)
        });
          const { identityOf } = await import(${
          JSON.stringify(new URL("../../src/push/file_identity.ts", import.meta.url).href)
        });
          const { PushJournal } = await import(${
          JSON.stringify(new URL("../../src/push/push_journal.ts", import.meta.url).href)
        });
          const { pushConfig } = await import(${
          JSON.stringify(new URL("./_harness.ts", import.meta.url).href)
        });
          const { deleteIfUnchanged } = await import(${JSON.stringify(module)});
          const root = ${JSON.stringify(root)};
          const journal = await PushJournal.open(await ensureStateDir(root));
          const sent = identityOf(await Deno.lstat(root + "/a.bin"));
          const digest = createHash("sha256").update("sent").digest("hex");
          const ctx = { config: pushConfig(root, { pushPath: "." }), journal };
          console.log(await deleteIfUnchanged(ctx, "a.bin", sent, { sentDigest: digest, onFuse: true }));
          await journal.close();`;
        const { stdout, success } = await new Deno.Command("strace", {
          args: [
            "-f",
            "-qq",
            "-o",
            trace,
            "-e",
            "trace=rename,renameat,renameat2",
            Deno.execPath(),
            "eval",
            `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
            script,
          ],
          stderr: "null",
        }).output();
        assert.ok(success);
        assert.equal(new TextDecoder().decode(stdout).trim(), "true", "not deleted");
        const traced = await Deno.readTextFile(trace);
        await Deno.remove(trace);
        const aside = /deleting\/([^"]+)"/.exec(traced)?.[1];
        assert.ok(aside !== undefined, traced);
        assert.match(aside, /^[0-9a-f-]{36}-a\.bin$/, "a version in the name");
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("put back and removal act only on what the state folder's owners made in deleting/", async () => {
  const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_owner_" });
  try {
    const dir = join(root, ".data-mirror", "deleting");
    await Deno.mkdir(join(root, "sub"));
    await Deno.mkdir(dir, { recursive: true });
    // Another user's record and file (put there through a swap of state folders): a file of theirs
    // would be put where they may not write.
    const id = crypto.randomUUID();
    await Deno.writeTextFile(join(dir, `${id}-planted.sh`), "#!/bin/sh");
    await Deno.writeTextFile(join(dir, `${id}.from`), "sub/planted.sh");
    const chown = new Deno.Command("chown", {
      args: ["65534", join(dir, `${id}-planted.sh`), join(dir, `${id}.from`)],
    }).outputSync();
    assert.ok(chown.success);
    const warnings: string[] = [];
    putBackAside(root, (m) => warnings.push(m), { trustedOwner: (uid) => uid === 0 });
    assert.equal(
      await Deno.lstat(join(root, "sub", "planted.sh")).catch(() => undefined),
      undefined,
    );
    assert.match(warnings.join("\n"), /is user 65534's, not this program's: left/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a record in deleting/ that is a FIFO, a link or larger than a path is left, told, not read", async () => {
  const root = await Deno.makeTempDir({ prefix: "data_mirror_aside_record_" });
  try {
    const dir = join(root, ".data-mirror", "deleting");
    await Deno.mkdir(join(root, "sub"));
    await Deno.mkdir(dir, { recursive: true });
    const [fifo, huge, link] = [0, 1, 2].map(() => crypto.randomUUID());
    // A FIFO opened for reading waited for a writer for good, and so did every push, a stop too.
    const made = new Deno.Command("mkfifo", { args: [join(dir, `${fifo}.from`)] }).outputSync();
    assert.ok(made.success);
    // Sparse, 1 GiB: read whole, every push failed for want of memory.
    using file = Deno.openSync(join(dir, `${huge}.from`), { write: true, createNew: true });
    file.truncateSync(1024 ** 3);
    await Deno.writeTextFile(join(root, "elsewhere"), "sub/through-a-link.bin");
    await Deno.symlink(join(root, "elsewhere"), join(dir, `${link}.from`));
    await Deno.writeTextFile(join(dir, `${link}-through-a-link.bin`), "kept aside");

    const warnings: string[] = [];
    putBackAside(root, (m) => warnings.push(m));
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(warnings.join("\n"), new RegExp(`${fifo}\\.from .* is a special file`));
    assert.match(
      warnings.join("\n"),
      new RegExp(`${huge}\\.from .* is a file of 1073741824 bytes`),
    );
    assert.match(warnings.join("\n"), new RegExp(`${link}\\.from .* is a symlink, not a record`));
    assert.equal(
      await Deno.lstat(join(root, "sub", "through-a-link.bin")).catch(() => undefined),
      undefined,
    );
    assert.equal(await Deno.readTextFile(join(dir, `${link}-through-a-link.bin`)), "kept aside");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
