import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config.ts";
import {
  checkConfigLocations,
  MirrorLocationError,
  resolveMirrorRoot,
} from "../../src/fs/mirror_location.ts";
import { names, rejection, withTempDir } from "./_helpers.ts";
import { testOnExfatFuse } from "../support/exfat_fuse.ts";

Deno.test("the root is created folder by folder inside the Viam home and resolved", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/.viam`; // a fresh machine: not even the home exists
    const root = await resolveMirrorRoot({
      viamHome: home,
      mirrorPath: "a/b/mirror",
      create: true,
    });
    assert.equal(root, `${await Deno.realPath(home)}/a/b/mirror`);
    assert.ok((await Deno.stat(root!)).isDirectory);
    // without create, a missing root is reported as missing, nothing is made
    assert.equal(
      await resolveMirrorRoot({ viamHome: home, mirrorPath: "other", create: false }),
      undefined,
    );
    assert.deepEqual(await names(home), ["a"]);
  });
});

Deno.test("a Viam home that is a file is named as the Viam home, for a pass and a dry run alike", async () => {
  await withTempDir(async (dir) => {
    const home = join(dir, "viam-home-file");
    await Deno.writeTextFile(home, "");
    for (const create of [true, false]) {
      const error = await rejection(
        () => resolveMirrorRoot({ viamHome: home, mirrorPath: "m", create }),
        MirrorLocationError,
      );
      assert.match(
        error.message,
        /the Viam home .*viam-home-file \(\$VIAM_HOME, else .*is not a folder/,
      );
    }
  });
});

Deno.test("a Viam home linked to a folder of a disk not mounted says so, and makes nothing; once there, it is used", async () => {
  await withTempDir(async (dir) => {
    const home = join(dir, ".viam");
    const disk = join(dir, "data"); // a mount point, its disk not mounted yet
    await Deno.mkdir(disk);
    await Deno.symlink(join(disk, "viam"), home); // ~/.viam -> /data/viam
    const refused = await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "data_mirror", create: true }),
      Deno.errors.NotFound,
      `the Viam home ${home} is a symlink (to "${join(disk, "viam")}") to nothing: is the disk`,
    );
    assert.doesNotMatch(refused.message, /File exists/);
    assert.deepEqual(await names(disk), []);
    await Deno.mkdir(join(disk, "viam")); // the disk mounted
    const root = await resolveMirrorRoot({ viamHome: home, mirrorPath: "m", create: true });
    assert.equal(root, join(await Deno.realPath(disk), "viam", "m"));
  });
});

Deno.test("a symlink on the way to the root is refused wherever it leads, and nothing is made through it", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/.viam`;
    await Deno.mkdir(`${home}/packages/data`, { recursive: true });
    await Deno.mkdir(`${home}/my_notes/sub`, { recursive: true });
    await Deno.writeTextFile(`${home}/my_notes/todo.txt`, "keep");
    await Deno.mkdir(`${dir}/outside`);
    const links: [string, string, string][] = [
      // [link name, target, mirror_path]
      ["data_mirror", ".", "data_mirror"],
      ["pkg_mirror", "packages", "pkg_mirror"],
      ["deep_mirror", "packages/data", "deep_mirror/x"],
      ["notes_mirror", "my_notes", "notes_mirror"], // another folder of the home: still not the mirror
      ["current", "my_notes/sub", "current/newdir/mirror"],
      ["usb_mirror", `${dir}/outside`, "usb_mirror/m"],
      ["dangling", "nowhere", "dangling"],
    ];
    for (const [name, target, mirrorPath] of links) {
      await Deno.symlink(target, `${home}/${name}`);
      for (const create of [true, false]) {
        const error = await rejection(
          () => resolveMirrorRoot({ viamHome: home, mirrorPath, create }),
          MirrorLocationError,
          `${home}/${name} is a symlink (to ${JSON.stringify(target)})`,
        );
        assert.match(error.message, /mount the disk/);
      }
    }
    assert.deepEqual(await names(`${home}/my_notes`), ["sub", "todo.txt"], "nothing made there");
    assert.deepEqual(await names(`${home}/my_notes/sub`), []);
    assert.deepEqual(await names(`${dir}/outside`), []);
    assert.deepEqual(await names(`${home}/packages/data`), []);
  });
});

