/** The remote the tests reach a local platform with. */
import { ViamRemote, type ViamRemoteOptions } from "../../src/remote/viam_remote.ts";

/**
 * A remote with `platform`'s key, at its URL, or with `options` over that (a relay's URL in front
 * of it, a shorter call timeout).
 */
export function remoteOf(
  platform: { url: string; apiKeyId: string; apiKey: string },
  options: Partial<ViamRemoteOptions> = {},
): ViamRemote {
  return new ViamRemote({
    appUrl: platform.url,
    apiKeyId: platform.apiKeyId,
    apiKey: platform.apiKey,
    ...options,
  });
}
