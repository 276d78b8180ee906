/**
 * @module
 * The task state machine of API.md as pure data and functions. The shard applies every transition it returns in one
 * storage transaction; anything not listed here is refused with the current state named.
 */

export const TASK_STATES = [
  "accepted",
  "queued",
  "paused",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "expired",
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "cancelled", "expired"]);

/** Allowed `from -> to` edges, exactly the table of API.md ("retry" is the one way out of a terminal state). */
const EDGES: Readonly<Record<TaskState, readonly TaskState[]>> = {
  accepted: ["queued", "cancelled"],
  queued: ["running", "paused", "cancelled", "expired"],
  paused: ["queued", "cancelled"],
  running: ["succeeded", "queued", "failed", "cancelled"],
  succeeded: [],
  failed: ["queued"],
  cancelled: [],
  expired: ["queued"],
};

/** What happened to a task; each event names the one target state it leads to. */
export type TaskEvent =
  | "enqueue" // accepted -> queued (the shard stored it)
  | "dispatch" // queued -> running
  | "succeed" // running -> succeeded
  | "requeue" // running -> queued (retry after a failed/throttled attempt, or an expired lease)
  | "fail" // running -> failed
  | "cancel" // accepted|queued|paused|running -> cancelled
  | "pause" // queued -> paused
  | "resume" // paused -> queued
  | "expire" // queued -> expired
  | "retry"; // failed|expired -> queued (a new run, keeping history)

const EVENT_TARGET: Readonly<Record<TaskEvent, TaskState>> = {
  enqueue: "queued",
  dispatch: "running",
  succeed: "succeeded",
  requeue: "queued",
  fail: "failed",
  cancel: "cancelled",
  pause: "paused",
  resume: "queued",
  expire: "expired",
  retry: "queued",
};

/** Which states each event may start from (an event is narrower than the edge table: `resume` never leaves `running`). */
const EVENT_FROM: Readonly<Record<TaskEvent, readonly TaskState[]>> = {
  enqueue: ["accepted"],
  dispatch: ["queued"],
  succeed: ["running"],
  requeue: ["running"],
  fail: ["running"],
  cancel: ["accepted", "queued", "paused", "running"],
  pause: ["queued"],
  resume: ["paused"],
  expire: ["queued"],
  retry: ["failed", "expired"],
};

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canTransition(from: TaskState, to: TaskState): boolean {
  return EDGES[from].includes(to);
}

export type TransitionResult =
  | { readonly ok: true; readonly from: TaskState; readonly to: TaskState }
  | { readonly ok: false; readonly from: TaskState; readonly event: TaskEvent; readonly reason: string };

/**
 * Decide whether `event` may happen to a task in state `from`.
 * @example transition("queued", "dispatch") // { ok: true, from: "queued", to: "running" }
 */
export function transition(from: TaskState, event: TaskEvent): TransitionResult {
  const to = EVENT_TARGET[event];
  if (!EVENT_FROM[event].includes(from) || !canTransition(from, to)) {
    return { ok: false, from, event, reason: `cannot ${event} a task that is ${from}` };
  }
  return { ok: true, from, to };
}

export function isTaskState(value: string): value is TaskState {
  return (TASK_STATES as readonly string[]).includes(value);
}

/** The states `event` may start from (for set-based SQL: `WHERE state IN (...)`). */
export function sourcesOf(event: TaskEvent): readonly TaskState[] {
  return EVENT_FROM[event];
}

/** The state `event` leads to. */
export function targetOf(event: TaskEvent): TaskState {
  return EVENT_TARGET[event];
}

/**
 * The target of a transition the caller has already checked is allowed (it read the row in the same transaction);
 * throws if the table says otherwise, which would be a bug in the caller.
 */
export function mustTransition(from: TaskState, event: TaskEvent): TaskState {
  const step = transition(from, event);
  if (!step.ok) throw new Error(step.reason);
  return step.to;
}
