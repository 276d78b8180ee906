/**
 * @module
 * How the CLI shows a task and a function's stats as text (the `--json` output is the API's own object instead).
 */

import type { Stats, Task, TaskError } from "../src/client";
import { type Cell, formatDuration, formatInstant, formatTable } from "./table";

export function formatError(error: TaskError | undefined): string {
  if (!error) return "-";
  return `${error.kind}${error.status ? ` ${error.status}` : ""}: ${error.message}`;
}

const STAGES = [
  ["accepted", "acceptedAt"],
  ["queued", "queuedAt"],
  ["dispatched", "firstDispatchedAt"],
  ["finished", "finishedAt"],
  ["delivered", "deliveredAt"],
] as const;

/** `accepted → queued +12ms → dispatched +30ms → finished +45ms`: each stage with its time since acceptance. */
export function formatTimeline(timeline: Task["timeline"]): string {
  const start = timeline.acceptedAt ? Date.parse(timeline.acceptedAt) : Number.NaN;
  const parts: string[] = [];
  for (const [label, key] of STAGES) {
    const at = timeline[key];
    if (!at) continue;
    const offset = Date.parse(at) - start;
    parts.push(label === "accepted" || Number.isNaN(offset) ? label : `${label} +${formatDuration(offset)}`);
  }
  return parts.join(" → ") || "-";
}

function resultText(task: Task): string | undefined {
  if (task.resultUrl) return `${task.resultUrl} (${task.resultContentType ?? "?"}, too large to inline)`;
  if (task.result === undefined) return undefined;
  const shown = typeof task.result === "string" ? task.result : JSON.stringify(task.result);
  const suffix = task.resultEncoding === "base64" ? " (base64)" : "";
  return shown.length > 2000 ? `${shown.slice(0, 2000)}… (${shown.length} characters)${suffix}` : `${shown}${suffix}`;
}

/** The task as labelled lines. */
export function formatTask(task: Task): string {
  const rows: [string, string | undefined][] = [
    ["id", task.id],
    ["function", task.function],
    ["state", task.state],
    ["attempts", `${task.attempts}${task.run && task.run > 1 ? ` (run ${task.run})` : ""}`],
    ["created", formatInstant(task.createdAt)],
    ["updated", formatInstant(task.updatedAt)],
    ["timeline", formatTimeline(task.timeline)],
  ];
  if (task.fairnessKey) rows.push(["fairness key", task.fairnessKey]);
  if (task.error) rows.push(["error", formatError(task.error)]);
  const last = task.attemptLog[task.attemptLog.length - 1];
  if (last) {
    const outcome = last.error ? formatError(last.error) : String(last.status ?? "-");
    rows.push(["last attempt", `#${last.attempt} ${formatDuration(last.durationMs)} ${outcome}`]);
  }
  if (task.delivery) rows.push(["delivery", `${task.delivery.state} after ${task.delivery.attempts} attempt(s)`]);
  const result = resultText(task);
  if (result !== undefined) rows.push(["result", result]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value ?? "-"}`).join("\n");
}

const STATE_ORDER = ["accepted", "queued", "paused", "running", "succeeded", "failed", "cancelled", "expired"];

/** A compact view of `GET …/stats`: counts per state, the window, placement, and latencies where served. */
export function formatStats(name: string, stats: Stats): string {
  const states = [...STATE_ORDER, ...Object.keys(stats.counts).filter((s) => !STATE_ORDER.includes(s))];
  const counts = formatTable(
    states.map((s) => s.toUpperCase()),
    [states.map((s) => stats.counts[s] ?? 0)],
  );
  const window =
    stats.concurrencyLimit === undefined || stats.concurrencyLimit === null
      ? "-"
      : `${Math.round(stats.concurrencyLimit * 10) / 10}`;
  const head: [string, Cell][] = [
    ["function", name],
    ["in flight", stats.inFlight],
    ["window", `${window} of max ${stats.maxConcurrency ?? "-"}`],
  ];
  if (stats.placement) {
    const { tier, partitions, reason, since } = stats.placement;
    const why =
      reason && reason !== "initial" && reason !== "pinned" ? ` (${reason}${since ? ` since ${since}` : ""})` : "";
    head.push(["placement", `${tier}${partitions ? `, ${partitions} partition(s)` : ""}${why}`]);
  }
  if (stats.throughputPerMinute !== undefined && stats.throughputPerMinute !== null) {
    head.push(["throughput", `${stats.throughputPerMinute}/min`]);
  }
  const width = Math.max(...head.map(([label]) => label.length));
  const parts = [head.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n"), "", counts];
  const latency = stats.latencyMs;
  if (latency) {
    const stages = [
      ["queue wait", latency.queueWait],
      ["execution", latency.execution],
      ["end to end", latency.endToEnd],
    ] as const;
    const rows = stages.map(([label, p]) => [
      label,
      formatDuration(p?.p50 ?? null),
      formatDuration(p?.p95 ?? null),
      formatDuration(p?.p99 ?? null),
    ]);
    parts.push("", formatTable(["LATENCY", "P50", "P95", "P99"], rows));
  }
  return parts.join("\n");
}
