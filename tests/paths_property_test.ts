import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import {
  directoriesOf,
  isStateDirPath,
  loadMimeTable,
  localPathFor,
  parentDirectories,
  splitRelativePath,
  STATE_DIR_NAME,
} from "../src/paths.ts";
import type { RemoteItem } from "../src/remote/remote_item.ts";

// A fixed seed keeps the suite deterministic; change it locally to explore further.
const SEED = 20240611;
const ROOT = "/home/pi/.viam/data_mirror";
const encoder = new TextEncoder();

/** Pieces hostile names are made of, glued with every kind of separator. */
const fragment = fc.oneof(
  fc.constantFrom(
    "..",
    ".",
    "",
    "...",
    STATE_DIR_NAME,
    ".DATA-MIRROR",
    "C:",
    "c:",
    "\u0000",
    "\n",
    "\u007f",
    "\u0085",
    "\uD800",
    "\uDFFF",
    "é",
    "😀",
    "a".repeat(255),
    "é".repeat(128),
    "x".repeat(300),
    "model",
    "x.jpg",
  ),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.string({ unit: "grapheme-ascii", maxLength: 8 }),
);
const separator = fc.constantFrom("/", "\\", "//", "/./", "/../", "\\..\\", ":/", ":\\");
const hostileName = fc.array(fc.tuple(fragment, separator), { maxLength: 14 }).chain((parts) =>
  fc.boolean().map((leading) =>
    (leading ? "/" : "") + parts.map(([text, sep]) => text + sep).join("").slice(0, -1)
  )
);
// Deep names around the 4096-byte path limit.
const longName = fc.array(fc.constantFrom("a".repeat(250), "é".repeat(120), "😀".repeat(60)), {
  minLength: 14,
  maxLength: 20,
}).map((parts) => parts.join("/"));
const hostileItem: fc.Arbitrary<RemoteItem> = fc.record({
  binaryDataId: fc.constant("org/loc/id"),
  fileId: fc.oneof(fragment, hostileName),
  fileName: fc.oneof(fc.constant(""), fragment, hostileName, longName),
  fileExt: fc.oneof(fc.constant(""), fragment, hostileName),
  mimeType: fc.oneof(
    fc.constantFrom("", "image/jpeg", "image/png; q=1", "garbage", "a/b/c"),
    fc.string({ unit: "binary", maxLength: 20 }),
  ),
  uri: fc.constant(""),
});

function hasControl(text: string): boolean {
  return [...text].some((char) => {
    const code = char.codePointAt(0)!;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });
}

Deno.test("localPathFor never leaves the mirror nor enters the state dir", async () => {
  await loadMimeTable();
  let accepted = 0;
  fc.assert(
    fc.property(hostileItem, (item) => {
      const first = localPathFor(item);
      assert.deepEqual(localPathFor(structuredClone(item)), first, "deterministic");
      if (!first.ok) {
        assert.ok(first.reason.length > 0);
        assert.ok(!hasControl(first.reason), "reason is escaped");
        return;
      }
      accepted++;
      const path = first.path;
      const full = posix.join(ROOT, path);
      const relative = posix.relative(ROOT, full);
      assert.ok(full.startsWith(`${ROOT}/`), full);
      assert.equal(relative, path, "joining changes nothing: the path is already normal");
      const state = posix.join(ROOT, STATE_DIR_NAME);
      assert.ok(full !== state && !full.startsWith(`${state}/`));
      const components = path.split("/");
      assert.ok(components[0].toLowerCase() !== STATE_DIR_NAME);
      for (const component of components) {
        assert.ok(component !== "" && component !== "." && component !== "..", path);
        assert.ok(encoder.encode(component).length <= 255);
        assert.ok(!component.includes("\\"));
      }
      assert.ok(encoder.encode(path).length <= 4096);
      assert.ok(!hasControl(path) && path.isWellFormed());
    }),
    { numRuns: 6000, seed: SEED },
  );
  // The generator must also exercise the accepting side, or the property says little.
  assert.ok(accepted > 500, `only ${accepted} names accepted`);
});

Deno.test("splitRelativePath output is normal and stable", () => {
  fc.assert(
    fc.property(fc.oneof(hostileName, fragment), (text) => {
      const split = splitRelativePath(text);
      if (!split.ok) return;
      const joined = split.components.join("/");
      if (joined !== "") assert.equal(posix.normalize(joined), joined);
      assert.deepEqual(splitRelativePath(joined), split, "idempotent");
      assert.ok(!split.components.some((c) => c === "" || c === "." || c === ".."));
    }),
    { numRuns: 5000, seed: SEED },
  );
});

Deno.test("isStateDirPath answers as comparing every part lowercased, whatever the letters", () => {
  // Letters whose case mapping reaches ASCII from elsewhere (dotted and dotless i, the Kelvin
  // sign, the long s) and case variants of the name, glued into paths.
  const part = fc.array(
    fc.constantFrom(
      ".",
      "d",
      "D",
      "a",
      "A",
      "t",
      "T",
      "-",
      "m",
      "M",
      "i",
      "I",
      "r",
      "R",
      "o",
      "O",
      "\u0130",
      "\u0131",
      "\u212A",
      "\u017F",
      "é",
      "x",
    ),
    { maxLength: 14 },
  ).map((chars) => chars.join(""));
  const path = fc.array(fc.oneof(part, fc.constantFrom(STATE_DIR_NAME, ".Data-Mirror")), {
    minLength: 1,
    maxLength: 4,
  }).map((parts) => parts.join("/"));
  fc.assert(
    fc.property(path, (p) => {
      const expected = p.split("/").some((x) => x.toLowerCase() === STATE_DIR_NAME);
      assert.equal(isStateDirPath(p), expected, JSON.stringify(p));
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

Deno.test("directoriesOf holds every parent folder of every path, and nothing else", () => {
  const name = fc.constantFrom("a", "b", "c", "é", "a b", "");
  const path = fc.array(name, { minLength: 1, maxLength: 5 }).map((parts) => parts.join("/"));
  fc.assert(
    fc.property(fc.array(path, { maxLength: 30 }), (paths) => {
      const expected = new Set(paths.flatMap((p) => parentDirectories(p)));
      assert.deepEqual([...directoriesOf(paths)].sort(), [...expected].sort());
    }),
    { seed: SEED, numRuns: 2000 },
  );
});
