/**
 * Reads the `--config` file: a JSON object of the module's attributes, a resource config from the
 * Viam app with an `attributes` member, or a whole machine config holding one data-mirror resource
 * (whose attributes are taken; with none or several, the error names them). A machine config read
 * as attributes would have no filter and mirror everything the key can read.
 *
 * Whatever file is named (a device, a fifo, a directory, a huge file, a binary, `/etc/shadow`), the
 * answer is bounded and quotes nothing of the file: only regular files up to
 * {@linkcode _MAX_CONFIG_FILE_BYTES} are read, text must be UTF-8, and a JSON syntax error is named
 * by line and column, never by the bytes there (the runtime's own message quotes them).
 *
 * @module
 */
import { isAbsolute } from "node:path";
import { MIRROR_MODEL } from "../config.ts";
import { describeError } from "../remote/errors.ts";

/** The largest config file read: a real one is a few hundred bytes. */
const _MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** A config file that cannot be used; the message names the file and what is wrong. */
export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigFileError";
  }
}

/**
 * The attributes a config file holds.
 *
 * @throws {ConfigFileError} when the file is missing, not a regular file, too large, not UTF-8,
 * not JSON, or not an object.
 *
 * @example
 * ```ts
 * const attributes = await readConfigFile("attributes.json");
 * ```
 */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  if (path === "") {
    // `--config "$CONFIG"` with the variable unset: without the file there would be no filter.
    throw new ConfigFileError("--config was given an empty path (an unset variable?): name a file");
  }
  if (path === "-") {
    throw new ConfigFileError("--config - (standard input) is not read: name a file");
  }
  const name = `config file ${_shown(path)}`;
  const bytes = await _readBounded(path, name);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigFileError(`${name} is not UTF-8 text: expected a JSON object of attributes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigFileError(`${name} is not valid JSON${_where(text)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigFileError(`${name} must hold a JSON object of attributes`);
  }
  const twice = _duplicateKey(text);
  if (twice !== undefined) {
    // JSON.parse keeps the last one in silence: `protected_dirs` written twice would unprotect the
    // first list's folders (as a flag given twice is refused, so is this).
    const key = /^[A-Za-z_]{1,40}$/.test(twice.key) ? `the key "${twice.key}"` : "a key";
    throw new ConfigFileError(
      `${name} holds ${key} twice in one object (again at line ${twice.line}): only the last ` +
        "would count; remove one",
    );
  }
  const record = value as Record<string, unknown>;
  if (_MACHINE_KEYS.some((key) => Array.isArray(record[key]))) return _resourceOf(record, name);
  const nested = record.attributes;
  if (
    typeof nested === "object" && nested !== null && !Array.isArray(nested) &&
    record.app_api_key === undefined
  ) {
    return nested as Record<string, unknown>;
  }
  return record;
}

/** The top-level lists of a machine config that hold resources. */
const _MACHINE_PARTS = ["services", "components"] as const;
/** Top-level lists no attributes file has: a machine config. */
const _MACHINE_KEYS = [..._MACHINE_PARTS, "modules"] as const;

/** The attributes of the one data-mirror resource of a machine config. */
function _resourceOf(machine: Record<string, unknown>, name: string): Record<string, unknown> {
  const mirrors = _MACHINE_PARTS.flatMap((key) => Array.isArray(machine[key]) ? machine[key] : [])
    .filter((resource): resource is Record<string, unknown> =>
      typeof resource === "object" && resource !== null && resource.model === MIRROR_MODEL
    );
  if (mirrors.length !== 1) {
    const names = mirrors.map((resource) => _shown(String(resource.name ?? "")));
    const found = mirrors.length === 0
      ? `no ${MIRROR_MODEL} resource`
      : `${mirrors.length} ${MIRROR_MODEL} resources (${names.join(", ")})`;
    throw new ConfigFileError(
      `${name} is a machine config with ${found}: it needs exactly one, or a file of one ` +
        "resource's attributes",
    );
  }
  const attributes = mirrors[0].attributes;
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    throw new ConfigFileError(
      `${name}: its ${MIRROR_MODEL} resource has no "attributes" object`,
    );
  }
  return attributes as Record<string, unknown>;
}

/** The file's bytes: a regular file of at most the cap, else an error saying which rule it broke. */
async function _readBounded(path: string, name: string): Promise<Uint8Array> {
  // Checked before opening: opening a fifo would wait for a writer.
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new ConfigFileError(`cannot read ${name}: ${describeError(error)}${_from(path, error)}`);
  }
  _checkKind(info, name);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new ConfigFileError(`cannot read ${name}: ${describeError(error)}`);
  }
  try {
    // Again on what was opened: the path may have been replaced meanwhile.
    _checkKind(await file.stat(), name);
    const buffer = new Uint8Array(_MAX_CONFIG_FILE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = await file.read(buffer.subarray(length));
      if (read === null) break;
      length += read;
    }
    if (length > _MAX_CONFIG_FILE_BYTES) _tooLarge(name);
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    throw new ConfigFileError(`cannot read ${name}: ${describeError(error)}`);
  } finally {
    file.close();
  }
}

