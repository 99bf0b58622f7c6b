/**
 * The body of `data-mirror validate --config FILE`: the same checks the module runs on its
 * attributes (the values the original module took for unset are taken so, with a warning that the
 * CLI's `sync` and `push` refuse them), without contacting anything, with the API key taken from
 * the environment when the file has none (as `sync --config` takes it; a warning says so).
 *
 * @module
 */
import { ConfigError, parseConfig } from "../config.ts";
import { checkConfigLocations } from "../fs/mirror_location.ts";
import { checkMirrorPlace } from "../fs/mirror_dir.ts";
import { readConfigFile } from "./config_file.ts";
import { attributesFromFlags } from "./config_from_flags.ts";
import { EXIT } from "./exit_codes.ts";
import type { CommandContext } from "./sync_command.ts";

// Where `validate` takes a key the file does not hold, as `sync --config` does.
const _KEY_VARIABLES: Record<string, string> = {
  app_api_key_id: "VIAM_API_KEY_ID",
  app_api_key: "VIAM_API_KEY",
};

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
  const fileAttributes = await readConfigFile(flags.config);
  const shown = JSON.stringify(flags.config);
  // The key as `sync --config` takes it: from the file, else from the environment (a systemd
  // unit's config file holds no secret). A module's attributes must hold it themselves.
  const attributes = attributesFromFlags({}, { fileAttributes, env: context.env });
  const keyFromEnvironment = ["app_api_key_id", "app_api_key"].filter((name) =>
    fileAttributes[name] === undefined && attributes[name] !== undefined
  );
  try {
    // The module's attributes, checked as the module checks them: the values the original module
    // took for unset are warned of, and so is the CLI's refusal of them (there, more likely a
    // variable left empty).
    const parsed = parseConfig(attributes, { env: context.env, unsetAsOriginal: true });
    const { config } = parsed;
    const warnings = [...parsed.warnings, ..._refusedByCli(attributes, context.env)];
    if (keyFromEnvironment.length > 0) {
      warnings.push(
        `${keyFromEnvironment.join(" and ")} not in the file: taken from the environment ` +
          "(VIAM_API_KEY_ID, VIAM_API_KEY) as sync --config does; as a module's attributes, " +
          "the file must hold them",
      );
    }
    await checkConfigLocations(config);
    await checkMirrorPlace(config);
    if (config.push !== undefined && !context.env("VIAM_MACHINE_PART_ID")) {
      // The module and `sync --watch` refuse it so; `push` needs --part-id. Said, not refused: the
      // file may be checked away from the machine it is for.
      warnings.push(
        "push_path is set but VIAM_MACHINE_PART_ID is not: the module and sync --watch refuse " +
          "this config here (push needs --part-id)",
      );
    }
    for (const warning of warnings) output.note(`warning: ${warning}`);
    const does = [
      ...(config.pushOnly ? [] : [`mirrors into ${config.mirrorRoot}`]),
      ...(config.push ? [`pushes ${config.push.pushRoot}`] : []),
    ];
    output.line(`${shown}: valid; ${does.join(", ")}${config.pushOnly ? " (push only)" : ""}`);
    output.document({
      command: "validate",
      valid: true,
      ...(config.pushOnly ? { pushOnly: true } : { mirrorRoot: config.mirrorRoot }),
      ...(config.push ? { pushRoot: config.push.pushRoot } : {}),
      warnings,
      exitCode: EXIT.ok,
    });
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    output.note(`${shown}: invalid`);
    // Each message names its attribute already; a key the file lacks may come from the environment.
    const issues = error.issues.map((issue) => {
      const variable = _KEY_VARIABLES[issue.field];
      return variable === undefined || fileAttributes[issue.field] !== undefined ? issue : {
        ...issue,
        hint: `set ${variable} in the environment, or ${issue.field} in the file`,
      };
    });
    for (const issue of issues) {
      output.note(`  ${issue.message}${"hint" in issue ? ` (${issue.hint})` : ""}`);
    }
    output.document({
      command: "validate",
      valid: false,
      error: "invalid configuration",
      issues,
      exitCode: EXIT.usage,
    });
    return EXIT.usage;
  }
}

/** What `sync --config` and `push --config` would refuse in attributes the module takes. */
function _refusedByCli(
  attributes: Record<string, unknown>,
  env: (name: string) => string | undefined,
): string[] {
  try {
    parseConfig(attributes, { env });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) =>
      `sync --config and push --config refuse this file: ${issue.message}`
    );
  }
}
