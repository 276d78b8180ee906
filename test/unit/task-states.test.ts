import { describe, expect, it } from "vitest";
import {
  canTransition,
  isTaskState,
  isTerminal,
  TASK_STATES,
  type TaskEvent,
  type TaskState,
  TERMINAL_STATES,
  transition,
} from "../../src/task-states";

// The expected behaviour is written out by hand from the state table of shared/API.md, never derived from the module.
const ALL_STATES: readonly TaskState[] = [
  "accepted",
  "queued",
  "paused",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "expired",
];

const ALL_EVENTS: readonly TaskEvent[] = [
  "enqueue",
  "dispatch",
  "succeed",
  "requeue",
  "fail",
  "cancel",
  "pause",
  "resume",
  "expire",
  "retry",
];

/** API.md "goes to" column, plus the `retry` way out of failed/expired. */
const EXPECTED_EDGES: Readonly<Record<TaskState, readonly TaskState[]>> = {
  accepted: ["queued", "cancelled"],
  queued: ["running", "paused", "cancelled", "expired"],
  paused: ["queued", "cancelled"],
  running: ["succeeded", "queued", "failed", "cancelled"],
  succeeded: [],
  failed: ["queued"],
  cancelled: [],
  expired: ["queued"],
};

/** For every (state, event): the target state when allowed, or null when it must be refused. */
const EXPECTED: Readonly<Record<TaskState, Readonly<Record<TaskEvent, TaskState | null>>>> = {
  accepted: {
    enqueue: "queued",
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: "cancelled",
    pause: null,
    resume: null,
    expire: null,
    retry: null,
  },
  queued: {
    enqueue: null,
    dispatch: "running",
    succeed: null,
    requeue: null,
    fail: null,
    cancel: "cancelled",
    pause: "paused",
    resume: null,
    expire: "expired",
    retry: null,
  },
  paused: {
    enqueue: null,
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: "cancelled",
    pause: null,
    resume: "queued",
    expire: null,
    retry: null,
  },
  running: {
    enqueue: null,
    dispatch: null,
    succeed: "succeeded",
    requeue: "queued",
    fail: "failed",
    cancel: "cancelled",
    pause: null,
    resume: null,
    expire: null,
    retry: null,
  },
  succeeded: {
    enqueue: null,
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: null,
    pause: null,
    resume: null,
    expire: null,
    retry: null,
  },
  failed: {
    enqueue: null,
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: null,
    pause: null,
    resume: null,
    expire: null,
    retry: "queued",
  },
  cancelled: {
    enqueue: null,
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: null,
    pause: null,
    resume: null,
    expire: null,
    retry: null,
  },
  expired: {
    enqueue: null,
    dispatch: null,
    succeed: null,
    requeue: null,
    fail: null,
    cancel: null,
    pause: null,
    resume: null,
    expire: null,
    retry: "queued",
  },
};

const cases = ALL_STATES.flatMap((from) => ALL_EVENTS.map((event) => ({ from, event, to: EXPECTED[from][event] })));
const allowed = cases.filter((c) => c.to !== null);
const refused = cases.filter((c) => c.to === null);

describe("task state vocabulary", () => {
  it("has exactly the eight states of API.md, in table order", () => {
    expect([...TASK_STATES]).toEqual(ALL_STATES);
  });

  it("the expected table covers every state x event pair (80 cases: 14 allowed, 66 refused)", () => {
    expect(cases).toHaveLength(80);
    expect(allowed).toHaveLength(14);
    expect(refused).toHaveLength(66);
  });

  it("isTaskState accepts the eight states and nothing else", () => {
    for (const state of ALL_STATES) expect(isTaskState(state)).toBe(true);
    for (const other of [
      "",
      "Queued",
      "QUEUED",
      "done",
      "pending",
      "queued ",
      "delivered",
      "toString",
      "constructor",
    ]) {
      expect(isTaskState(other)).toBe(false);
    }
  });
});

describe("transition: allowed", () => {
  it.each(allowed)("$event from $from goes to $to", ({ from, event, to }) => {
    expect(transition(from, event)).toEqual({ ok: true, from, to });
  });
});

describe("transition: refused", () => {
  it.each(refused)("$event from $from is refused, naming the current state", ({ from, event }) => {
    const result = transition(from, event);
    expect(result.ok).toBe(false);
    expect(result).toEqual({ ok: false, from, event, reason: `cannot ${event} a task that is ${from}` });
  });

  it("nothing happens to a succeeded or cancelled task (not even retry)", () => {
    for (const from of ["succeeded", "cancelled"] as const) {
      for (const event of ALL_EVENTS) expect(transition(from, event).ok).toBe(false);
    }
  });

  it("the documented 409 examples: pause a succeeded task, resume a running one", () => {
    expect(transition("succeeded", "pause").ok).toBe(false);
    expect(transition("running", "resume").ok).toBe(false);
    expect(transition("running", "pause").ok).toBe(false);
    expect(transition("paused", "dispatch").ok).toBe(false);
  });
});

describe("canTransition", () => {
  const pairs = ALL_STATES.flatMap((from) =>
    ALL_STATES.map((to) => ({ from, to, expected: EXPECTED_EDGES[from].includes(to) })),
  );

  it.each(pairs)("$from -> $to is $expected", ({ from, to, expected }) => {
    expect(canTransition(from, to)).toBe(expected);
  });

  it("allows exactly 14 edges", () => {
    expect(pairs.filter((p) => p.expected)).toHaveLength(14);
    expect(pairs.filter((p) => canTransition(p.from, p.to))).toHaveLength(14);
  });

  it("never allows a self-loop", () => {
    for (const state of ALL_STATES) expect(canTransition(state, state)).toBe(false);
  });

  it("never re-enters accepted", () => {
    for (const state of ALL_STATES) expect(canTransition(state, "accepted")).toBe(false);
  });

  it("every allowed event is also an allowed edge", () => {
    for (const { from, to } of allowed) expect(canTransition(from, to as TaskState)).toBe(true);
  });
});

describe("isTerminal", () => {
  const expectedTerminal: Readonly<Record<TaskState, boolean>> = {
    accepted: false,
    queued: false,
    paused: false,
    running: false,
    succeeded: true,
    failed: true,
    cancelled: true,
    expired: true,
  };

  it.each(ALL_STATES.map((state) => ({ state, terminal: expectedTerminal[state] })))(
    "$state terminal: $terminal",
    ({ state, terminal }) => {
      expect(isTerminal(state)).toBe(terminal);
      expect(TERMINAL_STATES.has(state)).toBe(terminal);
    },
  );

  it("TERMINAL_STATES holds exactly the four terminal states", () => {
    expect([...TERMINAL_STATES].sort()).toEqual(["cancelled", "expired", "failed", "succeeded"]);
  });

  it("the only way out of a terminal state is retry back to queued", () => {
    for (const from of ALL_STATES.filter((s) => expectedTerminal[s])) {
      for (const event of ALL_EVENTS) {
        const result = transition(from, event);
        if (result.ok) {
          expect(event).toBe("retry");
          expect(result.to).toBe("queued");
        }
      }
    }
  });
});
