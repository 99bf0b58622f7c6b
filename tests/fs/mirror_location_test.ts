import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config.ts";
import {
  checkConfigLocations,
  MirrorLocationError,
  resolveMirrorRoot,
} from "../../src/fs/mirror_location.ts";
import { names, rejection, withTempDir } from "./_helpers.ts";

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

Deno.test("a root that is a symlink to the Viam home itself or into viam-server's folders is refused", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/packages/data`, { recursive: true });
    await Deno.mkdir(`${home}/Module-Data`, { recursive: true });
    await Deno.symlink(".", `${home}/data_mirror`);
    await Deno.symlink("packages", `${home}/pkg_mirror`);
    await Deno.symlink("packages/data", `${home}/deep_mirror`);
    await Deno.symlink("Module-Data", `${home}/md_mirror`);
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "data_mirror", create: true }),
      MirrorLocationError,
      "the Viam home",
    );
    for (const path of ["pkg_mirror", "deep_mirror", "md_mirror/x"]) {
      await rejection(
        () => resolveMirrorRoot({ viamHome: home, mirrorPath: path, create: true }),
        MirrorLocationError,
        "a folder viam-server manages",
      );
    }
    assert.deepEqual(await names(`${home}/Module-Data`), [], "nothing created in there");
  });
});

Deno.test("a root inside another mirror's .data-mirror folder, named or through a symlink, is refused", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/data_mirror/.data-mirror/partial`, { recursive: true });
    await Deno.symlink("data_mirror/.data-mirror", `${home}/state_link`);
    for (const path of ["data_mirror/.data-mirror", "data_mirror/.DATA-MIRROR/x", "state_link/x"]) {
      await rejection(
        () => resolveMirrorRoot({ viamHome: home, mirrorPath: path, create: true }),
        MirrorLocationError,
        "inside a .data-mirror folder",
      );
    }
    assert.deepEqual(await names(`${home}/data_mirror/.data-mirror`), ["partial"], "nothing made");
  });
});

Deno.test("a push folder led into the mirror by a symlink is a config error, as the same path written out is", async () => {
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
    assert.match(
      refused.issues[0].message,
      /lies inside the mirror_path directory.*\(through a symlink\)$/,
    );
    await checkConfigLocations(config("outbox")); // apart: accepted
  });
});

Deno.test("a symlink on the way that leads outside is refused before anything is created", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/.viam`;
    await Deno.mkdir(home);
    await Deno.mkdir(`${dir}/outside`);
    await Deno.symlink(`${dir}/outside`, `${home}/ext`);
    const error = await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "ext/newdir/mirror", create: true }),
      MirrorLocationError,
      "outside the Viam home",
    );
    assert.match(error.message, /mount that disk/);
    assert.deepEqual(await names(`${dir}/outside`), [], "outside/newdir was not created");
    // the same as the root itself
    await Deno.symlink(`${dir}/outside`, `${home}/usb_mirror`);
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "usb_mirror", create: true }),
      MirrorLocationError,
      "outside the Viam home",
    );
  });
});

Deno.test("symlinks that stay inside the Viam home are followed; dangling ones and files are refused", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(`${home}/mirrors/a`, { recursive: true });
    await Deno.symlink("mirrors/a", `${home}/current`);
    assert.equal(
      await resolveMirrorRoot({ viamHome: home, mirrorPath: "current", create: true }),
      `${await Deno.realPath(home)}/mirrors/a`,
    );
    await Deno.symlink("nowhere", `${home}/dangling`);
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "dangling", create: true }),
      MirrorLocationError,
      "dangling",
    );
    await Deno.writeTextFile(`${home}/file`, "x");
    await rejection(
      () => resolveMirrorRoot({ viamHome: home, mirrorPath: "file/m", create: true }),
      MirrorLocationError,
      "not a folder",
    );
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
