/**
 * The confinement boundary: every name that comes from the data platform or from the config passes
 * through here before it becomes a path under the mirror root.
 *
 * Decisions (each tested in `tests/paths_test.ts` and `tests/paths_property_test.ts`):
 * - A `..` component anywhere is rejected, never resolved (`a/../b` is not turned into `b`): a name
 *   that tries to climb is hostile or broken, and guessing what it meant is how traversal bugs start.
 * - `.` and empty components (`a//b`, `./a`, a trailing `/`) are dropped.
 * - In a remote `file_name` a backslash is a separator, as on the Windows robot that uploaded it:
 *   `C:\Users\pi\x.jpg` becomes `Users/pi/x.jpg` (a leading drive letter is dropped like a leading
 *   `/`), and `..\..\x` is rejected like `../../x`. Linux would accept `\` as a plain character,
 *   but then one hostile name would mean different things on different systems.
 * - No component may be {@linkcode STATE_DIR_NAME}, compared without regard to case so
 *   that a case-insensitive file system (macOS) cannot alias the program's own area.
 * - NUL and other control characters (C0, DEL, C1) and lone UTF-16 surrogates are rejected: the
 *   first can truncate or corrupt names in system calls and logs, the last are not representable in
 *   UTF-8, so two different names could land on one file. For that same reason an item whose name
 *   was not valid UTF-8 on the wire (`RemoteItem.notUtf8`) is rejected.
 * - Limits follow Linux: a component over 255 bytes (UTF-8) is rejected, and so is a path whose
 *   absolute form (the mirror root, `/`, the path) would exceed {@linkcode MAX_ABSOLUTE_PATH_BYTES}:
 *   such a file can never be written, so it is refused up front as `rejected` instead of failing
 *   (and being retried) on every pass.
 *
 * @module
 */
import type { RemoteItem } from "./remote/remote_item.ts";

/** The program's own state and staging directory, directly inside the mirror root. */
export const STATE_DIR_NAME = ".data-mirror";

/**
 * Whether `name`, at the root of a disk mounted at a mirror or a push folder, is a folder of the
 * file system's, not theirs: `lost+found`, where e2fsck (and xfs_repair) keep what they recover, and
 * what Windows makes on every stick it sees (`System Volume Information`, `$RECYCLE.BIN`; any case:
 * exFAT and NTFS fold it). Passed by whole, never deleted, pruned or sent.
 */
export function isFileSystemFolderName(name: string): boolean {
  return _FILE_SYSTEM_FOLDERS.has(name.toLowerCase());
}

const _FILE_SYSTEM_FOLDERS = new Set(["lost+found", "system volume information", "$recycle.bin"]);

/**
 * Directories viam-server keeps directly under the Viam home: `packages` (modules and ML models),
 * `module-data` (modules' state), `capture` (the data manager's default capture directory: mirrored
 * files would be uploaded again), `diagnostics.data` (FTDC), `grpc` (viam-server's cached app
 * tokens, rdk `grpc/app_conn.go`), `bin` and `mongod-data` (the data pipelines' mongod, rdk
 * `services/datamanager`) and `packages-local` (local tarball modules, unpacked: rdk
 * `robot/packages` LocalPackagesDir, `packages` + "-local"). No mirror may be or lie inside one;
 * compared without regard to case (case-insensitive file systems).
 */
export const VIAM_OWNED_DIRS: readonly string[] = Object.freeze([
  "packages",
  "packages-local",
  "module-data",
  "capture",
  "diagnostics.data",
  "grpc",
  "bin",
  "mongod-data",
]);

/**
 * The {@linkcode VIAM_OWNED_DIRS} entry a folder name (a component right below the Viam home)
 * names, compared as {@linkcode isStateDirPath} compares: without regard to case, nor to trailing
 * dots and spaces, which FAT and exFAT drop (`Packages.` is `packages` on such a disk); or
 * undefined.
 */
export function viamOwnedDir(name: string): string | undefined {
  const folded = name.replace(_TRAILING_DOTS_AND_SPACES, "").toLowerCase();
  return VIAM_OWNED_DIRS.find((dir) => dir === folded);
}

/**
 * The longest absolute path Linux accepts in a system call (`PATH_MAX` is 4096 bytes with the NUL).
 */
export const MAX_ABSOLUTE_PATH_BYTES = 4095;

/** A mirror-relative posix path (normalised, no leading `/`), or why there can be none. */
export type LocalPath = { ok: true; path: string } | { ok: false; reason: string };

/**
 * The checked components of a relative path (possibly none, for `""`, `.` or `./`), or why the path
 * is unsafe.
 */
