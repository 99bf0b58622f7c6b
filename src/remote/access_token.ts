/**
 * The access token of an API key, got by signing in once and shared by every call: a failed
 * sign-in is not kept (the next call tries again), and a token the platform refuses is dropped and
 * the call made once more with a new one. Calls in flight together that are refused together share
 * that new sign-in. The uploader (HTTP/2) and the sync side's remote (gRPC-web) each sign in over
 * their own transport, and both keep their token here.
 *
 * @example
 * ```ts
 * const token = new AccessToken(() => authenticate(apiKeyId, apiKey));
 * const page = await token.use((bearer) => listPage(bearer), { isRefused: isUnauthenticated });
 * ```
 *
 * @module
 */

/** Options of {@linkcode AccessToken.use}. */
export interface UseTokenOptions {
  /** True when the error says the platform refused the token (UNAUTHENTICATED). */
  isRefused: (error: unknown) => boolean;
  /** Bounds the wait for a sign-in (a timeout, the caller's signal); by default it is awaited. */
  wait?: (signingIn: Promise<string>) => Promise<string>;
}

/** See the module's notes. */
export class AccessToken {
  readonly #signIn: () => Promise<string>;
  #current?: Promise<string>;

  /** `signIn` asks the platform for a new token; it is called on first use and after a refusal. */
  constructor(signIn: () => Promise<string>) {
    this.#signIn = signIn;
  }

  /** Runs `call` with the token; when it is refused, runs it once more with a new one. */
  async use<T>(call: (token: string) => Promise<T>, options: UseTokenOptions): Promise<T> {
    for (let renewed = false;; renewed = true) {
      const pending = this.#token();
      const token = await (options.wait?.(pending) ?? pending);
      try {
        return await call(token);
      } catch (error) {
        if (renewed || !options.isRefused(error)) throw error;
        // Only the first of the calls refused together drops it; the others share the new one.
        if (this.#current === pending) this.#current = undefined;
      }
    }
  }

  /**
   * Starts the sign-in now if no token is had or coming, for the first call to find it under way.
   * A failure is not kept: the first call signs in again.
   */
  prefetch(): void {
    this.#token();
  }

  #token(): Promise<string> {
    if (this.#current === undefined) {
      const pending = this.#signIn();
      pending.catch(() => {
        if (this.#current === pending) this.#current = undefined;
      });
      this.#current = pending;
    }
    return this.#current;
  }
}
