/**
 * The CLI's exit codes, and their description for `--help` (the README lists the same).
 *
 * @module
 */

/** Exit codes of the CLI. A pass that both failed and was held back exits with `failed`. */
export const EXIT = Object.freeze(
  {
    /** The pass completed; `--watch` stopped by SIGINT or SIGTERM. */
    ok: 0,
    /** The pass failed (listing, lock, credentials) or some items failed. */
    failed: 1,
    /** A usage or configuration error: nothing was done. */
    usage: 2,
    /** The pass completed but a guard held work back (deletions or downloads); see `held back:`. */
    heldBack: 3,
  } as const,
);

/** The exit codes as `--help` shows them. */
export const EXIT_CODES_HELP = [
  "Exit codes:",
  "  0    the pass completed (--watch: stopped by SIGINT or SIGTERM)",
  "  1    the pass failed, or some files failed, or stdout could not be written",
  "  2    usage or configuration error; nothing was done",
  "  3    the pass completed but a guard held work back (see the held back: line)",
  "  130  a one-shot pass interrupted by SIGINT (143: SIGTERM); partial downloads resume next time",
  "  141  stdout's reader went away (| head): stopped, as on SIGPIPE",
].join("\n");

/** The exit codes of `push` as its `--help` shows them (no guard, no --watch, no downloads). */
export const PUSH_EXIT_CODES_HELP = [
  "Exit codes:",
  "  0    the push pass completed",
  "  1    the pass failed, some files failed, or files cut off earlier wait for their check",
  "  2    usage or configuration error; nothing was done",
  "  130  interrupted by SIGINT (143: SIGTERM); files cut off go again next time",
  "  141  stdout's reader went away (| head): stopped, as on SIGPIPE",
].join("\n");
