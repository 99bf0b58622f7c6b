/**
 * The one place secrets are scrubbed from text: config messages ({@linkcode scrubSecrets} with the
 * key), the module's logs and results ({@linkcode SecretRedactor}, which remembers every config's
 * secrets) and the CLI's usage errors ({@linkcode redactArguments}). Defence in depth: no message is
 * meant to quote a key in the first place.
 *
 * @example
 * ```ts
 * import { scrubSecrets } from "./redaction.ts";
 *
 * scrubSecrets("bad value s3cr3t-key", ["s3cr3t-key"]); // "bad value [redacted]"
 * ```
 *
 * @module
 */

/** What replaces a secret in anything the program prints or sends out. */
export const REDACTED = "[redacted]";

// Attribute (or log field) names whose values are secrets: `app_api_key`, `token`, `password`...
// `app_api_key_id` names a key without granting anything and stays readable.
const _SECRET_NAME = /(api_?key|secret|token|password|passphrase)$/i;

/** Shorter values are not real credentials, and scrubbing them would mangle ordinary text. */
export const MIN_SECRET_LENGTH = 6;

/**
 * `text` with every occurrence of each secret (of at least 6 characters, longest first so that a
 * key containing another is replaced whole) replaced by `replacement`, as written and as a JSON
 * string holds it (a key with `"` or `\` in a name or value the text quotes as JSON).
 */
export function scrubSecrets(
  text: string,
  secrets: Iterable<string>,
  replacement: string = REDACTED,
): string {
  const forms = [...secrets].filter((secret) => secret.length >= MIN_SECRET_LENGTH)
    .flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  const real = [...new Set(forms)].sort((a, b) => b.length - a.length);
  let result = text;
  for (const secret of real) result = result.replaceAll(secret, replacement);
  return result;
}

/**
 * A usage error with every argument that could be a secret hidden: whatever follows `=` in an
 * option, every bare word but the command names in `commands` (wherever they stand: `help module`
 * must not turn every "module" of the help into a placeholder), and the given `secrets` (the
 * `VIAM_API_KEY` value). Commander quotes what was typed; a key given to a misspelt flag must not be
 * printed back. The values of the options in `plainOptions` (a choice such as `--log-level`) are
 * shown: `argument 'verbose' is invalid` says what is wrong, `'[redacted]'` does not.
 */
export function redactArguments(
  text: string,
  args: readonly string[],
  options: {
    commands: readonly string[];
    secrets: Iterable<string>;
    plainOptions?: readonly string[];
  },
): string {
  const plain = new Set(options.plainOptions);
  const candidates = new Set(options.secrets);
  args.forEach((arg, index) => {
    const eq = arg.indexOf("=");
    if (arg.startsWith("-") && eq > 0) {
      if (!plain.has(arg.slice(0, eq))) candidates.add(arg.slice(eq + 1));
    } else if (!arg.startsWith("-") && !options.commands.includes(arg)) {
      if (!plain.has(args[index - 1])) candidates.add(arg);
    }
  });
  return scrubSecrets(text, candidates);
}

/**
 * Keeps secrets out of what leaves the module (log entries, error messages, DoCommand and GetStatus
 * results): it remembers the secret attribute values of every config it was shown and replaces them
 * wherever they appear. Defence in depth: the engine is meant to never put a secret there at all.
 */
export class SecretRedactor {
  #secrets = new Set<string>();

  /** True when a field or attribute with this name holds a secret. */
  static isSecretName(name: string): boolean {
    return _SECRET_NAME.test(name);
  }

  /** Remembers the secret values found (at any depth) in a resource's attributes. */
  remember(attributes: unknown): void {
    if (Array.isArray(attributes)) {
      for (const item of attributes) this.remember(item);
      return;
    }
    if (attributes === null || typeof attributes !== "object") return;
    for (const [name, value] of Object.entries(attributes)) {
      if (
        typeof value === "string" && SecretRedactor.isSecretName(name) &&
        value.trim().length >= MIN_SECRET_LENGTH
      ) {
        // Both forms: the config uses the key trimmed, so that is what messages would show.
        this.#secrets.add(value);
        this.#secrets.add(value.trim());
      } else {
        this.remember(value);
      }
    }
  }

  /** The text with every remembered secret replaced by {@linkcode REDACTED}. */
  scrub(text: string): string {
    return scrubSecrets(text, this.#secrets);
  }

  /** A copy of a JSON value with every string scrubbed and every secret-named field redacted. */
  scrubJson(value: unknown): unknown {
    if (typeof value === "string") return this.scrub(value);
    if (Array.isArray(value)) return value.map((item) => this.scrubJson(item));
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value).map((
        [name, item],
      ) => [name, SecretRedactor.isSecretName(name) ? REDACTED : this.scrubJson(item)]),
    );
  }
}
