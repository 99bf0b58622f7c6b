/**
 * A text's SHA-256 digest in hex: the names of staged files and the module's config fingerprint.
 *
 * @example
 * ```ts
 * await sha256Hex(""); // "e3b0c442...b855"
 * ```
 *
 * @module
 */
/** The SHA-256 digest of a text, as 64 lowercase hex digits. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
