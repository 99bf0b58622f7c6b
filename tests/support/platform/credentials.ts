/**
 * What the local data platform accepts as proof of access: API keys (exchanged for access tokens
 * by `Authenticate`, or sent as `key_id`/`key` headers on downloads), the access tokens, and the
 * tokens of signed download URLs (HMAC of the item and the expiry, so they need no storage).
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** An API key: its id (the `authEntity`) and the key itself (the `payload`). */
export interface ApiKey {
  /** The key id. */
  id: string;
  /** The secret key. */
  key: string;
}

/** The verdict on a signed URL's token. */
export type SignedTokenCheck = "valid" | "expired" | "invalid";

/** The platform's keys and the tokens it issued. */
export class Credentials {
  /** The API keys `Authenticate` and downloads accept. */
  readonly apiKeys: readonly ApiKey[];
  #accessTokens = new Set<string>();
  #secret = randomBytes(32);

  /** Accepts these API keys; throws when there is none or one is empty. */
  constructor(apiKeys: readonly ApiKey[]) {
    if (apiKeys.length === 0) throw new Error("the platform needs at least one API key");
    for (const [i, k] of apiKeys.entries()) {
      if (k.id === "" || k.key === "") throw new Error(`apiKeys[${i}] has an empty id or key`);
    }
    this.apiKeys = apiKeys;
  }

  /** Whether `id` and `key` are one of the API keys. */
  acceptsApiKey(id: string, key: string): boolean {
    return this.apiKeys.some((k) => k.id === id && _sameText(k.key, key));
  }

  /** A new access token, valid until {@linkcode Credentials.revokeAccessTokens}. */
  issueAccessToken(): string {
    const token = randomBytes(24).toString("base64url");
    this.#accessTokens.add(token);
    return token;
  }

  /** Invalidates every access token issued so far (clients must authenticate again). */
  revokeAccessTokens(): void {
    this.#accessTokens.clear();
  }

  /** Whether an `authorization` header value is `Bearer <a token this platform issued>`. */
  acceptsBearer(authorization: string | null | undefined): boolean {
    const match = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    return match !== null && this.#accessTokens.has(match[1]);
  }

  /** The token of a signed URL for one item, valid until `expiresAtMs`. */
  sign(binaryDataId: string, expiresAtMs: number): string {
    return `${expiresAtMs}.${this.#mac(binaryDataId, expiresAtMs)}`;
  }

  /** Checks a signed URL's token for this item at time `nowMs`. */
  verify(token: string, binaryDataId: string, nowMs: number): SignedTokenCheck {
    const match = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (match === null) return "invalid";
    const expiresAtMs = Number(match[1]);
    if (!_sameText(match[2], this.#mac(binaryDataId, expiresAtMs))) return "invalid";
    return nowMs < expiresAtMs ? "valid" : "expired";
  }

  #mac(binaryDataId: string, expiresAtMs: number): string {
    return createHmac("sha256", this.#secret).update(`${binaryDataId}\n${expiresAtMs}`)
      .digest("base64url");
  }
}

/** Compares secrets in time independent of where they differ. */
function _sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
