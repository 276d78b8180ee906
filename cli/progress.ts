/**
 * @module
 * Progress on stderr with `cli-progress`, drawn only when stderr is a terminal and `--json` is off (a pipe or a CI log
 * gets no control characters).
 */

import { Presets, SingleBar } from "cli-progress";

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const SILENT: Progress = { update() {}, stop() {} };

export function progressBar(
  enabled: boolean,
  total: number,
  format: string,
  payload: Record<string, string | number> = {},
): Progress {
  if (!enabled) return SILENT;
  const bar = new SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 20 },
    Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  return {
    update: (value, extra) => bar.update(value, extra),
    stop: () => bar.stop(),
  };
}
