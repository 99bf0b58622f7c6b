/**
 * Transfer progress on stderr, by bytes (a few large files are most of a pass), with files as the
 * second figure: a live bar on a terminal, a `progress:` line every few seconds otherwise.
 *
 * The rate and the ETA come from the bytes received in the last {@linkcode _RATE_WINDOW_MS}, counted
 * from the first report: bytes a resumed download already held are neither received now nor left
 * to fetch. The totals may grow while the listing still runs; the ETA is `--` until bytes flow.
 *
 * @module
 */
import type { TransferProgress } from "../sync/transfer_files.ts";
import { formatBytes, formatDuration } from "./cli_output.ts";

/** The window the rate is measured over, in milliseconds. */
const _RATE_WINDOW_MS = 10_000;

/** Shows transfer progress while a pass runs. */
export interface ProgressReporter {
  /** Takes the latest progress. */
  update(progress: TransferProgress): void;
  /** The latest progress taken, if any (what an interrupted pass had done). */
  latest(): TransferProgress | undefined;
  /** Ends the display (the bar is cleared; off a terminal a last line is written). */
  stop(): void;
}

/** Options of {@linkcode createProgressReporter}. */
export interface ProgressReporterOptions {
  /** True when stderr is a terminal: a live bar; otherwise a plain line every `intervalMs`. */
  tty: boolean;
  /** Writes a plain line (non-TTY mode). */
  writeLine: (line: string) => void;
  /** Time between plain lines, in milliseconds (default 5000). */
  intervalMs?: number;
  /** The clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

/** A live bar on a terminal, or a line every few seconds when stderr is a log file or a pipe. */
export async function createProgressReporter(
  options: ProgressReporterOptions,
): Promise<ProgressReporter> {
  return options.tty ? await _barReporter(options) : _lineReporter(options);
}

/**
 * `12.0 MiB of 90.0 MiB (13%), 3/10 files (1 failed), 2.0 MiB/s, ETA 39 s`: what both displays
 * show.
 */
function _describeProgress(progress: TransferProgress, bytesPerSecond: number): string {
  const { bytesDone, bytesTotal, filesDone, filesTotal, filesFailed } = progress;
  const failed = filesFailed ? ` (${filesFailed} failed)` : "";
  const percent = bytesTotal > 0 ? ` (${Math.floor((bytesDone / bytesTotal) * 100)}%)` : "";
  const left = Math.max(0, bytesTotal - bytesDone);
  // Every file done: what failed never comes, so no time is left (it said "ETA 1 s" at the end).
  const finished = filesDone >= filesTotal;
  const eta = finished
    ? "0 s"
    : left > 0 && bytesPerSecond > 0
    ? formatDuration(left / bytesPerSecond)
    : "--";
  return `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)}${percent}, ` +
    `${filesDone}/${filesTotal} files${failed}, ${formatBytes(bytesPerSecond)}/s, ETA ${eta}`;
}

/** The bytes received in this pass: a resumed partial's bytes were there before it. */
function _receivedNow(progress: TransferProgress): number {
  return progress.bytesDone - (progress.bytesResumed ?? 0);
}

/** Bytes per second over the last window of samples. */
class _Rate {
  #samples: { at: number; bytes: number }[] = [];
  #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  add(bytes: number): void {
    const at = this.#now();
    const samples = this.#samples;
    // At most one sample per 100 ms is kept: progress can be reported thousands of times a second.
    if (samples.length >= 2 && at - samples[samples.length - 2].at < 100) {
      samples[samples.length - 1] = { at, bytes };
    } else {
      samples.push({ at, bytes });
    }
    while (this.#samples.length > 2 && at - this.#samples[1].at >= _RATE_WINDOW_MS) {
      this.#samples.shift();
    }
  }

  perSecond(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || last.at <= first.at) return 0;
    return Math.max(0, (last.bytes - first.bytes) / ((last.at - first.at) / 1000));
  }
}

/** The live bar; its library is loaded only for a terminal (it costs 50 ms of start-up). */
async function _barReporter(options: ProgressReporterOptions): Promise<ProgressReporter> {
  const { default: cliProgress } = await import("cli-progress");
  const rate = new _Rate(options.now ?? (() => performance.now()));
  const bar = new cliProgress.SingleBar({
    format: "{bar} {text}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    // The bar's own ETA and totals are not used: it fills by bytes, the text says the rest.
    etaBuffer: 1,
  }, cliProgress.Presets.shades_classic);
  let latest: TransferProgress | undefined;
  return {
    update(progress) {
      const first = latest === undefined;
      latest = progress;
      rate.add(_receivedNow(progress));
      const [value, total] = _barFill(progress);
      const payload = { text: _describeProgress(progress, rate.perSecond()) };
      if (first) {
        bar.start(total, value, payload);
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    latest: () => latest,
    stop() {
      if (latest !== undefined) bar.stop();
    },
  };
}

/** The bar fills by bytes; by files while no size is known. */
function _barFill(progress: TransferProgress): [number, number] {
  return progress.bytesTotal > 0
    ? [Math.min(progress.bytesDone, progress.bytesTotal), progress.bytesTotal]
    : [progress.filesDone, Math.max(progress.filesTotal, 1)];
}

function _lineReporter(options: ProgressReporterOptions): ProgressReporter {
  const rate = new _Rate(options.now ?? (() => performance.now()));
  let latest: TransferProgress | undefined;
  let shown: TransferProgress | undefined;
  const show = () => {
    if (!latest || latest === shown) return;
    shown = latest;
    options.writeLine(`progress: ${_describeProgress(latest, rate.perSecond())}`);
  };
  const timer = setInterval(show, options.intervalMs ?? 5000);
  return {
    update(progress) {
      latest = progress;
      rate.add(_receivedNow(progress));
    },
    latest: () => latest,
    stop() {
      clearInterval(timer);
      show();
    },
  };
}
