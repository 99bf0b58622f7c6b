import assert from "node:assert/strict";
import {
  extensionFor,
  foldCase,
  foldLetterCase,
  foldLetterCaseSurely,
  isStateDirPath,
  loadMimeTable,
  localPathFor,
  needsMimeTable,
  parentDirectories,
  pushedNameProblem,
  splitRelativePath,
  STATE_DIR_NAME,
} from "../src/paths.ts";
import type { RemoteItem } from "../src/remote/remote_item.ts";

function item(fields: Partial<RemoteItem>): RemoteItem {
  return {
    binaryDataId: "org/loc/f1",
    fileId: "f1",
    fileName: "",
    fileExt: "",
    mimeType: "",
    uri: "",
    ...fields,
  };
}

// First in this file (one module state per test file): the MIME table is not loaded yet.
Deno.test("an item named by its MIME type is not named before the MIME table is loaded", async () => {
  const byMime = item({ mimeType: "image/png" });
  assert.equal(needsMimeTable(byMime), true);
  assert.throws(() => extensionFor(byMime), /call loadMimeTable\(\) first/);
  assert.throws(() => localPathFor(byMime), /call loadMimeTable\(\) first/);
  // Named otherwise, it needs no table.
  for (const fields of [{ fileExt: ".jpg" }, { fileName: "a.png" }, { mimeType: "" }]) {
    assert.equal(needsMimeTable(item({ mimeType: "image/png", ...fields })), false);
    assert.doesNotThrow(() => localPathFor(item({ mimeType: "image/png", ...fields })));
  }
  assert.equal(needsMimeTable(item({ mimeType: "image/png", fileExt: "a/b" })), true);
  await loadMimeTable();
  await loadMimeTable();
  assert.deepEqual(localPathFor(byMime), { ok: true, path: "f1.png" });
});

const MAPPED: [string, Partial<RemoteItem>, string][] = [
  ["plain name", { fileName: "x.jpg" }, "x.jpg"],
  ["absolute name is kept inside the mirror", { fileName: "/home/pi/x.jpg" }, "home/pi/x.jpg"],
  ["several leading slashes", { fileName: "///home/pi/x.jpg" }, "home/pi/x.jpg"],
  ["empty and . components dropped", { fileName: "a//b/./c.txt" }, "a/b/c.txt"],
  ["leading ./", { fileName: "./a/b" }, "a/b"],
  ["trailing slash", { fileName: "a/b/" }, "a/b"],
  ["spaces and unicode", { fileName: "фото/my photo é.jpg" }, "фото/my photo é.jpg"],
  ["ext appended", { fileName: "model", fileExt: ".tflite" }, "model.tflite"],
  ["ext without dot", { fileName: "model", fileExt: "tflite" }, "model.tflite"],
  ["ext with several dots", { fileName: "model", fileExt: "..tflite" }, "model.tflite"],
  ["ext not doubled", { fileName: "a.jpeg", fileExt: ".jpeg" }, "a.jpeg"],
  ["ext not doubled, case aside", { fileName: "A.JPEG", fileExt: ".jpeg" }, "A.JPEG"],
  ["multi-part ext not doubled", { fileName: "a.tar.gz", fileExt: ".tar.gz" }, "a.tar.gz"],
  [
    "ext appended to a dotted stem",
    { fileName: "scan.2024.01", fileExt: ".jpg" },
    "scan.2024.01.jpg",
  ],
  [
    "ext appended to the last component",
    { fileName: "/d/model", fileExt: ".tflite" },
    "d/model.tflite",
  ],
  ["dotfile gets ext", { fileName: ".bashrc", fileExt: ".txt" }, ".bashrc.txt"],
  ["ext of only dots ignored", { fileName: "model", fileExt: "." }, "model"],
  ["ext with a separator ignored", { fileName: "model", fileExt: "x/../../y" }, "model"],
  ["ext with a backslash ignored", { fileName: "model", fileExt: "x\\y" }, "model"],
  ["name wins over mime type", { fileName: "model", mimeType: "image/jpeg" }, "model"],
  ["windows path", { fileName: "C:\\Users\\pi\\x.jpg" }, "Users/pi/x.jpg"],
  ["windows path, lower-case drive, slashes", { fileName: "c:/data/x.jpg" }, "data/x.jpg"],
  ["backslash is a separator", { fileName: "dir\\x.jpg" }, "dir/x.jpg"],
  ["UNC path", { fileName: "\\\\server\\share\\x.jpg" }, "server/share/x.jpg"],
  ["drive-relative name kept as a name", { fileName: "C:x.jpg" }, "C:x.jpg"],
  ["colon inside a name", { fileName: "2024-01-01T10:00:00.jpg" }, "2024-01-01T10:00:00.jpg"],
  ["similar top name is fine", { fileName: ".data-mirror-old/x" }, ".data-mirror-old/x"],
  ["dots inside a name are fine", { fileName: "a..b/...c" }, "a..b/...c"],
  ["255-byte component", { fileName: `d/${"a".repeat(255)}` }, `d/${"a".repeat(255)}`],
  ["254 bytes of two-byte chars", { fileName: "é".repeat(127) }, "é".repeat(127)],
  ["no name: id and mime extension", { mimeType: "image/jpeg" }, "f1.jpg"],
  ["no name: file_ext wins over mime", { mimeType: "image/jpeg", fileExt: ".jpeg" }, "f1.jpeg"],
  ["no name: mime with parameters", { mimeType: "image/png; charset=binary" }, "f1.png"],
  ["no name: unknown mime", { mimeType: "application/x-unheard-of" }, "f1"],
  ["no name: malformed mime", { mimeType: "not a mime type" }, "f1"],
  ["no name: no mime", {}, "f1"],
  ["no name: dot id with ext", { fileId: ".", fileExt: ".jpg" }, "..jpg"],
  ["no name: ext with separator falls back to mime", {
    fileExt: "a/b",
    mimeType: "text/plain",
  }, "f1.txt"],
];

