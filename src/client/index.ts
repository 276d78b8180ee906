/**
 * @module
 * `sluice/client`: a small typed client of the Sluice tenant API (docs/api.md). Plain `fetch` and zod, no Cloudflare
 * imports: it runs in Node ≥ 20, browsers and Workers. Every answer is validated; every refusal is raised as a
 * {@link SluiceError} carrying the problem's `status`, `type`, `title` and `detail`.
 *
 * @example
 * import { SluiceClient } from "sluice/client";
 * const sluice = new SluiceClient({ url: "http://localhost:8787", apiKey: process.env.SLUICE_API_KEY! });
 * const { id } = await sluice.submit("echo", { echo: "hello" });
 * const task = await sluice.waitForTask(id, { timeoutMs: 30_000 });
 * console.log(task.state, task.result);
 */

import { z } from "zod";
import { isTerminal } from "../task-states";
import { type BatchItem, type BatchOutcome, type SubmitManyOptions, submitMany } from "./batch-submit";
import { SluiceError } from "./errors";
import { type ClientOptions, Http } from "./http";
import {
  acceptedSchema,
  batchResultSchema,
  type FunctionPage,
  type FunctionView,
  functionPageSchema,
  functionViewSchema,
  type Schedule,
  type Stats,
  scheduleDeletedSchema,
  scheduleListSchema,
  scheduleSchema,
  statsSchema,
  type Task,
  type TaskPage,
  type TaskState,
  type TaskSummary,
  taskPageSchema,
  taskSchema,
} from "./schemas";
import { type WaitOptions, waitForTask } from "./wait";

export { chunkRanges, MAX_BATCH } from "./batch";
export { type BatchItem, type BatchOutcome, type SubmitManyOptions, validateBatchItem } from "./batch-submit";
export { type FieldError, SluiceError, SluiceResponseError } from "./errors";
export type { ClientOptions } from "./http";
export * from "./schemas";
export { TaskWaitTimeoutError, type WaitOptions } from "./wait";

export interface SubmitOptions {
  /** Deduplicates within the function's `dedupWindowSeconds`: a repeat answers the first task's id. */
  readonly idempotencyKey?: string;
  /** Seconds before the task becomes due (≤ 604800). */
  readonly delaySeconds?: number;
  /** Your customer or partition id: tasks of one function are scheduled fairly across these keys. */
  readonly fairnessKey?: string;
  /** Content type of a raw payload (a string, bytes, a Blob); JSON values are always `application/json`. */
  readonly contentType?: string;
  /** `Prefer: wait=N` (N ≤ 60): hold the answer until the task ends or N seconds pass. */
  readonly waitSeconds?: number;
  readonly signal?: AbortSignal;
}

export interface SubmitResult {
  readonly id: string;
  /** The state when the answer was made (absent for a deduplicated submission). */
  readonly state?: TaskState | undefined;
  readonly statusUrl?: string | undefined;
  /** `true` when the idempotency key named an earlier task: `id` is that task's. */
  readonly deduplicated: boolean;
  /** The ended task, when `waitSeconds` was given and it ended in time. */
  readonly task?: Task | undefined;
}

/** The body of `PUT /v1/functions/:name/schedules/:id` (API.md "Schedules"). */
export interface ScheduleSpec {
  /** 5 fields (`minute hour day month weekday`), or 6 with seconds first. */
  readonly cron: string;
  /** An IANA time zone (default UTC). */
  readonly timezone?: string;
  /** Any JSON; for a non-JSON `contentType`, a string sent as its own text. */
  readonly payload?: unknown;
  readonly contentType?: string;
  readonly paused?: boolean;
}