function _checkKind(info: Deno.FileInfo, name: string): void {
  if (!info.isFile) {
    const kind = info.isDirectory
      ? "a directory"
      : info.isFifo
      ? "a fifo"
      : info.isCharDevice || info.isBlockDevice
      ? "a device"
      : info.isSocket
      ? "a socket"
      : "not a regular file";
    throw new ConfigFileError(`${name} is ${kind}: expected a regular file holding a JSON object`);
  }
  if (info.size > _MAX_CONFIG_FILE_BYTES) _tooLarge(name);
}

function _tooLarge(name: string): never {
  throw new ConfigFileError(
    `${name} is larger than ${_MAX_CONFIG_FILE_BYTES / 1024 / 1024} MiB: expected a JSON object ` +
      `of attributes (a few hundred bytes)`,
  );
}

/**
 * For a relative path not found, where it was looked for: `deno task` runs in the checkout's root,
 * not where the command was typed.
 */
function _from(path: string, error: unknown): string {
  if (isAbsolute(path) || !(error instanceof Deno.errors.NotFound)) return "";
  try {
    return ` (looked for in ${
      _shown(Deno.cwd())
    }: a relative path is read from the working folder)`;
  } catch {
    return ""; // the working folder not to be read
  }
}

/** A path for a message: quoted, control characters escaped, cut to a readable length. */
function _shown(path: string): string {
  return JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
}

/** ` at line L, column C` for the first JSON syntax error in `text`, or "" when not found. */
function _where(text: string): string {
  const offset = _jsonErrorOffset(text);
  if (offset < 0) return "";
  if (offset >= text.length) return " (it ends too early)";
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return ` at line ${line}, column ${column}`;
}

type _Expect = "value" | "value-or-end" | "key" | "key-or-end" | "colon" | "comma-or-end" | "end";

const _NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const _LITERAL = /true|false|null/y;
// A string body: any character but `"`, `\` and controls, or an escape.
// deno-lint-ignore no-control-regex -- control characters are exactly what JSON forbids here
const _STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * The offset of the first JSON syntax error in `text` (`text.length` when it ends too early), or
 * -1 when it has none. Iterative, so deep nesting cannot overflow the stack.
 */
function _jsonErrorOffset(text: string): number {
  const stack: string[] = [];
  let expect: _Expect = "value";
  let i = 0;
  const after = (): _Expect => (stack.length === 0 ? "end" : "comma-or-end");
  const match = (pattern: RegExp): boolean => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) return false;
    i = pattern.lastIndex;
    return true;
  };
  while (true) {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
    if (expect === "end") return i < text.length ? i : -1;
    if (i >= text.length) return i;
    const c = text[i];
    switch (expect) {
      case "value":
      case "value-or-end":
        if (expect === "value-or-end" && c === "]") {
          i++;
          stack.pop();
          expect = after();
        } else if (c === "{" || c === "[") {
          i++;
          stack.push(c);
          expect = c === "{" ? "key-or-end" : "value-or-end";
        } else if (c === '"' ? match(_STRING) : match(_NUMBER) || match(_LITERAL)) {
          expect = after();
        } else {
          return c === '"' ? _stringErrorOffset(text, i) : i;
        }
        break;
      case "key":
      case "key-or-end":
        if (expect === "key-or-end" && c === "}") {
          i++;
          stack.pop();
          expect = after();
        } else if (c === '"') {
          if (!match(_STRING)) return _stringErrorOffset(text, i);
          expect = "colon";
        } else {
          return i;
        }
        break;
      case "colon":
        if (c !== ":") return i;
        i++;
        expect = "value";
        break;
      case "comma-or-end": {
        const open = stack[stack.length - 1];
        if (c === ",") {
          i++;
          expect = open === "{" ? "key" : "value";
        } else if (c === (open === "{" ? "}" : "]")) {
          i++;
          stack.pop();
          expect = after();
        } else {
          return i;
        }
      }
    }
  }
}

/**
 * The first key that one object of `text` (valid JSON) holds twice, with the line it comes again
 * at; undefined when there is none. Iterative, as `_jsonErrorOffset`.
 */
function _duplicateKey(text: string): { key: string; line: number } | undefined {
  const objects: (Set<string> | undefined)[] = []; // the keys of each open object; arrays: undefined
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      _STRING.lastIndex = i;
      _STRING.test(text);
      const end = _STRING.lastIndex;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        const keys = objects[objects.length - 1]!;
        if (keys.has(key)) return { key, line: text.slice(0, i).split("\n").length };
        keys.add(key);
        expectKey = false;
      }
      i = end - 1;
    } else if (c === "{") {
      objects.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      objects.push(undefined);
    } else if (c === "}" || c === "]") {
      objects.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = objects[objects.length - 1] !== undefined;
    }
  }
  return undefined;
}

/** Where the string starting at `start` goes wrong. */
function _stringErrorOffset(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return -1;
    if (c < 0x20) return i;
    if (c === 0x5c) {
      const next = text[i + 1];
      if (next === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return i;
        i += 6;
        continue;
      }
      if (next === undefined || !`"\\/bfnrt`.includes(next)) return i;
      i += 2;
      continue;
    }
    i++;
  }
  return text.length;
}