export type PathComponents = { ok: true; components: string[] } | { ok: false; reason: string };

const _MAX_COMPONENT_BYTES = 255;
const _MAX_PATH_BYTES = MAX_ABSOLUTE_PATH_BYTES;
const _DRIVE_LETTER = /^[A-Za-z]:\//;
const _encoder = new TextEncoder();

/**
 * Splits a relative posix path into its components, dropping empty and `.` components.
 *
 * Rejected, with a reason that says why: an absolute path (leading `/`), a backslash, a control
 * character, a lone surrogate, a `..` component, a component over 255 bytes (UTF-8), a path over
 * 4096 bytes. An empty result (`""`, `.`, `./`) is not rejected here: `components` is empty and the
 * caller says what that means in its context.
 *
 * @example
 * ```ts
 * splitRelativePath("./models//a/"); // { ok: true, components: ["models", "a"] }
 * splitRelativePath("a/../b"); // { ok: false, reason: 'has a ".." component' }
 * ```
 */
export function splitRelativePath(text: string): PathComponents {
  if (text.startsWith("/")) return { ok: false, reason: "is absolute" };
  if (text.includes("\\")) {
    return { ok: false, reason: "contains a backslash (use / between names)" };
  }
  if (!text.isWellFormed()) {
    return { ok: false, reason: "contains a lone UTF-16 surrogate (not valid Unicode)" };
  }
  const control = _controlCharacter(text);
  if (control !== undefined) {
    return { ok: false, reason: `contains the control character ${_codePoint(control)}` };
  }
  const components = text.split("/").filter((part) => part !== "" && part !== ".");
  if (components.includes("..")) return { ok: false, reason: 'has a ".." component' };
  if (components.some((part) => _longerThan(part, _MAX_COMPONENT_BYTES))) {
    return { ok: false, reason: `has a name longer than ${_MAX_COMPONENT_BYTES} bytes` };
  }
  if (_longerThan(components.join("/"), _MAX_PATH_BYTES)) {
    return {
      ok: false,
      reason: `is longer than ${_MAX_PATH_BYTES} bytes, the longest path the system accepts`,
    };
  }
  return { ok: true, components };
}

/**
 * Whether a mirror-relative posix path goes through a {@linkcode STATE_DIR_NAME} directory at any
 * depth (compared without regard to case, nor to trailing dots and spaces, which FAT and exFAT
 * drop from a name): the program's own area, or that of another mirror nested inside this one.
 * Such a path is never written for a remote item and never deleted.
 */
export function isStateDirPath(path: string): boolean {
  // Most paths never mention it: they are answered without splitting or lowercasing anything.
  if (!_STATE_DIR_HINT.test(path)) return false;
  return path.split("/").some((part) =>
    part.replace(_TRAILING_DOTS_AND_SPACES, "").toLowerCase() === STATE_DIR_NAME
  );
}

const _TRAILING_DOTS_AND_SPACES = /[. ]+$/;

/**
 * A path as a case-insensitive file system (exFAT, FAT, APFS and NTFS as set by default) compares
 * it, on the safe side: in Unicode's composed form (NFC) as well as {@linkcode foldLetterCase}. For
 * the checks where two spellings of one folder there, kept apart, would let the program delete or
 * write what it must not (protected folders, nested mirrors, overlapping mirrors and push folders).
 */
export function foldCase(path: string): string {
  // Lowered decomposed, then composed: a capital with no composed form ("J" and a caron) lowers to
  // a letter with one ("ǰ"), which NFC before lowering would leave apart from the composed one.
  return foldLetterCase(path.normalize("NFD")).normalize("NFC");
}

/**
 * A path as exFAT and FAT compare names, or folded further: in lower case, a final sigma as any
 * sigma (their table of capitals makes "ς", "σ" and "Σ" one letter, where `toLowerCase` lowers a
 * word-final "Σ" to "ς"), its Unicode form kept ("café" composed and decomposed are two files
 * there). `toLowerCase` also folds a few letters exFAT keeps apart (see
 * {@linkcode foldLetterCaseSurely}): two spellings alike under it may reach one file on such a disk
 * (which the disk then confirms), and those unlike never do.
 */
export function foldLetterCase(path: string): string {
  return path.toLowerCase().replaceAll("ς", "σ");
}

