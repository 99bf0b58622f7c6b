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

/**
 * A server that takes every request and never answers it (a firewall, a proxy, a half-open link),
 * counting the sign-ins it took; disposing of it answers them all and stops it.
 */
export function neverAnswering(): {
  url: string;
  apiKeyId: string;
  apiKey: string;
  signIns: () => number;
  [Symbol.asyncDispose]: () => Promise<void>;
} {
  let signIns = 0;
  const held: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (new URL(request.url).pathname.endsWith("/Authenticate")) signIns++;
    return new Promise<Response>((resolve) => held.push(() => resolve(new Response(null))));
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    apiKeyId: "id",
    apiKey: "key",
    signIns: () => signIns,
    [Symbol.asyncDispose]: async () => {
      for (const answer of held) answer();
      await server.shutdown();
    },
  };
}