export interface ListTasksOptions {
  readonly state?: TaskState | undefined;
  /** Tasks per page, 1 … 1000 (the server's default is 100). */
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

type Operation = "cancel" | "pause" | "resume" | "retry";

const name = (fn: string) => encodeURIComponent(fn);
const schedulePath = (fn: string, id: string) => `/v1/functions/${name(fn)}/schedules/${encodeURIComponent(id)}`;

function rawBody(payload: unknown, contentType: string | undefined): { body: BodyInit; contentType: string } {
  if (typeof payload === "string") return { body: payload, contentType: contentType ?? "text/plain; charset=utf-8" };
  if (payload instanceof Uint8Array || payload instanceof ArrayBuffer) {
    return { body: payload as BodyInit, contentType: contentType ?? "application/octet-stream" };
  }
  if (typeof Blob !== "undefined" && payload instanceof Blob) {
    return { body: payload, contentType: contentType ?? (payload.type || "application/octet-stream") };
  }
  if (payload === undefined) throw new TypeError("payload is required");
  return { body: JSON.stringify(payload), contentType: contentType ?? "application/json" };
}

export class SluiceClient {
  readonly #http: Http;

  constructor(options: ClientOptions) {
    this.#http = new Http(options);
  }

  /**
   * Submit one task. A string, `Uint8Array`, `ArrayBuffer` or `Blob` is sent byte for byte (give `contentType`);
   * anything else is sent as JSON.
   */
  async submit(fn: string, payload: unknown, options: SubmitOptions = {}): Promise<SubmitResult> {
    const { body, contentType } = rawBody(payload, options.contentType);
    const wait = options.waitSeconds;
    const { data } = await this.#http.json("POST", `/v1/functions/${name(fn)}/tasks`, z.unknown(), {
      body,
      signal: options.signal,
      headers: {
        "content-type": contentType,
        "idempotency-key": options.idempotencyKey,
        "sluice-delay": options.delaySeconds === undefined ? undefined : String(options.delaySeconds),
        "sluice-fairness-key": options.fairnessKey,
        prefer: wait === undefined ? undefined : `wait=${Math.max(0, Math.min(60, Math.floor(wait)))}`,
      },
    });
    // An ended task (after a wait) is the whole task object; otherwise the short acceptance.
    const ended = taskSchema.safeParse(data);
    if (ended.success && isTerminal(ended.data.state)) {
      const deduplicated = (data as { deduplicated?: unknown }).deduplicated === true;
      return { id: ended.data.id, state: ended.data.state, deduplicated, task: ended.data };
    }
    const accepted = acceptedSchema.parse(data);
    return { ...accepted, deduplicated: accepted.deduplicated === true };
  }

  /** Submit up to 100 tasks in one request (payloads are JSON); ids come back in order. Whole or nothing. */
  async submitBatch(
    fn: string,
    items: readonly BatchItem[],
    options: { signal?: AbortSignal } = {},
  ): Promise<{ id: string; deduplicated: boolean }[]> {
    const { data } = await this.#http.json("POST", `/v1/functions/${name(fn)}/tasks:batch`, batchResultSchema, {
      body: JSON.stringify(items),
      headers: { "content-type": "application/json" },
      signal: options.signal,
    });
    return data.tasks.map((t) => ({ id: t.id, deduplicated: t.deduplicated === true }));
  }

  /**
   * Submit any number of tasks in batch requests of at most 100 (and under the 10 MiB body limit), one after the
   * other, waiting out `429 Retry-After`. Never throws for a refused chunk: each item gets its own outcome, in order.
   */
  submitMany(fn: string, items: readonly BatchItem[], options: SubmitManyOptions = {}): Promise<BatchOutcome[]> {
    return submitMany((chunk, signal) => this.submitBatch(fn, chunk, { signal }), items, options);
  }

  async getTask(id: string, options: { signal?: AbortSignal } = {}): Promise<Task> {
    return (await this.#http.json("GET", `/v1/tasks/${name(id)}`, taskSchema, options)).data;
  }

  /** Poll the task until it ends (succeeded, failed, cancelled, expired) or `timeoutMs` passes. */
  waitForTask(id: string, options: WaitOptions = {}): Promise<Task> {
    return waitForTask((signal) => this.getTask(id, { signal }), options);
  }

  /** One page of a function's tasks, newest first. `nextCursor` is null on the last page. */
  async listTasks(fn: string, options: ListTasksOptions = {}): Promise<TaskPage> {
    const { state, limit, cursor, signal } = options;
    const path = `/v1/functions/${name(fn)}/tasks`;
    return (await this.#http.json("GET", path, taskPageSchema, { query: { state, limit, cursor }, signal })).data;
  }

  /** Every task of a function (optionally in one state), newest first, page after page. */
  async *iterateTasks(fn: string, options: Omit<ListTasksOptions, "cursor"> = {}): AsyncGenerator<TaskSummary> {
    let cursor: string | undefined;
    do {
      const page = await this.listTasks(fn, { ...options, cursor });
      yield* page.tasks;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  cancel(id: string): Promise<Task> {
    return this.#operate(id, "cancel");
  }

  /** Re-drive a failed or expired task as a new run (back to queued). */
  retry(id: string): Promise<Task> {
    return this.#operate(id, "retry");
  }

  pause(id: string): Promise<Task> {
    return this.#operate(id, "pause");
  }

  resume(id: string): Promise<Task> {
    return this.#operate(id, "resume");
  }

  async #operate(id: string, op: Operation): Promise<Task> {
    return (await this.#http.json("POST", `/v1/tasks/${name(id)}/${op}`, taskSchema)).data;
  }

  /** A function's counts per state, calls in flight, AIMD window, placement and (where served) latencies. */
  async stats(fn: string): Promise<Stats> {
    return (await this.#http.json("GET", `/v1/functions/${name(fn)}/stats`, statsSchema)).data;
  }

  /** The same figures over all the account's functions. */
  async accountStats(): Promise<Stats> {
    return (await this.#http.json("GET", "/v1/account/stats", statsSchema)).data;
  }

  /** One page of the account's functions, by name. */
  async listFunctions(options: { limit?: number; cursor?: string } = {}): Promise<FunctionPage> {
    return (await this.#http.json("GET", "/v1/functions", functionPageSchema, { query: options })).data;
  }

  async *iterateFunctions(options: { limit?: number } = {}): AsyncGenerator<FunctionView> {
    let cursor: string | undefined;
    do {
      const page = await this.listFunctions({ ...options, ...(cursor ? { cursor } : {}) });
      yield* page.functions;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async getFunction(fn: string): Promise<FunctionView> {
    return (await this.#http.json("GET", `/v1/functions/${name(fn)}`, functionViewSchema)).data;
  }

  /** The schedules of a function (`GET /v1/functions/:name/schedules`), without their payloads. */
  async listSchedules(fn: string): Promise<Schedule[]> {
    return (await this.#http.json("GET", `/v1/functions/${name(fn)}/schedules`, scheduleListSchema)).data.schedules;
  }

  /** One schedule, with its payload (`GET /v1/functions/:name/schedules/:id`). */
  async getSchedule(fn: string, id: string): Promise<Schedule> {
    return (await this.#http.json("GET", schedulePath(fn, id), scheduleSchema)).data;
  }

  /** Create or replace a schedule (`PUT`); `created` is true for a new one (201). */
  async putSchedule(fn: string, id: string, spec: ScheduleSpec): Promise<{ schedule: Schedule; created: boolean }> {
    const { status, data } = await this.#http.json("PUT", schedulePath(fn, id), scheduleSchema, {
      body: JSON.stringify(spec),
      headers: { "content-type": "application/json" },
    });
    return { schedule: data, created: status === 201 };
  }

  async deleteSchedule(fn: string, id: string): Promise<void> {
    await this.#http.json("DELETE", schedulePath(fn, id), scheduleDeletedSchema);
  }

  /**
   * Pause or resume a schedule, keeping its timetable and task body: a read, then a replacement with `paused` set
   * (the API has no partial update). An edit that lands between the two is overwritten by the replacement.
   */
  async setSchedulePaused(fn: string, id: string, paused: boolean): Promise<Schedule> {
    const { cron, timezone, contentType, payload } = await this.getSchedule(fn, id);
    const spec: ScheduleSpec = {
      cron,
      timezone,
      paused,
      ...(contentType !== undefined ? { contentType } : {}),
      ...(payload !== undefined ? { payload } : {}),
    };
    return (await this.putSchedule(fn, id, spec)).schedule;
  }
}

/** `true` for an error the API answered with this problem kind (`not-found`, `rate-limited`, …). */
export function isProblem(error: unknown, kind?: string): error is SluiceError {
  return error instanceof SluiceError && (kind === undefined || error.kind === kind);
}