/**
 * {@linkcode foldLetterCase} of only the letters every exFAT folds (up to Cyrillic, U+04FF, measured
 * on exfat-fuse with mkfs.exfat's table): two spellings alike under it surely are one file there.
 * Letters past those (German "ẞ" and "ß", Georgian, Deseret), the titlecase digraphs ("ǅ") and a
 * few later Greek ones are two files there though `toLowerCase` makes them one: kept as they are.
 * For predicting, without the disk, what a pass will place (a dry run's count).
 *
 * @example
 * ```ts
 * foldLetterCaseSurely("Cam/A.JPG"); // "cam/a.jpg"
 * foldLetterCaseSurely("STRAẞE"); // "straẞe": exFAT keeps "ẞ" and "ß" apart
 * ```
 */
export function foldLetterCaseSurely(path: string): string {
  let folded = "";
  for (const letter of path) {
    const lower = foldLetterCase(letter);
    const kept = letter.codePointAt(0)! > 0x04ff || lower.length !== 1 ||
      _EXFAT_KEEPS_APART.test(letter);
    folded += kept ? letter : lower;
  }
  return folded;
}

/** Letters below U+0500 whose lower case exFAT (exfat-fuse) holds as another file. */
const _EXFAT_KEEPS_APART = /[\u01c4-\u01cc\u01f1-\u01f3\u0370-\u0377\u037f\u03cf\u03f4]/;

/**
 * Matches every path that has a {@linkcode STATE_DIR_NAME} part, and more. Without the `u` flag,
 * `i` folds only ASCII letters into each other; a part that lowercases to the name is made of
 * ASCII letters (the name's letters have no other lowercase source of one character).
 */
const _STATE_DIR_HINT = /\.data-mirror/i;

/** The directories a mirror-relative posix path needs, outermost first: `a/b/c` -> `["a", "a/b"]`. */
export function parentDirectories(path: string): string[] {
  const parents: string[] = [];
  for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
    parents.push(path.slice(0, slash));
  }
  return parents;
}

/** The folders that hold the given paths (`a/b/c` gives `a` and `a/b`). */
export function directoriesOf(paths: Iterable<string>): Set<string> {
  const directories = new Set<string>();
  for (const path of paths) {
    // Innermost first: a folder already in the set came with its own parents.
    for (let slash = path.lastIndexOf("/"); slash >= 0;) {
      const directory = path.slice(0, slash);
      if (directories.has(directory)) break;
      directories.add(directory);
      slash = slash === 0 ? -1 : path.lastIndexOf("/", slash - 1);
    }
  }
  return directories;
}

/** `mime-types`' lookup, once {@linkcode loadMimeTable} has loaded it. */
let _mimeExtension: ((type: string) => string | false) | undefined;

/**
 * Whether mapping `item` to its path needs the MIME table: it is named by its id, has no usable
 * `file_ext`, and has a MIME type ({@linkcode extensionFor}).
 */
export function needsMimeTable(item: RemoteItem): boolean {
  return item.fileName === "" && item.mimeType !== "" && _fileExt(item) === "";
}

/**
 * Loads the MIME table ({@linkcode extensionFor}); resolves at once when it is loaded. The list
 * stage calls it before handing on a page with an item that {@linkcode needsMimeTable}: most items
 * carry a `file_name` or a `file_ext`, and evaluating `mime-types` (2,500 types) cost every pass
 * 30-40 ms of CPU and 6 MB at start-up when it was a static import.
 */
export async function loadMimeTable(): Promise<void> {
  if (_mimeExtension !== undefined) return;
  // A literal specifier: Deno loads it with the Worker's module graph, under the bootstrap's read
  // permission, and evaluates it here.
  const { default: mime } = await import("mime-types");
  _mimeExtension = (type) => mime.extension(type);
}

/**
 * The extension a file named by its id gets: `file_ext` (with one leading `.`), else the usual
 * extension of its MIME type from `mime-types` (`image/jpeg` -> `.jpg`), else `""`.
 *
 * A `file_ext` holding a `/` or `\` is ignored (treated as absent): it could otherwise add a
 * directory to the name. An unknown or malformed MIME type gives no extension.
 *
 * @throws when the item needs the MIME table and {@linkcode loadMimeTable} has not loaded it (a
 * name guessed without it would be another file's name on the next pass).
 */
export function extensionFor(item: RemoteItem): string {
  const ext = _fileExt(item);
  if (ext !== "") return `.${ext}`;
  if (item.mimeType === "") return "";
  if (_mimeExtension === undefined) {
    throw new Error("the MIME table is needed to name this item: call loadMimeTable() first");
  }
  const fromMime = _mimeExtension(item.mimeType);
  return fromMime ? `.${fromMime}` : "";
}