Deno.test("localPathFor maps names inside the mirror", async (t) => {
  await loadMimeTable();
  for (const [name, fields, expected] of MAPPED) {
    await t.step(name, () => {
      assert.deepEqual(localPathFor(item(fields)), { ok: true, path: expected });
    });
  }
});

const REJECTED: [string, Partial<RemoteItem>, string][] = [
  ["state dir name deeper (a nested mirror's)", { fileName: "a/.data-mirror/x" }, ".data-mirror"],
  ["parent component", { fileName: "../x" }, '".." component'],
  ["parent component in the middle is not resolved", { fileName: "a/../b" }, '".." component'],
  ["parent component at the end", { fileName: "a/.." }, '".." component'],
  ["absolute climb", { fileName: "/../../etc/passwd" }, '".." component'],
  ["windows climb", { fileName: "..\\..\\x" }, '".." component'],
  ["windows climb after drive", { fileName: "C:\\..\\x" }, '".." component'],
  ["NUL", { fileName: "a\u0000b" }, "control character U+0000"],
  ["newline", { fileName: "a\nb" }, "control character U+000A"],
  ["DEL", { fileName: "a\u007fb" }, "control character U+007F"],
  ["C1 control", { fileName: "a\u0085b" }, "control character U+0085"],
  ["lone surrogate", { fileName: "x\uD800y" }, "lone UTF-16 surrogate"],
  ["256-byte component", { fileName: "a".repeat(256) }, "longer than 255 bytes"],
  ["256 bytes of two-byte chars", { fileName: `d/${"é".repeat(128)}` }, "longer than 255 bytes"],
  ["appended ext pushes past 255", {
    fileName: "a".repeat(250),
    fileExt: ".tflite",
  }, "longer than 255 bytes"],
  ["path over 4096 bytes", {
    fileName: `${"a".repeat(200)}/`.repeat(20) + "b".repeat(100),
  }, "longer than 4095 bytes"],
  ["only a slash", { fileName: "/" }, "names no file"],
  ["only dots", { fileName: "./." }, "names no file"],
  ["state dir", { fileName: ".data-mirror/state.json" }, ".data-mirror"],
  ["state dir, absolute", { fileName: "/.data-mirror/x" }, ".data-mirror"],
  ["state dir, other case", { fileName: ".DATA-Mirror/x" }, ".data-mirror"],
  ["state dir after ./", { fileName: "./.data-mirror/x" }, ".data-mirror"],
  ["state dir, windows", { fileName: "\\.data-mirror\\x" }, ".data-mirror"],
  ["state dir itself", { fileName: ".data-mirror" }, ".data-mirror"],
  ["ext with a control character", { fileName: "m", fileExt: ".j\u0000g" }, "U+0000"],
  ["no name, no id", { fileId: "" }, "neither a file_name nor a file id"],
  ["id with slash", { fileId: "org/loc/f1" }, "path separator"],
  ["id with backslash", { fileId: "a\\b" }, "path separator"],
  ["id ..", { fileId: ".." }, '".." component'],
  ["id .", { fileId: "." }, "names no file"],
  ["id is the state dir", { fileId: ".data-mirror" }, ".data-mirror"],
  ["id with NUL", { fileId: "f\u00001" }, "U+0000"],
];

