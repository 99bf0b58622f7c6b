/** What replaces a secret in anything the module sends out. */
export const REDACTED = "[redacted]";

// Attribute (or log field) names whose values are secrets: `app_api_key`, `token`, `password`...
// `app_api_key_id` names a key without granting anything and stays readable.
const SECRET_NAME = /(api_?key|secret|token|password|passphrase)$/i;

// Shorter values are not real credentials, and scrubbing them would mangle ordinary text.
const MIN_SECRET_LENGTH = 6;

/**
 * Keeps secrets out of what leaves the module (log entries, error messages, DoCommand and GetStatus
 * results): it remembers the secret attribute values of every config it was shown and replaces them
 * wherever they appear. Defence in depth: the engine is meant to never put a secret there at all.
 */
export class SecretRedactor {
  #secrets = new Set<string>();

  /** True when a field or attribute with this name holds a secret. */
  static isSecretName(name: string): boolean {
    return SECRET_NAME.test(name);
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
    let result = text;
    for (const secret of this.#secrets) result = result.replaceAll(secret, REDACTED);
    return result;
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
