import assert from "node:assert/strict";
import { join } from "node:path";
import { describeFileSystem, openScratchFs } from "../../../scripts/bench/scratch_fs.ts";

const _GIB = 2 ** 30;

/**
 * Whether this machine can loop-mount an image: root, mkfs.ext4, and a free loop device (a
 * container may have none). Each test asserts the image where it can be made, and the plain folder
 * with its reason where it cannot.
 */
const _canMount = Deno.uid() === 0 &&
  (await new Deno.Command("sh", {
    args: ["-c", "command -v mkfs.ext4 && losetup -f"],
    stdout: "null",
    stderr: "null",
  }).output()).success;

/**
 * Runs `test` with a fresh work folder, then removes it, unmounting its image first if a failed test
 * left it mounted.
 */
async function _withWork(test: (work: string) => Promise<void>): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "scratch-fs-test-" });
  try {
    await test(work);
  } finally {
    await new Deno.Command("umount", { args: ["-l", join(work, "main-fs")], stderr: "null" })
      .output();
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * A `deno eval` script that opens the "main" set's scratch file system in `work` (its `say` lines
 * kept in `said`), then runs `then`, for the tests that need a process of its own.
 */
function _childScript(work: string, then: string): string {
  const module = new URL("../../../scripts/bench/scratch_fs.ts", import.meta.url).href;
  return `
    import { openScratchFs } from ${JSON.stringify(module)};
    const said = [];
    const scratch = await openScratchFs({
      work: ${JSON.stringify(work)}, name: "main", image: true,
      sizeBytes: 2 ** 30, inodes: 10_000, say: (line) => said.push(line),
    });
    ${then}
  `;
}

async function _mounted(path: string): Promise<boolean> {
  const mounts = await Deno.readTextFile("/proc/self/mounts");
  return mounts.split("\n").some((line) => line.split(" ")[1] === path);
}

Deno.test("a set's copies go to a journaled ext4 image of their own, gone after the set", async () => {
  await _withWork(async (work) => {
    const said: string[] = [];
    const scratch = await openScratchFs({
      work,
      name: "main",
      image: true,
      sizeBytes: 2 * _GIB,
      inodes: 50_000,
      say: (line) => said.push(line),
    });
    try {
      if (!_canMount) {
        // No loop mount here: a plain folder in work, and the reason said.
        assert.equal(scratch.path, join(work, "main"));
        assert.match(scratch.description, /not root|missing|no ext4 image could be mounted/);
        return;
      }
      assert.equal(scratch.path, join(work, "main-fs"));
      assert.equal(await _mounted(scratch.path), true);
      assert.match(scratch.description, /journaled ext4 image .* with a journal/);
      assert.match(said.join("\n"), /\[main\] copies on a journaled ext4 image/);
      const stats = await new Deno.Command("df", {
        args: ["--output=itotal,size", "-B1", scratch.path],
        stdout: "piped",
      }).output();
      const [inodes, size] = new TextDecoder().decode(stats.stdout).trim().split("\n")[1].trim()
        .split(/\s+/).map(Number);
      assert.ok(inodes >= 50_000, `${inodes} inodes`);
      assert.ok(size > 1.5 * _GIB, `${size} bytes`);
      await Deno.writeTextFile(join(scratch.path, "f"), "x");
      // Sparse: the image takes what was written (inode tables, journal), not its size.
      const image = await Deno.stat(join(work, "main.ext4"));
      assert.equal(image.size, 2 * _GIB);
      assert.ok(image.blocks! * 512 < _GIB / 4, `${image.blocks! * 512} bytes on disk`);
    } finally {
      await scratch[Symbol.asyncDispose]();
    }
    assert.equal(await _mounted(join(work, "main-fs")), false);
    assert.deepEqual([...Deno.readDirSync(work)], []);
  });
});

Deno.test("with --dir a set's copies go to a plain folder, which names its file system", async () => {
  await _withWork(async (work) => {
    await using scratch = await openScratchFs({
      work,
      name: "scale",
      image: false,
      sizeBytes: _GIB,
      inodes: 1000,
      say: () => {},
    });
    assert.equal(scratch.path, join(work, "scale"));
    assert.equal((await Deno.stat(scratch.path)).isDirectory, true);
    assert.equal(scratch.description.startsWith(`${work} (`), true);
    assert.match(scratch.description, /the folder given with --dir/);
    assert.equal(await _mounted(scratch.path), false);
  });
});

