// The Sluice dashboard (GET /dashboard): plain DOM and uPlot, talking to this origin's /v1 API with the tenant's key.
// The key lives only in sessionStorage (this tab) and in Authorization headers; it is never put into a URL or the
// page. All tenant-controlled text is set with textContent; nothing is parsed as HTML.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { destroyCharts, drawCharts, resizeCharts } from "./charts.js";
import { $, api, apiKey, el, fmt, fnPath, KEY_SLOT, taskPath, time } from "./lib.js";
import { renderSchedules, wireScheduleForm } from "./schedules.js";
import { renderWaterfall } from "./waterfall.js";

const REFRESH_MS = 5_000;
const FUNCTIONS_PER_PAGE = 20;
const TASKS_PER_PAGE = 20;

const state = {
  functionsCursor: null,
  functionsNext: null,
  selected: null,
  taskFilter: "",
  tasksCursor: null,
  tasksNext: null,
  taskId: null,
  busy: false,
  again: false,
  note: "",
  noteError: false,
};

function setStatus(text, error = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

// ---- functions list -------------------------------------------------------------------------------------------

async function refreshFunctions() {
  const query = new URLSearchParams({ limit: String(FUNCTIONS_PER_PAGE) });
  if (state.functionsCursor) query.set("cursor", state.functionsCursor);
  const page = await api("GET", `/v1/functions?${query}`);
  state.functionsNext = page.nextCursor;
  $("functions-next").disabled = !page.nextCursor;
  $("functions-first").disabled = !state.functionsCursor;
  const stats = await Promise.all(
    page.functions.map((fn) => api("GET", `${fnPath(fn.name)}/stats`).catch(() => undefined)),
  );
  const rows = page.functions.map((fn, i) => {
    const s = stats[i];
    const row = el(
      "tr",
      {
        class: fn.name === state.selected ? "selected" : "",
        tabindex: 0,
        "data-function": fn.name,
        onclick: () => selectFunction(fn.name),
        onkeydown: (event) => event.key === "Enter" && selectFunction(fn.name),
      },
      el("td", {}, fn.name, fn.paused ? el("span", { class: "badge paused" }, "paused") : ""),
      el("td", { class: "num", "data-field": "queued" }, fmt(s?.queued)),
      el("td", { class: "num", "data-field": "inFlight" }, fmt(s?.inFlight)),
      el(
        "td",
        { class: "num", "data-field": "window" },
        s ? `${fmt(s.concurrencyLimit)}/${fmt(s.maxConcurrency)}` : "–",
      ),
    );
    return row;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 4 }, "No functions yet.")));
  $("function-rows").replaceChildren(...rows);
  return page.functions;
}

// ---- one function -----------------------------------------------------------------------------------------------

function selectFunction(name) {
  if (state.selected !== name) {
    state.selected = name;
    state.tasksCursor = null;
    state.taskId = null;
    $("task").hidden = true;
    destroyCharts();
  }
  refresh();
}

/** `dedicated × 2 (backlog)`: the tier, its partitions, and why it moved there (nothing for where it started). */
function placementText(placement) {
  if (!placement) return "–";
  const parts = placement.partitions > 1 ? ` × ${placement.partitions}` : "";
  const why = placement.reason && placement.reason !== "initial" && placement.reason !== "pinned";
  return `${placement.tier}${parts}${why ? ` (${placement.reason})` : ""}`;
}

function card(label, value, field) {
  return el("div", { class: "card", "data-field": field }, el("span", { class: "label" }, label), el("b", {}, value));
}

async function refreshFunction(name, view) {
  const [stats, schedules, tasks] = await Promise.all([
    api("GET", `${fnPath(name)}/stats`),
    api("GET", `${fnPath(name)}/schedules`),
    refreshTaskPage(name),
  ]);
  if (state.selected !== name) return;
  $("detail").hidden = false;
  $("fn-title").textContent = name;
  const paused = view?.paused === true;
  $("fn-state").textContent = paused ? "paused" : "running";
  $("fn-state").className = `badge ${paused ? "paused" : "live"}`;
  const toggle = $("fn-toggle");
  toggle.textContent = paused ? "Resume" : "Pause";
  toggle.onclick = () =>
    act("POST", `${fnPath(name)}/${paused ? "resume" : "pause"}`, `${name} ${paused ? "resumed" : "paused"}`);
  const counts = Object.entries(stats.counts ?? {}).map(([k, v]) => `${k} ${v}`);
  $("fn-cards").replaceChildren(
    card("Queued", fmt(stats.queued), "queued"),
    card("In flight", fmt(stats.inFlight), "inFlight"),
    card("AIMD window", `${fmt(stats.concurrencyLimit)} / ${fmt(stats.maxConcurrency)}`, "window"),
    card("Throughput / min", fmt(stats.throughputPerMinute), "throughput"),
    card("Placement", placementText(stats.placement), "placement"),
    card("Tasks by state", counts.length ? counts.join(", ") : "none", "counts"),
  );
  const stages = [
    ["Queue wait", stats.latencyMs?.queueWait],
    ["Execution", stats.latencyMs?.execution],
    ["End to end", stats.latencyMs?.endToEnd],
  ];
  $("latency-rows").replaceChildren(
    ...stages.map(([label, p]) =>
      el("tr", {}, el("td", {}, label), ...["p50", "p95", "p99"].map((q) => el("td", { class: "num" }, fmt(p?.[q])))),
    ),
  );
  drawCharts(stats.history ?? []);
  renderTasks(tasks);
  renderSchedules(name, schedules.schedules, act);
}