Deno.test("localPathFor rejects unsafe names with a reason", async (t) => {
  for (const [name, fields, expected] of REJECTED) {
    await t.step(name, () => {
      const local = localPathFor(item(fields));
      assert.equal(local.ok, false);
      if (!local.ok) assert.ok(local.reason.includes(expected), local.reason);
    });
  }
});

Deno.test("rejection reasons quote the name escaped and cut", () => {
  const control = localPathFor(item({ fileName: "bad\u0085/../x" }));
  assert.deepEqual(control, {
    ok: false,
    reason: 'file_name "bad\\u0085/../x" contains the control character U+0085',
  });
  const long = localPathFor(item({ fileName: `../${"z".repeat(500)}` }));
  assert.equal(long.ok, false);
  if (!long.ok) {
    assert.equal(long.reason, `file_name "../${"z".repeat(97)}…" has a ".." component`);
  }
  const id = localPathFor(item({ fileId: "a/b" }));
  assert.deepEqual(id, { ok: false, reason: 'file id "a/b" contains a path separator' });
  // A name that passes alone and fails with its extension: the extension is named too (it was
  // the name that was blamed).
  const ext = localPathFor(item({ fileName: "y", fileExt: ".a\u0000b" }));
  assert.deepEqual(ext, {
    ok: false,
    reason: 'file_name "y" with file_ext ".a\\u0000b" contains the control character U+0000',
  });
  const longExt = localPathFor(item({ fileName: "z", fileExt: `.${"e".repeat(300)}` }));
  assert.equal(longExt.ok, false);
  if (!longExt.ok) assert.match(longExt.reason, /^file_name "z" with file_ext "\.e+…" has a name/);
});

Deno.test("extensionFor: file_ext, else the mime type's extension, else nothing", async (t) => {
  await loadMimeTable();
  const cases: [Partial<RemoteItem>, string][] = [
    [{ fileExt: ".jpeg" }, ".jpeg"],
    [{ fileExt: "jpeg" }, ".jpeg"],
    [{ fileExt: ".tar.gz" }, ".tar.gz"],
    [{ fileExt: ".png", mimeType: "image/jpeg" }, ".png"],
    [{ mimeType: "image/jpeg" }, ".jpg"],
    [{ mimeType: "IMAGE/PNG" }, ".png"],
    [{ mimeType: "application/octet-stream" }, ".bin"],
    [{ mimeType: "text/plain; charset=utf-8" }, ".txt"],
    [{ mimeType: "application/x-unheard-of" }, ""],
    [{ mimeType: "garbage" }, ""],
    [{ mimeType: "/" }, ""],
    [{ mimeType: "\u0000" }, ""],
    [{}, ""],
    [{ fileExt: "." }, ""],
    [{ fileExt: "a/b", mimeType: "image/png" }, ".png"],
  ];
  for (const [fields, expected] of cases) {
    await t.step(JSON.stringify(fields), () => assert.equal(extensionFor(item(fields)), expected));
  }
});

