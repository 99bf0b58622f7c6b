/**
 * The usage error of `push`, apart from the command's body so that the CLI can recognise it without
 * loading the uploader (HTTP/2 client and its descriptors) for every other command.
 *
 * @example
 * ```ts
 * import { PushUsageError } from "./push_usage_error.ts";
 *
 * throw new PushUsageError("push: --part-id is required");
 * ```
 *
 * @module
 */

/** A usage problem of `push` (exit 2), named for the flag at fault. */
export class PushUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PushUsageError";
  }
}
