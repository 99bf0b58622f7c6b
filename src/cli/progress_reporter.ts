import cliProgress from "cli-progress";
import type { TransferProgress } from "../sync/transfer_files.ts";

/** Shows transfer progress while a pass runs. */
export interface ProgressReporter {
  /** Takes the latest progress. */
  update(progress: TransferProgress): void;
  /** Ends the display (the bar is cleared, a last line is written). */
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
}

/**
 * A live bar on a terminal (files and bytes done of total, rate, ETA), or a line every few seconds
 * when the output is a log file or a pipe.
 */
export function createProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  return options.tty ? _barReporter() : _lineReporter(options);
}

function _barReporter(): ProgressReporter {
  const started = performance.now();
  const bar = new cliProgress.SingleBar({
    format:
      "{bar} {value}/{total} files | {bytes} of {totalBytes} | {rate}/s | ETA {eta_formatted}",
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let begun = false;
  return {
    update(progress) {
      const payload = {
        bytes: formatBytes(progress.bytesDone),
        totalBytes: formatBytes(progress.bytesTotal),
        rate: formatBytes(_rate(progress.bytesDone, started)),
      };
      if (!begun) {
        bar.start(progress.filesTotal, progress.filesDone, payload);
        begun = true;
      } else {
        bar.update(progress.filesDone, payload);
      }
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}

function _lineReporter(options: ProgressReporterOptions): ProgressReporter {
  const started = performance.now();
  let latest: TransferProgress | undefined;
  let shown: TransferProgress | undefined;
  const show = () => {
    if (!latest || latest === shown) return;
    shown = latest;
    const rate = _rate(latest.bytesDone, started);
    const left = latest.bytesTotal - latest.bytesDone;
    const eta = rate > 0 && left > 0 ? `, ETA ${Math.ceil(left / rate)} s` : "";
    options.writeLine(
      `progress: ${latest.filesDone}/${latest.filesTotal} files, ` +
        `${formatBytes(latest.bytesDone)} of ${formatBytes(latest.bytesTotal)}, ` +
        `${formatBytes(rate)}/s${eta}`,
    );
  };
  const timer = setInterval(show, options.intervalMs ?? 5000);
  return {
    update(progress) {
      latest = progress;
    },
    stop() {
      clearInterval(timer);
      show();
    },
  };
}

function _rate(bytes: number, started: number): number {
  const seconds = (performance.now() - started) / 1000;
  return seconds > 0 ? bytes / seconds : 0;
}

/** Bytes in binary units, e.g. `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}