Deno.test("a root in a folder viam-server keeps, or in a state folder, is refused by its name before anything is made, whatever its case; a file on the way too", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/Module-Data`);
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "Module-Data/x", create: true }),
      MirrorLocationError,
      "Module-Data, a folder viam-server manages",
    );
    assert.deepEqual(await names(`${home}/Module-Data`), [], "nothing created in there");
    // Refused by its name, before any folder of it is made.
    await rejection(
      () =>
        resolveMirrorRoot({ viamHome: home, mirrorPath: "Capture/x/.data-mirror", create: true }),
      MirrorLocationError,
      "Capture, a folder viam-server manages",
    );
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "m/.Data-Mirror/x", create: true }),
      MirrorLocationError,
      "inside a .data-mirror folder",
    );
    assert.deepEqual(await names(home), ["Module-Data"], "no Capture, no m");
    await Deno.writeTextFile(`${home}/file`, "x");
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "file/m", create: true }),
      MirrorLocationError,
      `mirror_path "file/m": ${home}/file exists and is not a folder`, // names the attribute
    );
  });
});

Deno.test("a root inside another mirror's .data-mirror folder, named or through a symlink, is refused", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/data_mirror/.data-mirror/partial`, { recursive: true });
    await Deno.symlink("data_mirror/.data-mirror", `${home}/state_link`);
    for (const path of ["data_mirror/.data-mirror", "data_mirror/.DATA-MIRROR/x"]) {
      await rejection(
        () => resolveMirrorRoot({ viamHome: home, mirrorPath: path, create: true }),
        MirrorLocationError,
        "inside a .data-mirror folder",
      );
    }
    assert.deepEqual(await names(`${home}/data_mirror/.data-mirror`), ["partial"], "nothing made");
  });
});

Deno.test("a push folder reached through a symlink is a config error", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/mirror/in`, { recursive: true });
    await Deno.mkdir(`${home}/outbox`);
    await Deno.symlink("mirror", `${home}/lnk`);
    const config = (pushPath: string) =>
      parseConfig({
        app_api_key_id: "id",
        app_api_key: "key",
        tags: ["t"],
        mirror_path: "mirror",
        push_path: pushPath,
      }, { env: (name) => (name === "VIAM_HOME" ? home : undefined) }).config;
    const refused = await checkConfigLocations(config("lnk/in")).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(refused instanceof ConfigError, String(refused));
    assert.equal(refused.issues.length, 1);
    assert.equal(refused.issues[0].field, "push_path");
    assert.match(refused.issues[0].message, /^push_path "lnk\/in": .*\/lnk is a symlink/);
    await checkConfigLocations(config("outbox")); // apart: accepted
  });
});

Deno.test("a Viam home reached through a symlink is measured on its real path", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real-home`);
    await Deno.symlink(`${dir}/real-home`, `${dir}/.viam`);
    const root = await resolveMirrorRoot({
      viamHome: `${dir}/.viam`,
      mirrorPath: "m",
      create: true,
    });
    assert.equal(root, `${await Deno.realPath(dir)}/real-home/m`);
  });
});

testOnExfatFuse(
  "a mirror_path spelt in another case on exfat-fuse resolves to the folder's own spelling",
  { name: "usb", prefix: "data_mirror_spelling_" },
  async (usb, home) => {
    await Deno.mkdir(join(usb, "Faces"));
    // Both spellings must reach one path: the lock is taken on it, and exfat-fuse makes a
    // node (and a flock) of its own for each spelling.
    const root = await resolveMirrorRoot({
      viamHome: home,
      mirrorPath: "usb/faces",
      create: true,
    });
    assert.equal(root, join(await Deno.realPath(home), "usb", "Faces"));
  },
);

testOnExfatFuse(
  "on exfat-fuse a mirror_path resolves to the folder of its own Unicode form, not another",
  { name: "usb", prefix: "data_mirror_spelling_" },
  async (usb, home) => {
    // exFAT folds case, not form: two folders (exfat-fuse lists the decomposed one first).
    await Deno.mkdir(join(usb, "caf\u00e9"));
    await Deno.mkdir(join(usb, "cafe\u0301"));
    const root = await resolveMirrorRoot({
      viamHome: home,
      mirrorPath: "usb/Caf\u00e9",
      create: false,
    });
    assert.equal(root, join(await Deno.realPath(home), "usb", "caf\u00e9"));
  },
);

testOnExfatFuse(
  "exfat-fuse: a mirror_path two folders fold to (ß and ẞ are two letters there) is refused",
  { name: "viam", prefix: "data-mirror-spelling-" },
  async (home) => {
    Deno.mkdirSync(join(home, "stra\u1E9Ee")); // the one "STRAẞE" reaches on exFAT
    Deno.mkdirSync(join(home, "Stra\u00DFe")); // another folder, listed first
    await assert.rejects(
      resolveMirrorRoot({ viamHome: home, mirrorPath: "STRA\u1E9EE", create: false }),
      MirrorLocationError,
    );
    assert.equal(
      await resolveMirrorRoot({ viamHome: home, mirrorPath: "stra\u1E9Ee", create: false }),
      join(await Deno.realPath(home), "stra\u1E9Ee"),
    );
  },
);

testOnExfatFuse(
  "exfat-fuse: the refusal of a path two folders fold to names the attribute and the value",
  { name: "viam", prefix: "data-mirror-label-" },
  async (home) => {
    Deno.mkdirSync(join(home, "stra\u1E9Ee"));
    Deno.mkdirSync(join(home, "Stra\u00DFe"));
    await assert.rejects(
      resolveMirrorRoot({
        viamHome: home,
        mirrorPath: "STRA\u1E9EE/sub",
        create: false,
        attribute: "push_path",
      }),
      (e: Error) => e.message.startsWith('push_path "STRA\u1E9EE/sub": '),
    );
  },
);
