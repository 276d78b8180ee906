// The selected function's schedules: the table with Pause/Resume and Delete per row, and the form that creates or
// replaces one (PUT /v1/functions/:name/schedules/:id, the whole schedule). Pausing keeps the timetable and payload:
// the schedule is read, then put back with `paused` changed (the API has no partial update).
import { $, api, el, fnPath, time } from "./lib.js";

const schedulePath = (fn, id) => `${fnPath(fn)}/schedules/${encodeURIComponent(id)}`;

async function setPaused(fn, id, paused) {
  const { cron, timezone, contentType, payload } = await api("GET", schedulePath(fn, id));
  await api("PUT", schedulePath(fn, id), {
    cron,
    timezone,
    contentType,
    paused,
    ...(payload !== undefined ? { payload } : {}),
  });
}

/** The rows; `act(method, path, done, json)` (app.js) runs a change, reports it and refreshes. */
export function renderSchedules(fn, schedules, act) {
  const rows = schedules.map((s) =>
    el(
      "tr",
      { "data-schedule": s.id },
      el("td", {}, s.id, s.paused ? el("span", { class: "badge paused" }, "paused") : ""),
      el("td", { class: "mono" }, s.cron),
      el("td", {}, s.timezone),
      el("td", {}, time(s.nextRunAt)),
      el(
        "td",
        { class: "actions" },
        el(
          "button",
          {
            type: "button",
            "data-action": s.paused ? "resume" : "pause",
            onclick: () =>
              act(
                () => setPaused(fn, s.id, !s.paused),
                undefined,
                `schedule ${s.id} ${s.paused ? "resumed" : "paused"}`,
              ),
          },
          s.paused ? "Resume" : "Pause",
        ),
        el(
          "button",
          {
            type: "button",
            "data-action": "delete",
            onclick: () => {
              if (window.confirm(`Delete schedule ${s.id}? Tasks it already fired stay.`))
                act("DELETE", schedulePath(fn, s.id), `schedule ${s.id} deleted`);
            },
          },
          "Delete",
        ),
      ),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 5 }, "No schedules.")));
  $("schedule-rows").replaceChildren(...rows);
}

/** The form's schedule; a payload box that is not empty must hold JSON (else this throws, and act() says so). */
function specOf() {
  const text = $("schedule-payload").value;
  let payload;
  if (text.trim() !== "") {
    try {
      payload = JSON.parse(text);
    } catch {
      throw new Error("the payload is not JSON");
    }
  }
  return {
    cron: $("schedule-cron").value.trim(),
    timezone: $("schedule-timezone").value.trim() || "UTC",
    ...(payload !== undefined ? { payload } : {}),
  };
}

export function wireScheduleForm(selected, act) {
  $("schedule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const fn = selected();
    if (!fn) return;
    const id = $("schedule-id").value.trim();
    const save = () => api("PUT", schedulePath(fn, id), specOf());
    if (await act(save, undefined, `schedule ${id} saved`)) $("schedule-form").reset();
  });
}
