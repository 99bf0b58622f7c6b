/**
 * The names of the program's commands: the CLI's (`sync`, `validate`, `completion`, `help`) and
 * `module` (viam-server's way in, handled by the program before the CLI). Any other first word is a
 * module address or a typo. Kept free of imports: the permission bootstrap reads it.
 *
 * @module
 */

/** Every command name, for the bootstrap and the "did you mean" of a misspelt command. */
export const CLI_COMMANDS: readonly string[] = Object.freeze([
  "sync",
  "validate",
  "push",
  "completion",
  "module",
  "help",
]);

/** The command that serves the module protocol: `data-mirror module [socket]`. */
export const MODULE_COMMAND = "module";
