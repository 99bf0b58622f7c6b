/**
 * Clients of the local data platform for tests: the real SDK client, and an access token obtained
 * the way the SDK obtains it (a gRPC-web `Authenticate` call), for bearer-authenticated downloads.
 *
 * @module
 */

import { createPromiseClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { createViamClient, type ViamClient } from "@viamrobotics/sdk";
import type { Platform } from "./platform.ts";
import { AuthService } from "./wire.ts";

/** Which of the platform's keys to use; defaults to its first. */
export interface ClientKey {
  /** The API key id. */
  apiKeyId?: string;
  /** The API key. */
  apiKey?: string;
}

/** A real `@viamrobotics/sdk` client of the platform (it authenticates with the API key). */
export function connectSdk(platform: Platform, key: ClientKey = {}): Promise<ViamClient> {
  return createViamClient({
    serviceHost: platform.url,
    credentials: {
      type: "api-key",
      authEntity: key.apiKeyId ?? platform.apiKeyId,
      payload: key.apiKey ?? platform.apiKey,
    },
  });
}

/** A fresh access token for `authorization: Bearer <token>`, from the platform's `Authenticate`. */
export async function fetchAccessToken(platform: Platform, key: ClientKey = {}): Promise<string> {
  const transport = createGrpcWebTransport({ baseUrl: platform.url, httpVersion: "1.1" });
  const auth = createPromiseClient(AuthService, transport);
  const response = await auth.authenticate({
    entity: key.apiKeyId ?? platform.apiKeyId,
    credentials: { type: "api-key", payload: key.apiKey ?? platform.apiKey },
  });
  return response.accessToken as string;
}
