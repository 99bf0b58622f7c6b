/**
 * The mirror roots of one module's resources, kept apart: no root equal to, inside or around
 * another, compared as a case-insensitive disk would.
 *
 * @module
 */
import { sep } from "node:path";
import { foldCase } from "../paths.ts";

/** A mirror root that overlaps one already in use. */
export class OverlappingMirrorError extends Error {
  /** @param root The root asked for. @param other The root in use, and its owner. */
  constructor(root: string, other: { root: string; owner: string }) {
    super(
      `folder ${root} overlaps ${other.root}, used by ${other.owner}: two resources' folders in ` +
        `one tree would delete each other's files (a mirror deletes what its listing lacks, a ` +
        `push what it uploaded); give each resource its own mirror_path and push_path, none ` +
        `inside another`,
    );
    this.name = "OverlappingMirrorError";
  }
}

/**
 * The mirror roots the resources of one module use. A root may not equal, contain or lie inside
 * another, compared without case or Unicode form (`foldCase`, as config's mirror/push check is: on
 * a case-insensitive Viam home `faces` and `Faces` are one folder): a mirror with `delete` removes
 * whatever its listing lacks, so nested mirrors would delete each other's files. (Between
 * processes, the lock and the walk, which skips a nested mirror's folder, keep them apart.)
 */
export class MirrorRoots {
  readonly #claims = new Map<string, string>();

  /**
   * Claims `root` (absolute, normalised) for `owner`; returns the function that releases it.
   *
   * @throws {OverlappingMirrorError} naming both roots when it overlaps a claimed one.
   */
  claim(root: string, owner: string): () => void {
    this.assertFree(root);
    this.#claims.set(root, owner);
    return () => {
      if (this.#claims.get(root) === owner) this.#claims.delete(root);
    };
  }

  /**
   * Throws as {@linkcode MirrorRoots.claim} would for `root`, leaving out the roots claimed by the
   * owners `mine` names (a resource's own, which its new configuration replaces); claims nothing.
   *
   * @throws {OverlappingMirrorError} naming both roots when it overlaps another's.
   */
  assertFree(root: string, mine: (owner: string) => boolean = () => false): void {
    const folded = foldCase(root);
    for (const [claimed, by] of this.#claims) {
      if (mine(by)) continue;
      const other = foldCase(claimed);
      if (other === folded || other.startsWith(folded + sep) || folded.startsWith(other + sep)) {
        throw new OverlappingMirrorError(root, { root: claimed, owner: by });
      }
    }
  }
}
