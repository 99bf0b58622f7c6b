import assert from "node:assert/strict";
import { join } from "node:path";
import { describeFileSystem, openScratchFs } from "../../../scripts/bench/scratch_fs.ts";

const _GIB = 2 ** 30;

async function _mounted(path: string): Promise<boolean> {
  const mounts = await Deno.readTextFile("/proc/self/mounts");
  return mounts.split("\n").some((line) => line.split(" ")[1] === path);
}

Deno.test("a set's copies go to a journaled ext4 image of their own, gone after the set", async () => {
  const work = await Deno.makeTempDir({ prefix: "scratch-fs-test-" });
  const said: string[] = [];
  try {
    const scratch = await openScratchFs({
      work,
      name: "main",
      image: true,
      sizeBytes: 2 * _GIB,
      inodes: 50_000,
      say: (line) => said.push(line),
    });
    try {
      if (Deno.uid() !== 0) {
        // Without root there is no loop mount: a plain folder in work, and the reason said.
        assert.equal(scratch.path, join(work, "main"));
        assert.match(scratch.description, /not root/);
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
      // Sparse: the image takes what was written, not its size.
      const image = await Deno.stat(join(work, "main.ext4"));
      assert.equal(image.size, 2 * _GIB);
    } finally {
      await scratch[Symbol.asyncDispose]();
    }
    assert.equal(await _mounted(join(work, "main-fs")), false);
    assert.deepEqual([...Deno.readDirSync(work)], []);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("with --dir a set's copies go to a plain folder, which names its file system", async () => {
  const work = await Deno.makeTempDir({ prefix: "scratch-fs-test-" });
  try {
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
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("describeFileSystem names the type and device, and for ext4 the journal", async () => {
  assert.equal(await describeFileSystem("/proc"), "proc on proc");
  const root = await describeFileSystem("/");
  assert.match(root, /^\S+ on \S+/);
  if (root.startsWith("ext4")) assert.match(root, /, with(out)? a journal$/);
});

Deno.test("a benchmark stopped by SIGINT or SIGTERM leaves no mount and no image behind", async () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    const work = await Deno.makeTempDir({ prefix: "scratch-fs-test-" });
    try {
      const script = `
        import { openScratchFs } from ${
        JSON.stringify(new URL("../../../scripts/bench/scratch_fs.ts", import.meta.url).href)
      };
        const scratch = await openScratchFs({
          work: ${JSON.stringify(work)}, name: "main", image: true,
          sizeBytes: 2 ** 30, inodes: 10_000, say: () => {},
        });
        console.log(scratch.path);
        await new Promise(() => {});
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const path = (await reader.read()).value!.trim();
      child.kill(signal);
      const status = await child.status;
      await reader.cancel();
      if (Deno.uid() !== 0) {
        assert.equal(path, join(work, "main")); // a plain folder: nothing mounted to clean up
        continue;
      }
      assert.equal(path, join(work, "main-fs"));
      assert.equal(status.code, code, signal);
      assert.equal(await _mounted(path), false, `${signal}: still mounted`);
      assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), [], signal);
    } finally {
      await new Deno.Command("umount", { args: ["-l", join(work, "main-fs")], stderr: "null" })
        .output();
      await Deno.remove(work, { recursive: true });
    }
  }
});

Deno.test("when no image can be mounted, the copies go to a plain folder and the reason is said", async () => {
  const work = await Deno.makeTempDir({ prefix: "scratch-fs-test-" });
  const bin = await Deno.makeTempDir({ prefix: "scratch-fs-bin-" });
  try {
    // A `mount` that fails as it does in a container without loop devices.
    await Deno.writeTextFile(
      join(bin, "mount"),
      "#!/bin/sh\necho 'mount: failed to setup loop device' >&2\nexit 32\n",
      { mode: 0o755 },
    );
    const script = `
      import { openScratchFs } from ${
      JSON.stringify(new URL("../../../scripts/bench/scratch_fs.ts", import.meta.url).href)
    };
      const said = [];
      const scratch = await openScratchFs({
        work: ${JSON.stringify(work)}, name: "main", image: true,
        sizeBytes: 2 ** 30, inodes: 10_000, say: (line) => said.push(line),
      });
      console.log(JSON.stringify({ path: scratch.path, description: scratch.description, said }));
    `;
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
    if (Deno.uid() !== 0) {
      assert.match(result.description, /not root/);
      return;
    }
    assert.match(
      result.description,
      /no ext4 image could be mounted \(mount -o loop .* failed \(exit 32\): mount: failed to setup loop device\)/,
    );
    assert.match(result.said.join("\n"), /\[main\] copies in .*no ext4 image could be mounted/);
  } finally {
    await Deno.remove(work, { recursive: true });
    await Deno.remove(bin, { recursive: true });
  }
});