/** Options of {@linkcode localPathFor}. */
export interface LocalPathOptions {
  /**
   * The longest relative path that still fits once joined to the mirror root: the caller passes
   * `MAX_ABSOLUTE_PATH_BYTES - (bytes of the real root) - 1`. Default: the Linux limit alone.
   */
  maxPathBytes?: number;
}

/**
 * Maps a remote item to its path inside the mirror: relative, posix, normalised, no leading `/`.
 *
 * - With a `file_name`: leading `/`s (and a Windows drive letter) are dropped, so
 *   `/home/pi/x.jpg` -> `home/pi/x.jpg`, and the directories are created inside the mirror. When
 *   `file_ext` is set and the last name does not already end with it (case aside), it is appended:
 *   `model` + `.tflite` -> `model.tflite`, `a.jpeg` + `.jpeg` stays `a.jpeg`. This is the rule of
 *   `viam data export`; it also fixes Python-SDK uploads whose stem has dots
 *   (`scan.2024.01` + `.jpg` -> `scan.2024.01.jpg`).
 * - Without: `<fileId><extensionFor(item)>`. An empty id, or one holding `/` or `\`, is rejected.
 *
 * Unsafe names are rejected (`ok: false`; the rules are in this file's module doc); the reason names
 * the problem and quotes the name with control characters escaped.
 */
export function localPathFor(item: RemoteItem, options: LocalPathOptions = {}): LocalPath {
  const local = _localPath(item);
  const limit = options.maxPathBytes ?? _MAX_PATH_BYTES;
  if (local.ok && _longerThan(local.path, limit)) {
    return {
      ok: false,
      reason: `${_label(item)} is too long: with the mirror's own path it would exceed ` +
        `${MAX_ABSOLUTE_PATH_BYTES} bytes, the longest path the system accepts`,
    };
  }
  return local;
}

/**
 * Why a file uploaded as `fileName` and `fileExt` (a path relative to the push folder and its
 * extension) would not come back to a mirror under that same path, or undefined when it would: what
 * `push` checks before it sends a file it then deletes, so that what one machine pushes reaches the
 * machines mirroring it (a name with a control character is refused by every mirror, one with a
 * backslash lands elsewhere).
 *
 * @example
 * ```ts
 * pushedNameProblem("cam/a.jpg", ".jpg"); // undefined
 * pushedNameProblem("back\\slash.txt", ".txt"); // "a mirror would write it as \"back/slash.txt\""
 * ```
 */
export function pushedNameProblem(fileName: string, fileExt: string): string | undefined {
  const local = localPathFor({
    binaryDataId: "",
    fileId: "",
    fileName,
    fileExt,
    mimeType: "",
    uri: "",
  });
  if (!local.ok) return local.reason;
  return local.path === fileName
    ? undefined
    : `a mirror would write it as ${quoteName(local.path)}`;
}

function _localPath(item: RemoteItem): LocalPath {
  if (item.notUtf8 !== undefined) {
    // Decoded, its bad bytes are U+FFFD: two names differing only there would land on one file.
    return { ok: false, reason: `${_label(item)}: its ${item.notUtf8} is not valid UTF-8` };
  }
  if (item.fileName !== "") return _pathFromFileName(item);
  const id = item.fileId;
  if (id === "") return { ok: false, reason: "has neither a file_name nor a file id" };
  if (id.includes("/") || id.includes("\\")) {
    return { ok: false, reason: `file id ${quoteName(id)} contains a path separator` };
  }
  return _checked(item, id + extensionFor(item));
}

function _label(item: RemoteItem): string {
  return item.fileName !== ""
    ? `file_name ${quoteName(item.fileName)}`
    : `file id ${quoteName(item.fileId)}`;
}

function _pathFromFileName(item: RemoteItem): LocalPath {
  const name = item.fileName.replaceAll("\\", "/").replace(_DRIVE_LETTER, "/").replace(/^\/+/, "");
  if (_isPlainPath(name)) {
    // What the general case below makes of it, without splitting and joining the name twice (a
    // pass maps every listed item: these were 13% of a no-op's allocations).
    const ext = _fileExt(item);
    const tail = `.${ext}`;
    const path = ext !== "" &&
        name.slice(name.lastIndexOf("/") + 1).slice(-tail.length).toLowerCase() !==
          tail.toLowerCase()
      ? `${name}.${ext}`
      : name;
    if (_isPlainPath(path)) return _checkedPlain(item, path);
  }
  const split = splitRelativePath(name);
  if (!split.ok) return { ok: false, reason: `${_label(item)} ${split.reason}` };
  const components = split.components;
  const ext = _fileExt(item);
  const last = components.length - 1;
  // The name's tail is lowercased on its own, as the extension is: lowercased whole, a final `Σ`
  // becomes `ς` where the extension's own becomes `σ` (`a.Σ` would get `.Σ` again).
  const tail = `.${ext}`;
  if (
    ext !== "" && last >= 0 &&
    components[last].slice(-tail.length).toLowerCase() !== tail.toLowerCase()
  ) {
    components[last] += `.${ext}`;
    // Checked again: the appended extension can push a name over the length limits, or hold a
    // control character; the name alone passed, so the reason names the extension too.
    const label = `${_label(item)} with file_ext ${quoteName(item.fileExt)}`;
    return _checked(item, components.join("/"), label);
  }
  return _checked(item, components.join("/"));
}