async function refreshTaskPage(name) {
  const query = new URLSearchParams({ limit: String(TASKS_PER_PAGE) });
  if (state.taskFilter) query.set("state", state.taskFilter);
  if (state.tasksCursor) query.set("cursor", state.tasksCursor);
  return api("GET", `${fnPath(name)}/tasks?${query}`);
}

function renderTasks(page) {
  state.tasksNext = page.nextCursor;
  $("tasks-next").disabled = !page.nextCursor;
  $("tasks-first").disabled = !state.tasksCursor;
  const rows = page.tasks.map((t) =>
    el(
      "tr",
      {
        class: t.id === state.taskId ? "selected" : "",
        tabindex: 0,
        "data-task": t.id,
        onclick: () => selectTask(t.id),
        onkeydown: (event) => event.key === "Enter" && selectTask(t.id),
      },
      el("td", { class: "mono" }, t.id),
      el("td", {}, el("span", { class: `badge ${t.state}` }, t.state)),
      el("td", { class: "num" }, t.attempts),
      el("td", {}, time(t.createdAt)),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 4 }, "No tasks.")));
  $("task-rows").replaceChildren(...rows);
}

// ---- one task ---------------------------------------------------------------------------------------------------

function selectTask(id) {
  state.taskId = id;
  refresh();
}

async function refreshTask(id) {
  const task = await api("GET", taskPath(id));
  if (state.taskId !== id) return;
  $("task").hidden = false;
  $("task-title").textContent = `Task ${task.id}`;
  $("task-state-badge").textContent = task.state;
  $("task-state-badge").className = `badge ${task.state}`;
  const cancellable = ["accepted", "queued", "paused", "running"].includes(task.state);
  $("task-cancel").disabled = !cancellable;
  $("task-retry").disabled = !["failed", "expired", "cancelled"].includes(task.state);
  $("task-cancel").onclick = () => act("POST", `${taskPath(id)}/cancel`, "task cancelled");
  $("task-retry").onclick = () => act("POST", `${taskPath(id)}/retry`, "task retried");
  renderWaterfall(task.timeline);
  const rows = task.attemptLog.map((a) =>
    el(
      "tr",
      {},
      el("td", {}, a.run > 1 ? `${a.run}.${a.attempt}` : a.attempt),
      el("td", {}, time(a.startedAt)),
      el("td", { class: "num" }, `${a.durationMs} ms`),
      el("td", {}, a.status ?? "–", a.throttled ? ` throttled${a.count > 1 ? ` ×${a.count}` : ""}` : ""),
      el("td", {}, a.error ? `${a.error.kind}: ${a.error.message}` : ""),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 5 }, "Not run yet.")));
  $("attempt-rows").replaceChildren(...rows);
}

// ---- refresh loop and actions -----------------------------------------------------------------------------------

/** Run one change (an API call, or `method` as a function doing several), say how it went, and refresh. */
async function act(method, path, done, json) {
  let ok = true;
  try {
    if (typeof method === "function") await method();
    else await api(method, path, json);
    state.note = done;
  } catch (error) {
    // Kept through the refresh that follows (which would otherwise overwrite it with "Updated").
    state.note = `Failed: ${error.message}`;
    state.noteError = true;
    ok = false;
  }
  refresh();
  return ok;
}

async function refresh() {
  if (!apiKey()) return;
  if (state.busy) {
    // A click during a refresh: run once more when this one ends, so the page shows its effect at once.
    state.again = true;
    return;
  }
  state.busy = true;
  state.again = false;
  try {
    const functions = await refreshFunctions();
    $("main").hidden = false;
    if (state.selected) {
      await refreshFunction(
        state.selected,
        functions.find((f) => f.name === state.selected) ?? (await api("GET", fnPath(state.selected))),
      );
    }
    if (state.taskId) await refreshTask(state.taskId);
    setStatus(`${state.note ? `${state.note} · ` : ""}Updated ${new Date().toLocaleTimeString()}`, state.noteError);
    state.note = "";
    state.noteError = false;
  } catch (error) {
    if (error.status === 401) {
      forgetKey();
      setStatus("That API key was not accepted.", true);
    } else setStatus(`Refresh failed: ${error.message}`, true);
  } finally {
    state.busy = false;
    if (state.again) refresh();
  }
}

function forgetKey() {
  sessionStorage.removeItem(KEY_SLOT);
  $("key-forget").hidden = true;
  $("main").hidden = true;
  state.selected = null;
  state.taskId = null;
  destroyCharts();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("key-input");
  const key = input.value.trim();
  input.value = "";
  if (!key) return;
  sessionStorage.setItem(KEY_SLOT, key);
  $("key-forget").hidden = false;
  setStatus("Loading…");
  refresh();
});
$("key-forget").addEventListener("click", () => {
  forgetKey();
  setStatus("Key forgotten.");
});
$("functions-next").addEventListener("click", () => {
  state.functionsCursor = state.functionsNext;
  refresh();
});
$("functions-first").addEventListener("click", () => {
  state.functionsCursor = null;
  refresh();
});
$("task-state").addEventListener("change", (event) => {
  state.taskFilter = event.target.value;
  state.tasksCursor = null;
  refresh();
});
$("tasks-next").addEventListener("click", () => {
  state.tasksCursor = state.tasksNext;
  refresh();
});
$("tasks-first").addEventListener("click", () => {
  state.tasksCursor = null;
  refresh();
});
wireScheduleForm(() => state.selected, act);
$("task-close").addEventListener("click", () => {
  state.taskId = null;
  $("task").hidden = true;
});
window.addEventListener("resize", () => {
  resizeCharts();
});

if (apiKey()) {
  $("key-forget").hidden = false;
  refresh();
}
setInterval(refresh, REFRESH_MS);
