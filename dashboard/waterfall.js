// One task's stages as bars on a shared time axis (plain elements sized in percent, no canvas).
import { $, el, time } from "./lib.js";

const STAGES = [
  ["accepted → queued", "acceptedAt", "queuedAt", "ingest"],
  ["queued → dispatched", "queuedAt", "firstDispatchedAt", "wait"],
  ["dispatched → finished", "firstDispatchedAt", "finishedAt", "run"],
  ["finished → delivered", "finishedAt", "deliveredAt", "deliver"],
];

export function renderWaterfall(timeline) {
  const at = (key) => (timeline[key] ? Date.parse(timeline[key]) : undefined);
  const points = Object.keys(timeline)
    .map(at)
    .filter((v) => v !== undefined);
  const start = Math.min(...points);
  const span = Math.max(1, Math.max(...points) - start);
  const rows = STAGES.map(([label, from, to, kind]) => {
    const a = at(from);
    const b = at(to);
    const bar = el("div", { class: `bar ${kind}` });
    let text = "none yet";
    if (a !== undefined && b !== undefined) {
      bar.style.left = `${((a - start) / span) * 100}%`;
      bar.style.width = `${Math.max(0.5, ((b - a) / span) * 100)}%`;
      text = `${b - a} ms`;
    } else bar.classList.add("missing");
    return el(
      "div",
      { class: "stage", "data-stage": kind },
      el("span", { class: "stage-label" }, label),
      el("div", { class: "track" }, bar),
      el("span", { class: "stage-ms" }, text),
    );
  });
  $("waterfall").replaceChildren(
    ...rows,
    el(
      "p",
      { class: "hint" },
      `accepted ${time(timeline.acceptedAt)}, last dispatched ${time(timeline.lastDispatchedAt)}`,
    ),
  );
}