/**
 * `path` checked as the mirror path of `item`, named in the reason by `label` (by default its
 * file_name or id, quoted only then).
 */
function _checked(item: RemoteItem, path: string, label?: string): LocalPath {
  if (_isPlainPath(path)) return _checkedPlain(item, path, label);
  const split = splitRelativePath(path);
  label ??= _label(item);
  if (!split.ok) return { ok: false, reason: `${label} ${split.reason}` };
  if (split.components.length === 0) return { ok: false, reason: `${label} names no file` };
  return _checkedPlain(item, split.components.join("/"), label);
}

/** {@linkcode _checked} for a path already normalised and safe (see {@linkcode _isPlainPath}). */
function _checkedPlain(item: RemoteItem, normalised: string, label?: string): LocalPath {
  if (isStateDirPath(normalised)) {
    return {
      ok: false,
      reason: `${label ?? _label(item)} is inside ${STATE_DIR_NAME}, the program's own directory`,
    };
  }
  return { ok: true, path: normalised };
}

/** `file_ext` without its leading dots, or `""` when absent or holding a path separator. */
function _fileExt(item: RemoteItem): string {
  const ext = item.fileExt.replace(/^\.+/, "");
  return ext.includes("/") || ext.includes("\\") ? "" : ext;
}

/**
 * Whether `text` is a relative path that {@linkcode splitRelativePath} accepts and leaves as it is
 * (its components joined give `text` back), told in one scan without building anything: names
 * between single `/`s, none empty, `.` or `..`, none over 255 bytes, the whole at most 4,096; no
 * backslash, no control character, and no surrogate at all (a name holding one goes the general
 * way). Most names from the platform are such paths.
 */
function _isPlainPath(text: string): boolean {
  let pathBytes = 0;
  let start = 0; // where the current name starts
  let nameBytes = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text.charCodeAt(i) === 0x2f) {
      const length = i - start;
      if (length === 0) return false; // leading, trailing or doubled `/`, or an empty text
      if (length <= 2 && text.charCodeAt(start) === 0x2e) {
        if (length === 1 || text.charCodeAt(start + 1) === 0x2e) return false; // `.` or `..`
      }
      if (nameBytes > _MAX_COMPONENT_BYTES) return false;
      pathBytes += nameBytes + (i === text.length ? 0 : 1);
      start = i + 1;
      nameBytes = 0;
      continue;
    }
    const code = text.charCodeAt(i);
    if (_isControl(code) || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return false;
    nameBytes += code < 0x80 ? 1 : code < 0x800 ? 2 : 3;
  }
  return pathBytes <= _MAX_PATH_BYTES;
}

/**
 * Whether `text` takes more than `limit` bytes in UTF-8, encoded only when it could: a UTF-16 code
 * unit takes at most 3 bytes (a surrogate pair, two units, takes 4).
 */
function _longerThan(text: string, limit: number): boolean {
  return text.length * 3 > limit && _encoder.encode(text).length > limit;
}

/** C0 controls (NUL included), DEL and C1 controls. */
function _isControl(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

/** The first control character's code in `text`, if any. */
function _controlCharacter(text: string): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (_isControl(code)) return code;
  }
  return undefined;
}

function _codePoint(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * A name (or an id) from the platform quoted for a message: JSON-escaped, DEL and C1 controls
 * escaped too (JSON leaves them raw), cut at 100 characters; a newline or a terminal escape in it
 * can then neither forge a log line nor drive the terminal.
 */
export function quoteName(name: string): string {
  const cut = name.length > 100 ? `${name.slice(0, 100)}…` : name;
  let quoted = "";
  for (const char of JSON.stringify(cut)) {
    const code = char.charCodeAt(0);
    quoted += _isControl(code) ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return quoted;
}
