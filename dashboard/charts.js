// The function's two uPlot charts, from the stats' `history` (10 s slots).
import uPlot from "uplot";
import { $ } from "./lib.js";

let charts = null;

export function destroyCharts() {
  if (!charts) return;
  charts.window.destroy();
  charts.queue.destroy();
  charts = null;
}

function chartWidth() {
  const figure = $("chart-window").parentElement;
  return Math.max(240, figure.clientWidth - 8);
}

function makeChart(target, series) {
  return new uPlot(
    {
      width: chartWidth(),
      height: 180,
      scales: {
        // One 10 s slot alone would give the x axis no width: show at least a minute around it.
        x: {
          time: true,
          range: (_u, min, max) => (min === null || max - min >= 60 ? [min, max] : [max - 60, max + 5]),
        },
      },
      axes: [{}, { size: 40 }],
      legend: { live: false },
      series: [{}, ...series],
    },
    [[], ...series.map(() => [])],
    target,
  );
}

/** The last 10 minutes of the stats' 10 s slots (the API keeps an hour). */
const CHART_SLOTS = 60;

export function drawCharts(all) {
  const history = all.slice(-CHART_SLOTS);
  if (!charts) {
    charts = {
      window: makeChart($("chart-window"), [
        { label: "window", stroke: "#2563eb", width: 2 },
        { label: "in flight", stroke: "#16a34a", width: 2, fill: "rgba(22,163,74,0.12)" },
      ]),
      queue: makeChart($("chart-queue"), [
        { label: "queued", stroke: "#9333ea", width: 2 },
        { label: "throttled", stroke: "#dc2626", width: 2 },
      ]),
    };
  }
  $("chart-empty").hidden = history.length > 0;
  // Slot starts come as ISO-8601 text; uPlot wants seconds since the epoch.
  const t = history.map((p) => Date.parse(p.t) / 1000);
  charts.window.setData([t, history.map((p) => p.concurrencyLimit), history.map((p) => p.inFlight)]);
  charts.queue.setData([t, history.map((p) => p.queued), history.map((p) => p.throttled)]);
}

export function resizeCharts() {
  if (!charts) return;
  const width = chartWidth();
  charts.window.setSize({ width, height: 180 });
  charts.queue.setSize({ width, height: 180 });
}
