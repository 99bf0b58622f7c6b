/**
 * The names of the CLI's commands. Any other first argument that is not an option is a module socket
 * path (how viam-server starts a module). Kept free of imports: the permission bootstrap reads it.
 */
export const CLI_COMMANDS: readonly string[] = Object.freeze([
  "sync",
  "validate",
  "module",
  "help",
]);

/** The command that serves the module protocol: `data-mirror module [socket]`. */
export const MODULE_COMMAND = "module";