Deno.test("splitRelativePath normalises or rejects", async (t) => {
  const cases: [string, string[] | string][] = [
    ["a", ["a"]],
    ["a/", ["a"]],
    ["./a", ["a"]],
    ["a//b/", ["a", "b"]],
    ["a/./b/.", ["a", "b"]],
    ["", []],
    [".", []],
    ["./", []],
    ["/a", "is absolute"],
    ["..", '".." component'],
    ["a/../b", '".." component'],
    ["a\\b", "contains a backslash"],
    ["a\tb", "U+0009"],
  ];
  for (const [text, expected] of cases) {
    await t.step(JSON.stringify(text), () => {
      const split = splitRelativePath(text);
      if (Array.isArray(expected)) assert.deepEqual(split, { ok: true, components: expected });
      else assert.ok(!split.ok && split.reason.includes(expected));
    });
  }
});

Deno.test("isStateDirPath matches a component at any depth, case and trailing dots or spaces aside", () => {
  assert.equal(STATE_DIR_NAME, ".data-mirror");
  for (
    const path of [
      ".data-mirror",
      ".data-mirror/x",
      "./.data-mirror/x",
      ".Data-Mirror/y",
      "a/.data-mirror/x",
      // FAT and exFAT drop trailing dots and spaces: these open the state folder there.
      ".data-mirror./placed",
      ".data-mirror../partial/x.part",
      "a/.data-mirror . /x",
    ]
  ) {
    assert.equal(isStateDirPath(path), true, path);
  }
  for (
    const path of ["a/.data-mirror-2/x", ".data-mirror-2/x", "data-mirror/x", "", " .data-mirror/x"]
  ) {
    assert.equal(isStateDirPath(path), false, path);
  }
});

Deno.test("parentDirectories lists the directories a path needs", () => {
  assert.deepEqual(parentDirectories("a/b/c.jpg"), ["a", "a/b"]);
  assert.deepEqual(parentDirectories("c.jpg"), []);
});

Deno.test("a name ending in its extension keeps it, whatever the case rules of its letters (a final sigma)", () => {
  const item = { binaryDataId: "", fileId: "", mimeType: "", uri: "" };
  assert.deepEqual(localPathFor({ ...item, fileName: "a.Σ", fileExt: ".Σ" }), {
    ok: true,
    path: "a.Σ",
  });
  assert.deepEqual(localPathFor({ ...item, fileName: "ΟΔΟΣ.Σ", fileExt: "Σ" }), {
    ok: true,
    path: "ΟΔΟΣ.Σ",
  });
  assert.equal(pushedNameProblem("a.Σ", ".Σ"), undefined);
});

Deno.test("foldCase: a capital with no composed form folds as the composed small letter does", () => {
  // J + caron has no composed capital; j + caron composes to U+01F0 (likewise T̈ and ẗ, and Greek
  // letters with an iota subscript).
  const pairs = [
    ["J\u030Cobs", "\u01F0obs"],
    ["J\u030Cobs", "j\u030Cobs"],
    ["T\u0308", "\u1E97"],
    ["\u0386\u0345", "\u1FB4"],
  ];
  for (const [a, b] of pairs) assert.equal(foldCase(a), foldCase(b), JSON.stringify([a, b]));
});

Deno.test("foldLetterCaseSurely folds only what exFAT folds; foldLetterCase folds that and more", () => {
  // Folded alike by exFAT (measured on exfat-fuse): one file there.
  assert.equal(foldLetterCaseSurely("Cam/ÉTÉ-Ω.JPG"), "cam/été-ω.jpg");
  assert.equal(foldLetterCaseSurely("ΟΔΟΣ"), foldLetterCaseSurely("οδος"));
  // Two files on exFAT, one spelling to toLowerCase: never taken for one by the sure fold.
  for (const [upper, lower] of [["STRAẞE", "straße"], ["ǅ", "ǆ"], ["Ͱ", "ͱ"], ["Ⴀ", "ⴀ"]]) {
    assert.notEqual(foldLetterCaseSurely(upper), foldLetterCaseSurely(lower), upper);
    assert.equal(foldLetterCase(upper), foldLetterCase(lower), lower);
  }
});
