/**
 * @module
 * Plain-text tables for the terminal: left-aligned columns two spaces apart, numbers right-aligned, long cells cut
 * with an ellipsis. No colours, so the output pipes cleanly into `grep`, `awk` or a file.
 */

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Longest cell, in characters; longer ones end in "…" (default 60). */
  readonly maxWidth?: number;
}

function text(cell: Cell): string {
  if (cell === null || cell === undefined || cell === "") return "-";
  return String(cell);
}

function cut(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, Math.max(1, max - 1))}…` : value;
}

/**
 * @example
 * formatTable(["NAME", "N"], [["a", 1], ["bb", 22]])
 * // "NAME   N\na      1\nbb    22"
 */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}) {
  const max = options.maxWidth ?? 60;
  const cells = rows.map((row) => header.map((_, i) => cut(text(row[i]), max)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number"));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? "").length)));
  const render = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [render(header), ...cells.map(render)].join("\n");
}

/** Milliseconds as a short duration: `850ms`, `1.2s`, `3m05s`, `2h10m`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** An ISO instant as `2026-11-23 19:15:24` (UTC), or `-`. */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return "-";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}