Deno.test("describeFileSystem names the type and device, and for ext4 the journal", async () => {
  assert.equal(await describeFileSystem("/proc"), "proc on proc");
  const root = await describeFileSystem("/");
  assert.match(root, /^\S+ on \S+/);
  if (root.startsWith("ext4")) assert.match(root, /, with(out)? a journal$/);
});

Deno.test("a benchmark stopped by SIGINT, SIGTERM or SIGHUP leaves no mount and no image", async () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130], ["SIGHUP", 129]] as const) {
    await _withWork(async (work) => {
      const script = _childScript(work, "console.log(scratch.path); await new Promise(() => {});");
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const path = (await reader.read()).value!.trim();
      if (!_canMount) {
        assert.equal(path, join(work, "main")); // a plain folder: nothing mounted to clean up
        await reader.cancel();
        await child.status;
        return;
      }
      child.kill(signal);
      const status = await child.status;
      await reader.cancel();
      assert.equal(path, join(work, "main-fs"));
      assert.equal(status.code, code, signal);
      assert.equal(await _mounted(path), false, `${signal}: still mounted`);
      assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), [], signal);
    });
  }
});

Deno.test("when no image can be mounted, the copies go to a plain folder and the reason is said", async () => {
  const bin = await Deno.makeTempDir({ prefix: "scratch-fs-bin-" });
  await _withWork(async (work) => {
    // A `mount` that fails as it does in a container without loop devices.
    await Deno.writeTextFile(
      join(bin, "mount"),
      "#!/bin/sh\necho 'mount: failed to setup loop device' >&2\nexit 32\n",
      { mode: 0o755 },
    );
    const script = _childScript(
      work,
      "console.log(JSON.stringify({ path: scratch.path, description: scratch.description, said }));",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(out.code, 0);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.path, join(work, "main"));
    assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), ["main"]);
    if (!_canMount) {
      assert.match(result.description, /not root|missing|no ext4 image could be mounted/);
      return;
    }
    assert.match(
      result.description,
      /no ext4 image could be mounted \(mount -o loop .* failed \(exit 32\): mount: failed to setup loop device\)/,
    );
    assert.match(result.said.join("\n"), /\[main\] copies in .*no ext4 image could be mounted/);
  }).finally(() => Deno.remove(bin, { recursive: true }));
});

Deno.test("an image still in use when its set ends is unmounted lazily, never left mounted", async () => {
  await _withWork(async (work) => {
    const said: string[] = [];
    const scratch = await openScratchFs({
      work,
      name: "main",
      image: true,
      sizeBytes: _GIB,
      inodes: 10_000,
      say: (line) => said.push(line),
    });
    if (!_canMount) {
      await scratch[Symbol.asyncDispose]();
      assert.equal(scratch.path, join(work, "main"));
      return;
    }
    // A process whose working folder is in the copy holds the mount (a tool killed on a timeout
    // whose child lives on, a shell left in the folder).
    const holder = new Deno.Command("sleep", { args: ["60"], cwd: scratch.path }).spawn();
    try {
      await scratch[Symbol.asyncDispose](); // does not throw
      assert.equal(await _mounted(scratch.path), false);
      assert.match(said.join("\n"), /umount .* failed .*; unmounting lazily/);
      await assert.rejects(Deno.stat(join(work, "main.ext4")), Deno.errors.NotFound);
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
    }
  });
});

Deno.test("describeFileSystem sees through a bind mount to the disk and its journal", async () => {
  const source = await Deno.makeTempDir({ prefix: "scratch-fs-bind-source-" });
  const target = await Deno.makeTempDir({ prefix: "scratch-fs-bind-target-" });
  try {
    const bound = await new Deno.Command("mount", {
      args: ["--bind", source, target],
      stderr: "null",
    }).output();
    if (!bound.success) {
      // Not root (or no mount here): the folder is described as the disk it is on.
      assert.equal(await describeFileSystem(target), await describeFileSystem(source));
      return;
    }
    assert.equal(await _mounted(target), true);
    // findmnt names the source "<device>[/folder]" unless told not to: the same disk either way.
    assert.equal(await describeFileSystem(target), await describeFileSystem(source));
  } finally {
    await new Deno.Command("umount", { args: [target], stderr: "null" }).output();
    await Deno.remove(target, { recursive: true });
    await Deno.remove(source, { recursive: true });
  }
});
