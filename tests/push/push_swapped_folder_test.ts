/**
 * A folder below the push folder swapped for a symlink to a folder outside while a pass runs
 * (after the walk listed its parent, before it read the folder): the walk then lists and stats the
 * outside folder's files through the link, and pushFile opens them by a path whose last component
 * only is O_NOFOLLOW. Nothing outside the push folder may be uploaded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureStateDir } from "../../src/fs/state_dir.ts";
import { identityOf } from "../../src/push/file_identity.ts";
import { pushDestination } from "../../src/push/push_destination.ts";
import { deleteIfUnchanged, pushFile } from "../../src/push/push_file.ts";
import { PushJournal } from "../../src/push/push_journal.ts";
import { walkPushFolder } from "../../src/push/walk_push_folder.ts";
import { PART_ID, plantFile, withPush } from "./_harness.ts";
import { RecordingLogger } from "../sync/_harness.ts";

Deno.test("a folder swapped for a symlink during the walk: the outside file is not uploaded", async () => {
  await withPush(async ({ platform, home, root, uploader, config }) => {
    const outside = join(home, "..", `outside-${crypto.randomUUID()}`);
    try {
      await plantFile(join(outside, "key.pem"), "TOP SECRET");
      // What the walk yields when `a` became a link after the push folder was listed.
      await Deno.symlink(outside, join(root, "a"));
      const walked = {
        kind: "file" as const,
        path: "a/key.pem",
        identity: identityOf(Deno.lstatSync(join(root, "a/key.pem"))),
      };
      const journal = await PushJournal.open(await ensureStateDir(root));
      try {
        const outcome = await pushFile({
          config: config(),
          partId: PART_ID,
          destination: pushDestination({
            appUrl: platform.url,
            partId: PART_ID,
            tags: ["fleet"],
            datasetIds: [],
          }),
          uploader,
          journal,
          attempts: 1,
          minRetryDelayMs: 1,
          now: Date.now,
        }, walked);
        assert.equal(outcome.kind, "skipped");
        assert.equal(platform.items().length, 0, "the outside file reached the platform");
        assert.equal(await Deno.readTextFile(join(outside, "key.pem")), "TOP SECRET");
      } finally {
        await journal.close();
      }
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("a sent file whose folder was moved out and linked back is not deleted through the link", async () => {
  await withPush(async ({ home, root, config }) => {
    const outside = join(home, "..", `outside-${crypto.randomUUID()}`);
    try {
      await plantFile(join(root, "a", "f.jpg"), "sent");
      const sent = identityOf(Deno.lstatSync(join(root, "a", "f.jpg")));
      // After the upload, before its deletion: `a` moved out of the push folder (the file keeps
      // its inode, size and times) and a link to it put in its place.
      await Deno.rename(join(root, "a"), outside);
      await Deno.symlink(outside, join(root, "a"));
      const journal = await PushJournal.open(await ensureStateDir(root));
      try {
        const deleted = await deleteIfUnchanged({ config: config(), journal }, "a/f.jpg", sent, {
          onFuse: false,
        }).catch((error: Error) => error);
        assert.notEqual(deleted, true, "deleted through the link");
        assert.equal(await Deno.readTextFile(join(outside, "f.jpg")), "sent");
      } finally {
        await journal.close();
      }
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("the walk passes by a folder swapped for a symlink after its parent was listed", async () => {
  const home = await Deno.makeTempDir({ prefix: "data-mirror-push-swap-" });
  const root = join(home, "outbox");
  const outside = join(home, "outside");
  try {
    await plantFile(join(root, "f.txt"), "inside");
    await plantFile(join(root, "a", "x.txt"), "inside too");
    await plantFile(join(outside, "key.pem"), "TOP SECRET");
    const seen: string[] = [];
    for await (const entry of walkPushFolder(root)) {
      seen.push(`${entry.kind} ${entry.path}`);
      if (entry.path === "f.txt") {
        // The root is listed (and `a` with it): `a` becomes a link before it is read.
        await Deno.remove(join(root, "a"), { recursive: true });
        await Deno.symlink(outside, join(root, "a"));
      }
    }
    assert.deepEqual(seen, ["file f.txt", "skipped a"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a push folder swapped for a symlink as the pass begins: no state folder or lock made where it leads", async () => {
  await withPush(async ({ root, pass }) => {
    const outside = await Deno.makeTempDir({ prefix: "push-outside-" });
    try {
      // A missing push folder is made, and the pass says so: the swap happens right then, after
      // the folder was made and checked.
      await Deno.remove(root, { recursive: true });
      const logger = new RecordingLogger();
      logger.warn = (message: string) => {
        if (message.includes("outbox")) {
          Deno.renameSync(root, `${root}.moved`);
          Deno.symlinkSync(outside, root);
        }
      };
      await assert.rejects(pass({}, { logger }), Deno.errors.PermissionDenied);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(outside)), []);
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});
