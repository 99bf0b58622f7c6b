/**
 * Watches a mirror while the program writes it: every few milliseconds it lists the files under
 * their final names and checks each size against the size the file must have. A file under a final
 * name with any other size is a partial (or truncated) file an observer could read.
 *
 * @module
 */
import { listTree } from "./mirror_tree.ts";

/** What a poller saw. */
export interface PollResult {
  /** How many times the tree was listed. */
  polls: number;
  /** How many wrong-size sightings (a file seen twice counts twice). */
  wrongSize: number;
  /** The first few sightings, as `path: size of expected`. */
  examples: string[];
}

/** Polls `root` until stopped; `expected` maps a final path to its only valid size. */
export class SizePoller {
  #polls = 0;
  #wrong = 0;
  #examples: string[] = [];
  #stopped = false;
  #running: Promise<void>;

  /** Starts polling at once, every `intervalMs` (default 5). */
  constructor(root: string, expected: ReadonlyMap<string, number>, intervalMs = 5) {
    this.#running = (async () => {
      while (!this.#stopped) {
        const tree = await listTree(root);
        this.#polls++;
        for (const [path, info] of tree) {
          const size = expected.get(path);
          if (!info.isFile || size === undefined || info.size === size) continue;
          this.#wrong++;
          if (this.#examples.length < 5) this.#examples.push(`${path}: ${info.size} of ${size}`);
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  /** Stops after the poll in progress and resolves to what was seen. */
  async stop(): Promise<PollResult> {
    this.#stopped = true;
    await this.#running;
    return { polls: this.#polls, wrongSize: this.#wrong, examples: this.#examples };
  }
}
