/**
 * The body of `data-mirror validate --config FILE`: the same checks the module runs on its
 * attributes, without contacting anything.
 *
 * @module
 */
import { ConfigError, parseConfig } from "../config.ts";
import { checkConfigLocations } from "../fs/mirror_location.ts";
import { readConfigFile } from "./config_file.ts";
import { EXIT } from "./exit_codes.ts";
import type { CommandContext } from "./sync_command.ts";

/** The `validate` command's options. */
export interface ValidateFlags {
  /** The config file. */
  config: string;
  /** One JSON document on stdout. */
  json?: boolean;
}

/**
 * Validates the file and resolves to 0 (valid, warnings on stderr) or 2 (every problem listed).
 *
 * @throws {ConfigFileError} when the file cannot be read as a JSON object.
 */
export async function runValidate(flags: ValidateFlags, context: CommandContext): Promise<number> {
  const { output } = context;
  const attributes = await readConfigFile(flags.config);
  const shown = JSON.stringify(flags.config);
  try {
    const { config, warnings } = parseConfig(attributes, { env: context.env });
    await checkConfigLocations(config);
    for (const warning of warnings) output.note(`warning: ${warning}`);
    output.line(`${shown}: valid; mirrors into ${config.mirrorRoot}`);
    output.document({
      command: "validate",
      valid: true,
      mirrorRoot: config.mirrorRoot,
      warnings,
      exitCode: EXIT.ok,
    });
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    output.note(`${shown}: invalid`);
    // Each message names its attribute already.
    for (const issue of error.issues) output.note(`  ${issue.message}`);
    output.document({
      command: "validate",
      valid: false,
      issues: error.issues,
      exitCode: EXIT.usage,
    });
    return EXIT.usage;
  }
}
