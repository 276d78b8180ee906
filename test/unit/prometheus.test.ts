/** The Prometheus text exposition (src/prometheus.ts), read back by a strict checker (test/support/prometheus-text.ts). */
import { describe, expect, it } from "vitest";
import { emptySketch, recordValue, serializeSketch } from "../../src/latency-sketch";
import type { FunctionMetrics } from "../../src/observability";
import { escapeLabelValue, renderMetrics } from "../../src/prometheus";
import { parseExposition, sampleValue } from "../support/prometheus-text";

function metrics(name: string, values: number[] = []): FunctionMetrics {
  const sketch = emptySketch();
  for (const v of values) recordValue(sketch, v);
  sketch.bins.clear();
  const s = serializeSketch(sketch);
  return {
    name,
    endings: { succeeded: values.length, failed: 1 },
    queued: 3,
    inFlight: 2,
    concurrencyLimit: 7,
    throttled: 4,
    histograms: { queueWait: s, execution: s, endToEnd: s },
    deliveries: { "webhook|delivered": 2, "queue|failed": 1 },
  };
}

const FAMILIES = [
  "sluice_tasks_total",
  "sluice_tasks_queued",
  "sluice_tasks_in_flight",
  "sluice_concurrency_limit",
  "sluice_throttled_total",
  "sluice_queue_wait_seconds",
  "sluice_execution_seconds",
  "sluice_end_to_end_seconds",
  "sluice_deliveries_total",
];

describe("Prometheus exposition", () => {
  it("has exactly the contract's families with HELP and TYPE, and passes the strict checker", () => {
    const text = renderMetrics([metrics("resize", [3, 40, 700, 12_000]), metrics("zip")]);
    const families = parseExposition(text);
    expect([...families.keys()]).toEqual(FAMILIES);
    for (const family of families.values()) expect(family.help).toBeTruthy();
    expect(families.get("sluice_tasks_total")?.type).toBe("counter");
    expect(families.get("sluice_tasks_queued")?.type).toBe("gauge");
    expect(families.get("sluice_execution_seconds")?.type).toBe("histogram");
    const v = (family: string, name: string, labels: Record<string, string>) =>
      sampleValue(families, family, name, labels);
    expect(v("sluice_tasks_total", "sluice_tasks_total", { function: "resize", state: "succeeded" })).toBe(4);
    // Every terminal state is there from the start, so a rate over it is 0, not absent.
    expect(v("sluice_tasks_total", "sluice_tasks_total", { function: "zip", state: "expired" })).toBe(0);
    expect(v("sluice_execution_seconds", "sluice_execution_seconds_bucket", { function: "resize", le: "0.005" })).toBe(
      1,
    );
    expect(v("sluice_execution_seconds", "sluice_execution_seconds_bucket", { function: "resize", le: "1" })).toBe(3);
    expect(v("sluice_execution_seconds", "sluice_execution_seconds_bucket", { function: "resize", le: "+Inf" })).toBe(
      4,
    );
    expect(v("sluice_execution_seconds", "sluice_execution_seconds_sum", { function: "resize" })).toBeCloseTo(
      12.743,
      6,
    );
    expect(
      v("sluice_deliveries_total", "sluice_deliveries_total", {
        function: "zip",
        destination: "queue",
        outcome: "failed",
      }),
    ).toBe(1);
    expect(text.endsWith("\n")).toBe(true);
  });

  it("escapes label values so any name reads back as itself", () => {
    const name = 'we"ird\\name\nline';
    expect(escapeLabelValue(name)).toBe('we\\"ird\\\\name\\nline');
    const families = parseExposition(renderMetrics([metrics(name, [5])]));
    expect(sampleValue(families, "sluice_tasks_queued", "sluice_tasks_queued", { function: name })).toBe(3);
  });

  it("an empty account is a valid exposition with every family and no samples", () => {
    const families = parseExposition(renderMetrics([]));
    expect([...families.keys()]).toEqual(FAMILIES);
    expect([...families.values()].every((f) => f.samples.length === 0)).toBe(true);
  });

  it("never writes a series twice", () => {
    expect(() => renderMetrics([metrics("same"), metrics("same")])).toThrow(/duplicate series/);
  });

  it("the checker refuses what promtool refuses", () => {
    const ok = "# HELP a_total x\n# TYPE a_total counter\na_total 1\n";
    expect(() => parseExposition(ok)).not.toThrow();
    const bad: Record<string, string> = {
      "no final newline": "# TYPE a gauge\na 1",
      "duplicate series": '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n',
      "split family": '# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x="2"} 1\n',
      "two TYPE lines": "# TYPE a gauge\n# TYPE a gauge\na 1\n",
      "bad escape": '# TYPE a gauge\na{x="\\t"} 1\n',
      "bad value": "# TYPE a gauge\na one\n",
      "counter without _total": "# TYPE a counter\na 1\n",
      "histogram without +Inf": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      "histogram count differs": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n',
      "histogram buckets decrease":
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
      "reserved label": '# TYPE a gauge\na{__x="1"} 1\n',
    };
    for (const [why, text] of Object.entries(bad)) expect(() => parseExposition(text), why).toThrow();
  });
});
