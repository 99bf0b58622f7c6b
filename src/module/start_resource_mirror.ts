/**
 * The start of one module resource's mirror: its root claimed among the module's resources, its loop
 * started, and its status kept across restarts in `VIAM_MODULE_DATA`.
 *
 * @module
 */
import { join } from "node:path";
import { assertPushPartId, type MirrorConfig, parseConfig } from "../config.ts";
import { resolveMirrorRoot } from "../fs/mirror_location.ts";
import { SecretRedactor } from "../redaction.ts";
import { describeError } from "../remote/errors.ts";
import type { Logger } from "../logger.ts";
import type { MirrorController, MirrorStatus } from "../mirror_controller.ts";
import { MirrorLoop, type MirrorLoopOptions } from "../mirror_loop.ts";
import { createPushSide } from "../push/push_side.ts";
import { pushFolderMade } from "../push/run_push_pass.ts";
import type { MirrorRoots } from "./mirror_roots.ts";
import type { MirrorResource } from "./module_service.ts";
import {
  configFingerprint,
  readStatusFile,
  statusFilePath,
  writeStatusFile,
} from "./status_file.ts";

/** Options of {@linkcode startResourceMirror}. */
export interface StartResourceMirrorOptions {
  /** Reads the environment (`VIAM_HOME`, `HOME`) for the config. */
  env: (name: string) => string | undefined;
  /** `VIAM_MODULE_DATA`, where statuses are kept; without it nothing is saved. */
  moduleData: string | undefined;
  /** The mirror roots of the module's other resources. */
  roots: MirrorRoots;
  /** Loop options for tests (the remote, retry tuning); the rest is set here. */
  loop?: Partial<MirrorLoopOptions>;
}

/**
 * Throws the {@linkcode OverlappingMirrorError} {@linkcode startResourceMirror} would for
 * `resource`'s folders, the ones its running configuration holds left out: checked before that
 * one is stopped, so that a reconfiguration refused for overlapping another resource leaves the
 * running one as it is (its pass not cut off, no pass started again). Invalid attributes pass
 * (the config check tells them).
 */
export function assertResourceRootsFree(
  resource: MirrorResource,
  options: Pick<StartResourceMirrorOptions, "env" | "roots">,
): void {
  let config: MirrorConfig;
  try {
    config = parseConfig(resource.attributes, { env: options.env, unsetAsOriginal: true }).config;
  } catch {
    return;
  }
  const owner = _ownerOf(resource);
  const mine = (by: string) => by === owner || by === _pushOwnerOf(owner);
  if (!config.pushOnly) options.roots.assertFree(config.mirrorRoot, mine);
  if (config.push) options.roots.assertFree(config.push.pushRoot, mine);
}

/** Who holds a resource's mirror root (in {@linkcode MirrorRoots}, and in its errors). */
function _ownerOf(resource: MirrorResource): string {
  return `${resource.api} ${resource.name}`;
}

/** Who holds the push root of the resource `owner` names. */
function _pushOwnerOf(owner: string): string {
  return `${owner} (push)`;
}

/**
 * Starts the loop of one module resource, on a mirror root no other resource overlaps. With
 * `VIAM_MODULE_DATA` (set by viam-server), its status is saved after every pass and read back at
 * start, so a restart with the same config keeps its counts and its backoff.
 */
export async function startResourceMirror(
  resource: MirrorResource,
  logger: Logger,
  options: StartResourceMirrorOptions,
): Promise<MirrorController> {
  const { config, warnings } = parseConfig(resource.attributes, {
    env: options.env,
    unsetAsOriginal: true,
  });
  const partId = options.env("VIAM_MACHINE_PART_ID");
  assertPushPartId(config, partId); // before anything is claimed or made
  for (const warning of warnings) logger.warn(warning);
  const { moduleData } = options;
  const path = moduleData ? statusFilePath(moduleData, resource) : undefined;
  const fingerprint = await configFingerprint(config);
  const saved = path ? await readStatusFile(path) : undefined;
  // Claimed before anything is made, so that a resource refused for overlapping another makes no
  // folder in that one's tree: two resources on one mirror would delete each other's files on every
  // pass. By the path below the Viam home, which is where the real folder is: every folder on the
  // way must be a real one (`resolveMirrorRoot` refuses a symlink), and the home is the module's.
  const owner = _ownerOf(resource);
  // A resource that only pushes has no mirror: it neither claims nor makes one.
  const release = config.pushOnly ? () => {} : options.roots.claim(config.mirrorRoot, owner);
  let releasePush = () => {};
  try {
    if (config.push) {
      releasePush = options.roots.claim(config.push.pushRoot, _pushOwnerOf(owner));
    }
    // Made now, as the first pass would: a folder that cannot be is refused at once.
    if (!config.pushOnly) await _makeRoot(config.viamHome, config.mirrorPath, "mirror_path");
    if (config.push) {
      await _makeRoot(
        config.viamHome,
        config.push.pushPath,
        "push_path",
        (made) => logger.warn(pushFolderMade(config.push!.pushPath, made, "push_path")),
      );
    }
  } catch (error) {
    releasePush();
    release();
    throw error;
  }
  const push = createPushSide(config, {
    partId,
    logger,
    owner: `module ${resource.name}`,
    env: options.env,
  });
  let saving = Promise.resolve();
  // The file is on disk (0644), as DoCommand's answers are on the wire: no secret in either.
  const redactor = new SecretRedactor();
  redactor.remember(resource.attributes);
  const loop = new MirrorLoop(config, {
    ...options.loop,
    logger,
    push: push?.run,
    pushApart: true,
    owner: `module ${resource.name}`,
    resume: saved?.fingerprint === fingerprint ? saved.status : undefined,
    onPassEnd: (status) => save(status),
    // A push run on demand or of its own (while sync backs off) is saved too, not only a pass's.
    onPushEnd: (status) => save(status),
  });
  function save(status: MirrorStatus): void {
    if (!path) return;
    // Chained, so saves land in pass order; stop waits for the last one.
    saving = saving.then(() =>
      writeStatusFile(path, {
        fingerprint,
        status: redactor.scrubJson(status) as typeof status,
      }).catch((error) =>
        logger.warn(`could not save the status to ${path}: ${describeError(error)}`)
      )
    );
  }
  try {
    loop.start();
  } catch (error) {
    // Nothing runs: the folders it claimed are free again for its next start.
    await loop.stop();
    releasePush();
    release();
    throw error;
  }
  return {
    syncNow: () => loop.syncNow(),
    dryRun: () => loop.dryRun(),
    pushNow: () => loop.pushNow(),
    status: () => loop.status(),
    stop: async () => {
      await loop.stop();
      await push?.[Symbol.asyncDispose]();
      await saving;
      releasePush();
      release();
    },
  };
}

/** Makes a mirror or push folder when missing (refusing a symlink or a file on the way). */
async function _makeRoot(
  viamHome: string,
  path: string,
  attribute: string,
  onMade?: (root: string) => void,
): Promise<void> {
  const absolute = join(viamHome, path);
  const existed = await Deno.lstat(absolute).then(() => true, () => false);
  const root = (await resolveMirrorRoot({ viamHome, mirrorPath: path, create: true, attribute }))!;
  if (!existed) onMade?.(root);
}
