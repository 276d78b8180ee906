/**
 * @module
 * Waiting for a task to end: polls with a growing interval (100 ms doubling to 2 s), bounded by `timeoutMs`.
 * `GET /v1/tasks/:id` answers at once, so a poll is cheap; `Prefer: wait` exists only on submission.
 */

import { isTerminal } from "../task-states";
import type { Task } from "./schemas";

export interface WaitOptions {
  /** Give up after this long (default 60 s) with a {@link TaskWaitTimeoutError}. */
  readonly timeoutMs?: number;
  /** First poll interval (default 100 ms); doubles up to `maxIntervalMs`. */
  readonly intervalMs?: number;
  readonly maxIntervalMs?: number;
  /** Called with every task read, so a caller can show progress. */
  readonly onUpdate?: (task: Task) => void;
  readonly signal?: AbortSignal;
}

/** The task had not ended when the wait ran out; `task` is how it was last seen. */
export class TaskWaitTimeoutError extends Error {
  override readonly name = "TaskWaitTimeoutError";
  readonly task: Task;

  constructor(task: Task, timeoutMs: number) {
    super(`task ${task.id} is still ${task.state} after ${Math.round(timeoutMs / 1000)} s`);
    this.task = task;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export async function waitForTask(
  read: (signal: AbortSignal | undefined) => Promise<Task>,
  options: WaitOptions = {},
): Promise<Task> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const maxInterval = options.maxIntervalMs ?? 2_000;
  let interval = options.intervalMs ?? 100;
  for (;;) {
    const task = await read(options.signal);
    options.onUpdate?.(task);
    if (isTerminal(task.state)) return task;
    const left = deadline - Date.now();
    if (left <= 0) throw new TaskWaitTimeoutError(task, timeoutMs);
    await sleep(Math.min(interval, left), options.signal);
    interval = Math.min(interval * 2, maxInterval);
  }
}
