/**
 * @module
 * `GET /v1/metrics` as the Prometheus text exposition format, version 0.0.4 (prometheus.io/docs/instrumenting/
 * exposition_formats): one `# HELP` and one `# TYPE` line per family, then all its samples together; label values
 * escaped (`\\`, `\"`, `\n`); histograms as cumulative `_bucket{le}` series ending at `le="+Inf"`, then `_sum` and
 * `_count`; no series twice. Pure: the gateway passes the merged figures of the account's functions.
 *
 * @example
 * renderMetrics([{ name: "resize", endings: { succeeded: 3 }, ... }]);
 * // # HELP sluice_tasks_total Tasks that ended, by function and final state.
 * // # TYPE sluice_tasks_total counter
 * // sluice_tasks_total{function="resize",state="succeeded"} 3
 */

import { cumulativeBuckets, PROMETHEUS_BUCKETS_SECONDS, parseSketch } from "./latency-sketch";
import type { FunctionMetrics, Stage } from "./observability";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type MetricType = "counter" | "gauge" | "histogram";

interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms. */
  readonly suffix?: string;
  readonly labels: readonly (readonly [string, string])[];
  readonly value: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: Sample[];
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Render families; a series (name and label set) that appears twice is a bug and throws. */
export function renderFamilies(families: readonly Family[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = sample.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
      const series = `${family.name}${sample.suffix ?? ""}${labels ? `{${labels}}` : ""}`;
      if (seen.has(series)) throw new Error(`duplicate series ${series}`);
      seen.add(series);
      lines.push(`${series} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

const HISTOGRAMS: readonly { readonly stage: Stage; readonly name: string; readonly help: string }[] = [
  {
    stage: "queueWait",
    name: "sluice_queue_wait_seconds",
    help: "Time from queued (or due, for a delayed task) to first dispatch, of tasks that finished.",
  },
  { stage: "execution", name: "sluice_execution_seconds", help: "Duration of the call that finished a task." },
  {
    stage: "endToEnd",
    name: "sluice_end_to_end_seconds",
    help: "Time from accepted to finished, of tasks that finished.",
  },
];

/** Terminal states always present in `sluice_tasks_total`, so a rate over a state that has not happened yet is 0. */
const ENDED_STATES = ["succeeded", "failed", "cancelled", "expired"] as const;

/** The account's metrics, one set of series per function (functions sorted by name, each once). */
export function renderMetrics(functions: readonly FunctionMetrics[]): string {
  const fnLabel = (m: FunctionMetrics) => ["function", m.name] as const;
  const families: Family[] = [
    {
      name: "sluice_tasks_total",
      help: "Tasks that ended, by function and final state (a retried task counts once per run).",
      type: "counter",
      samples: functions.flatMap((m) => {
        const states = [...new Set([...ENDED_STATES, ...Object.keys(m.endings)])].sort();
        return states.map((state) => ({ labels: [fnLabel(m), ["state", state]], value: m.endings[state] ?? 0 }));
      }),
    },
    {
      name: "sluice_tasks_queued",
      help: "Tasks queued now (waiting for capacity, a delay or a backoff).",
      type: "gauge",
      samples: functions.map((m) => ({ labels: [fnLabel(m)], value: m.queued })),
    },
    {
      name: "sluice_tasks_in_flight",
      help: "Calls of the function running now.",
      type: "gauge",
      samples: functions.map((m) => ({ labels: [fnLabel(m)], value: m.inFlight })),
    },
    {
      name: "sluice_concurrency_limit",
      help: "The function's AIMD concurrency window now.",
      type: "gauge",
      samples: functions.flatMap((m) =>
        m.concurrencyLimit === null ? [] : [{ labels: [fnLabel(m)], value: m.concurrencyLimit }],
      ),
    },
    {
      name: "sluice_throttled_total",
      help: "Calls the function answered with 429 or 503 (throttled).",
      type: "counter",
      samples: functions.map((m) => ({ labels: [fnLabel(m)], value: m.throttled })),
    },
    ...HISTOGRAMS.map(({ stage, name, help }) => ({
      name,
      help,
      type: "histogram" as const,
      samples: functions.flatMap((m) => histogramSamples(fnLabel(m), m.histograms[stage])),
    })),
    {
      name: "sluice_deliveries_total",
      help: "Result deliveries that ended, by function, destination type and outcome (delivered or failed).",
      type: "counter",
      samples: functions.flatMap((m) =>
        Object.entries(m.deliveries)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, value]) => {
            const [destination = "", outcome = ""] = key.split("|");
            return { labels: [fnLabel(m), ["destination", destination], ["outcome", outcome]] as const, value };
          }),
      ),
    },
  ];
  return renderFamilies(families);
}

function histogramSamples(fn: readonly [string, string], stored: FunctionMetrics["histograms"][Stage]): Sample[] {
  const sketch = parseSketch(stored);
  const cumulative = cumulativeBuckets(sketch);
  const samples: Sample[] = PROMETHEUS_BUCKETS_SECONDS.map((le, i) => ({
    suffix: "_bucket",
    labels: [fn, ["le", String(le)]],
    value: cumulative[i] ?? 0,
  }));
  // +Inf is every value, so it equals _count even if a stored bucket was damaged.
  samples.push({ suffix: "_bucket", labels: [fn, ["le", "+Inf"]], value: sketch.count });
  samples.push({ suffix: "_sum", labels: [fn], value: sketch.sumMs / 1000 });
  samples.push({ suffix: "_count", labels: [fn], value: sketch.count });
  return samples;
}
