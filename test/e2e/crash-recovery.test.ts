/**
 * End-to-end fault injection under `wrangler dev`: the whole platform (wrangler + workerd) is killed with SIGKILL while
 * tenant calls, webhook deliveries and a background bulk operation are in flight, then started again on the same
 * persisted state, port and admin token. Nothing a client was told was accepted may be lost:
 *
 * 1. every task answered 202 ends `succeeded`, its `delivery.state` becomes `delivered`, and the webhook receiver saw
 *    it (by `data.id`); duplicate deliveries are allowed (at-least-once) and counted;
 * 2. a `tasks:cancel {state:"queued"}` over thousands of tasks, interrupted right after its answer, still ends with
 *    every task `cancelled` and none left `queued`.
 *
 * Every wait is a poll with a deadline; a failure names the task ids, their states and the tail of the platform logs.
 */

import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  call,
  createAccount,
  freePort,
  putFunction,
  startPlatform,
  startRecordingServer,
  waitFor,
  type Account,
  type Platform,
  type RecordedRequest,
} from "./harness";

const VARS = {
  DELIVERY_SCHEDULE_SECONDS: "0,1,1,1,1,1,1,1",
  DELIVERY_TIMEOUT_MS: "3000",
  LEASE_GRACE_MS: "1000",
  CACHE_TTL_MS: "1000",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...args: unknown[]) => console.log("[crash-recovery]", ...args);

let stateDir: string;
let port: number;
const adminToken = `crash-admin-${randomBytes(12).toString("hex")}`;
let platform: Platform | undefined;
/** Every incarnation of the platform, in order, so a failure can show the logs around each crash. */
const incarnations: { label: string; platform: Platform }[] = [];
let servers: Awaited<ReturnType<typeof startRecordingServer>>;
let account: Account;
let base: string;

function header(request: RecordedRequest, name: string): string {
  const value = request.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

// ---------------------------------------------------------------------------------------------------------------------
// Local tenant function and webhook receiver (one node:http server on 127.0.0.1)

/** Calls of the tenant function per task id, and how many are unanswered right now. */
const tenantCalls = new Map<string, number>();
let tenantInFlight = 0;

interface Delivery {
  webhookId: string;
  taskId: string;
  type: string;
  status: number;
  at: number;
}
const deliveries: Delivery[] = [];
const hookAttemptsById = new Map<string, number>();
let hookInFlight = 0;

function answerLater(res: ServerResponse, delayMs: number, status: number, body?: string, onDone?: () => void): void {
  setTimeout(() => {
    onDone?.();
    try {
      if (res.destroyed) return;
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { "content-type": "application/json" }).end(body);
    } catch {
      /* the platform was killed mid-call */
    }
  }, delayMs);
}

function respond(request: RecordedRequest, res: ServerResponse): void {
  if (request.path.startsWith("/hook")) {
    const webhookId = header(request, "webhook-id");
    let taskId = "";
    let type = "";
    try {
      const envelope = JSON.parse(request.body.toString("utf8")) as { type: string; data: { id: string } };
      taskId = envelope.data.id;
      type = envelope.type;
    } catch {
      /* recorded with an empty task id; the test then misses it */
    }
    const n = (hookAttemptsById.get(webhookId) ?? 0) + 1;
    hookAttemptsById.set(webhookId, n);
    // About a third of the first attempts fail, so retries are in flight when the platform dies.
    const status = n === 1 && Math.random() < 0.35 ? 503 : 204;
    hookInFlight++;
    answerLater(res, Math.floor(Math.random() * 150), status, undefined, () => {
      hookInFlight--;
      deliveries.push({ webhookId, taskId, type, status, at: Date.now() });
    });
    return;
  }
  // The tenant function: 200 JSON after a small random delay.
  const taskId = header(request, "sluice-task-id");
  tenantCalls.set(taskId, (tenantCalls.get(taskId) ?? 0) + 1);
  tenantInFlight++;
  answerLater(
    res,
    30 + Math.floor(Math.random() * 400),
    200,
    JSON.stringify({ ok: true, taskId, attempt: header(request, "sluice-attempt") }),
    () => tenantInFlight--,
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// Platform life cycle

async function start(label: string): Promise<number> {
  const began = Date.now();
  platform = await startPlatform(VARS, { stateDir, port, adminToken });
  incarnations.push({ label, platform });
  base = platform.url;
  return Date.now() - began;
}

async function crash(): Promise<void> {
  await platform?.kill();
  platform = undefined;
}

function logsTail(lines = 40): string {
  return incarnations
    .map(({ label, platform: p }) => {
      const text = p
        .logs()
        .split("\n")
        .filter((line) => line.trim() !== "")
        .slice(-lines)
        .join("\n");
      return `--- platform logs (${label}), last ${lines} lines ---\n${text || "(no output at --log-level warn)"}`;
    })
    .join("\n");
}

/** An Error naming `what`, `detail` and the tail of every platform incarnation's logs. */
function failure(what: string, detail: unknown): Error {
  return new Error(`${what}\n${typeof detail === "string" ? detail : JSON.stringify(detail, null, 2)}\n${logsTail()}`);
}

/** Run `worker` over `items` with at most `lanes` in flight. */
async function pool<T, R>(items: readonly T[], lanes: number, worker: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await worker(items[i] as T);
    }),
  );
  return results;
}

/** One HTTP call that answers `undefined` instead of throwing while the platform is down. */
async function tryCall(method: string, path: string, options: Parameters<typeof call>[3] = {}) {
  try {
    return await call(base, method, path, { token: account.apiKey, timeoutMs: 15_000, ...options });
  } catch {
    return undefined;
  }
}

/** Every task of a function in `state` (or all), following the cursor. */
interface Listed {
  id: string;
  state: string;
  updatedAt: string;
}
async function listAll(fn: string, state?: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query = new URLSearchParams({ limit: "1000" });
    if (state) query.set("state", state);
    if (cursor) query.set("cursor", cursor);
    const listed = await call(base, "GET", `/v1/functions/${fn}/tasks?${query}`, { token: account.apiKey, timeoutMs: 30_000 });
    if (listed.status !== 200) throw failure(`listing ${fn} state=${state ?? "*"}: HTTP ${listed.status}`, listed.text.slice(0, 500));
    out.push(...(listed.body.tasks as Listed[]));
    cursor = listed.body.nextCursor as string | null;
    if (!cursor) return out;
  }
  throw failure(`listing ${fn} did not end after 100 pages`, { seen: out.length });
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-crash-state-"));
  port = await freePort();
  servers = await startRecordingServer(respond);
  const startupMs = await start("first start");
  log(`platform up in ${startupMs} ms on port ${port}, state in ${stateDir}`);
  account = await createAccount(base, adminToken, `crash-${randomBytes(4).toString("hex")}`);
});

afterAll(async () => {
  await platform?.stop();
  await servers?.close();
  console.log("KEPT STATE", stateDir);
});

// ---------------------------------------------------------------------------------------------------------------------

describe("SIGKILL of the whole platform, restart on the same state", () => {
  it("loses no accepted task and no delivery when killed twice during calls and deliveries", { timeout: 240_000 }, async () => {
    const FN = "crash-deliver";
    const TARGET = 150;
    await putFunction(base, account.apiKey, FN, {
      target: { type: "url", url: `${servers.url}/fn` },
      timeoutMs: 5_000,
      retry: { maxAttempts: 6, initialBackoffMs: 200, maxBackoffMs: 2_000 },
      destinations: { onSuccess: { type: "webhook", url: `${servers.url}/hook` } },
    });

    // --- the submitter: single submits (through the ingest queue), single submits with an Idempotency-Key (straight
    // to the shard) and batches, in three lanes, until TARGET tasks were answered. It keeps going across the crashes;
    // a submission without an answer does not count (an idempotent one is retried with the same key).
    const accepted = new Map<string, { kind: string; at: number }>();
    let unanswered = 0;
    let opNumber = 0;
    const pendingIdemKeys: string[] = [];
    const submitOne = async (): Promise<void> => {
      const kind = ["single", "idem", "batch"][opNumber++ % 3] as string;
      if (kind === "single") {
        const r = await tryCall("POST", `/v1/functions/${FN}/tasks`, { json: { n: opNumber, kind } });
        if (r?.status === 202) accepted.set(r.body.id, { kind, at: Date.now() });
        else unanswered++;
      } else if (kind === "idem") {
        const key = pendingIdemKeys.shift() ?? randomUUID();
        const r = await tryCall("POST", `/v1/functions/${FN}/tasks`, {
          json: { n: opNumber, kind },
          headers: { "idempotency-key": key },
        });
        if (r && (r.status === 202 || (r.status === 200 && r.body?.deduplicated))) {
          accepted.set(r.body.id, { kind: r.status === 200 ? "idem-retried" : kind, at: Date.now() });
        } else {
          unanswered++;
          pendingIdemKeys.push(key);
        }
      } else {
        const size = 2 + (opNumber % 9);
        const items = Array.from({ length: size }, (_, i) => ({ payload: { n: opNumber, i, kind } }));
        const r = await tryCall("POST", `/v1/functions/${FN}/tasks:batch`, { json: items });
        if (r?.status === 202) for (const t of r.body.tasks as { id: string }[]) accepted.set(t.id, { kind, at: Date.now() });
        else unanswered++;
      }
    };
    let submitterDone = false;
    const submitter = (async () => {
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          while (accepted.size < TARGET) {
            const before = unanswered;
            await submitOne();
            await sleep(unanswered > before ? 300 : 60);
          }
        }),
      );
      submitterDone = true;
    })();

    const okDeliveredIds = () => new Set(deliveries.filter((d) => d.status < 300).map((d) => d.taskId));
    const crashes: Record<string, unknown>[] = [];
    const killTimes: { label: string; killedAt: number; restartedAt: number }[] = [];
    const crashWhen = async (label: string, minAccepted: number, minNewDeliveries: number) => {
      const seenBefore = deliveries.length;
      await waitFor(async () => accepted.size >= minAccepted && deliveries.length - seenBefore >= minNewDeliveries, {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: `${label}: ${minAccepted} accepted and ${minNewDeliveries} new deliveries`,
      }).catch((error: Error) => {
        throw failure(error.message, { accepted: accepted.size, deliveries: deliveries.length, unanswered });
      });
      const snapshot = {
        label,
        accepted: accepted.size,
        tenantCallsInFlight: tenantInFlight,
        deliveriesInFlight: hookInFlight,
        deliveriesSeen: deliveries.length,
        tasksDeliveredOk: okDeliveredIds().size,
        retryPendingWebhooks: [...hookAttemptsById].filter(([id]) => !deliveries.some((d) => d.webhookId === id && d.status < 300)).length,
      };
      // A burst of plain submits (each one goes through the ingest queue) and the kill as soon as half of them were
      // answered 202: the rest of the burst, and the queue hand-over of the answered ones, are cut off.
      let burstAnswered = 0;
      const burstKill = new Promise<void>((resolve) => {
        for (let i = 0; i < 16; i++) {
          void tryCall("POST", `/v1/functions/${FN}/tasks`, { json: { burst: label, i } }).then((r) => {
            if (r?.status === 202) {
              accepted.set(r.body.id, { kind: "burst", at: Date.now() });
              if (++burstAnswered === 8) resolve();
            } else unanswered++;
          });
        }
        setTimeout(resolve, 5_000);
      });
      await burstKill;
      const killedAt = Date.now();
      await crash();
      const killMs = Date.now() - killedAt;
      await sleep(500);
      const restartMs = await start(`after ${label}`);
      killTimes.push({ label, killedAt, restartedAt: Date.now() });
      crashes.push({ ...snapshot, burstAnswered, killMs, restartMs });
      log(`${label}:`, JSON.stringify(crashes.at(-1)));
      return Date.now();
    };

    await crashWhen("kill 1", 50, 10);
    const lastRestart = await crashWhen("kill 2", 110, 10);
    await waitFor(async () => submitterDone, { timeoutMs: 60_000, intervalMs: 50, what: "the submitter" }).catch(() => {
      throw failure("the submitter did not reach its target within 60 s after the last restart", { accepted: accepted.size, unanswered });
    });
    await submitter;

    // --- recovery: every accepted task succeeds and is delivered. Poll only what is not done yet; give up when nothing
    // moved for 25 s (leases are 6 s, the delivery schedule 7 s: longer than that without progress is a loss).
    const ids = [...accepted.keys()];
    const views = new Map<string, any>();
    const done = (v: any) => v?.state === "succeeded" && v?.delivery?.state === "delivered";
    let lastProgress = Date.now();
    let doneCount = 0;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && Date.now() - lastProgress < 25_000) {
      const open = ids.filter((id) => !done(views.get(id)));
      if (open.length === 0) break;
      await pool(open, 16, async (id) => {
        const r = await tryCall("GET", `/v1/tasks/${id}`);
        if (r?.status === 200) views.set(id, r.body);
        else views.set(id, { state: `HTTP ${r?.status ?? "unreachable"}`, text: r?.text.slice(0, 200) });
      });
      const now = ids.filter((id) => done(views.get(id))).length;
      if (now > doneCount) {
        doneCount = now;
        lastProgress = Date.now();
      }
      if (now < ids.length) await sleep(500);
    }
    const recoveredMs = lastProgress - lastRestart;

    // --- what the receiver saw
    const okIds = okDeliveredIds();
    const okPerTask = new Map<string, number>();
    const webhookIdsPerTask = new Map<string, Set<string>>();
    for (const d of deliveries) {
      if (d.status < 300) okPerTask.set(d.taskId, (okPerTask.get(d.taskId) ?? 0) + 1);
      webhookIdsPerTask.set(d.taskId, (webhookIdsPerTask.get(d.taskId) ?? new Set()).add(d.webhookId));
    }
    const duplicateDeliveries = [...okPerTask.values()].reduce((sum, n) => sum + n - 1, 0);
    const extraTaskIds = [...okIds].filter((id) => !accepted.has(id));
    const byState: Record<string, number> = {};
    for (const id of ids) {
      const v = views.get(id);
      const key = `${v?.state}/${v?.delivery?.state ?? "none"}`;
      byState[key] = (byState[key] ?? 0) + 1;
    }
    const summary = {
      accepted: ids.length,
      acceptedByKind: ids.reduce<Record<string, number>>((acc, id) => {
        const kind = accepted.get(id)?.kind ?? "?";
        acc[kind] = (acc[kind] ?? 0) + 1;
        return acc;
      }, {}),
      unansweredSubmissions: unanswered,
      crashes,
      finalStates: byState,
      deliveriesReceived: deliveries.length,
      deliveriesAnswered503: deliveries.filter((d) => d.status === 503).length,
      tasksDeliveredAtReceiver: [...okIds].filter((id) => accepted.has(id)).length,
      duplicateOkDeliveries: duplicateDeliveries,
      tasksWithMoreThanOneWebhookId: [...webhookIdsPerTask.values()].filter((s) => s.size > 1).length,
      tasksCalledMoreThanOnce: ids.filter((id) => (tenantCalls.get(id) ?? 0) > 1).length,
      deliveredTasksNotAccepted: extraTaskIds.length,
      msFromLastRestartUntilLastTaskDone: recoveredMs,
    };
    log("deliveries summary:", JSON.stringify(summary));

    const describeTask = (id: string) => {
      const v = views.get(id);
      return {
        id,
        submittedAs: accepted.get(id)?.kind,
        state: v?.state,
        attempts: v?.attempts,
        delivery: v?.delivery,
        timeline: v?.timeline,
        lastAttempt: v?.attemptLog?.at?.(-1),
        error: v?.error,
        tenantCalls: tenantCalls.get(id) ?? 0,
        receiverDeliveries: deliveries.filter((d) => d.taskId === id).map((d) => d.status),
      };
    };
    const notSucceeded = ids.filter((id) => views.get(id)?.state !== "succeeded");
    const notDelivered = ids.filter((id) => views.get(id)?.state === "succeeded" && views.get(id)?.delivery?.state !== "delivered");
    const unseenByReceiver = ids.filter((id) => !okIds.has(id));
    /** Which incarnation a moment belongs to: "before kill 1", "between kill 1 and kill 2", "after kill 2". */
    const era = (iso: string | null | undefined) => {
      if (!iso) return "never";
      const t = Date.parse(iso);
      const i = killTimes.findIndex((k) => t < k.killedAt);
      if (i === 0) return `before ${killTimes[0]!.label}`;
      if (i === -1) return `after ${killTimes.at(-1)!.label}`;
      return `between ${killTimes[i - 1]!.label} and ${killTimes[i]!.label}`;
    };
    const countBy = (list: string[], key: (id: string) => string) =>
      list.reduce<Record<string, number>>((acc, id) => {
        const k = key(id);
        acc[k] = (acc[k] ?? 0) + 1;
        return acc;
      }, {});
    const problems = {
      notDeliveredByFinishTime: countBy(notDelivered, (id) => `finished ${era(views.get(id)?.timeline?.finishedAt)}`),
      notDeliveredByDeliveryAttempts: countBy(notDelivered, (id) => `delivery.attempts=${views.get(id)?.delivery?.attempts}`),
      notSucceededByState: countBy(notSucceeded, (id) => `${views.get(id)?.state} (${accepted.get(id)?.kind})`),
      notSucceeded: notSucceeded.length,
      notDelivered: notDelivered.length,
      unseenByReceiver: unseenByReceiver.length,
      examples: [...new Set([...notSucceeded, ...notDelivered, ...unseenByReceiver])].slice(0, 12).map(describeTask),
      summary,
    };
    if (notSucceeded.length + notDelivered.length + unseenByReceiver.length > 0) {
      throw failure(
        `after two SIGKILLs, ${notSucceeded.length} of ${ids.length} accepted tasks did not succeed, ${notDelivered.length} ` +
          `succeeded but are not delivered, and the receiver never got ${unseenByReceiver.length} of them`,
        problems,
      );
    }
    expect(summary.tasksDeliveredAtReceiver).toBe(ids.length);
  });

  it("finishes a bulk cancel of 3,000 queued tasks that was interrupted by SIGKILL right after its answer", { timeout: 240_000 }, async () => {
    const FN = "crash-bulk";
    const TOTAL = 3_000;
    if (!platform) await start("bulk: start");
    await putFunction(base, account.apiKey, FN, { target: { type: "url", url: `${servers.url}/fn` }, timeoutMs: 5_000 });
    const paused = await call(base, "POST", `/v1/functions/${FN}/pause`, { token: account.apiKey });
    expect(paused.status, paused.text).toBeLessThan(300);

    const submitStarted = Date.now();
    const batches = Array.from({ length: TOTAL / 100 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => ({ payload: { b, i } })),
    );
    const submitted = new Set<string>();
    await pool(batches, 4, async (items) => {
      const r = await call(base, "POST", `/v1/functions/${FN}/tasks:batch`, { token: account.apiKey, json: items, timeoutMs: 60_000 });
      if (r.status !== 202) throw failure(`batch submit: HTTP ${r.status}`, r.text.slice(0, 500));
      for (const t of r.body.tasks as { id: string }[]) submitted.add(t.id);
    });
    expect(submitted.size).toBe(TOTAL);
    const submitMs = Date.now() - submitStarted;

    const queuedBefore = await listAll(FN, "queued");
    if (queuedBefore.length !== TOTAL) {
      const all = await listAll(FN);
      const states: Record<string, number> = {};
      for (const t of all) states[t.state] = (states[t.state] ?? 0) + 1;
      throw failure(`before the cancel ${queuedBefore.length} of ${TOTAL} tasks are queued`, { states });
    }

    const cancelStarted = Date.now();
    const cancel = await call(base, "POST", `/v1/functions/${FN}/tasks:cancel`, {
      token: account.apiKey,
      json: { state: "queued" },
      timeoutMs: 60_000,
    });
    const cancelMs = Date.now() - cancelStarted;
    const killedAt = Date.now();
    await crash(); // at once: the background continuation of the bulk operation dies with it
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body.affected).toBe(TOTAL);

    await sleep(500);
    const restartMs = await start("after bulk kill");
    const restartedAt = Date.now();
    const queuedAfterRestart = (await listAll(FN, "queued")).length;

    let queuedNow = queuedAfterRestart;
    try {
      await waitFor(
        async () => {
          queuedNow = (await listAll(FN, "queued")).length;
          return queuedNow === 0;
        },
        { timeoutMs: 60_000, intervalMs: 500, what: "no queued task left" },
      );
    } catch {
      const left = await listAll(FN, "queued");
      throw failure(`bulk cancel interrupted by SIGKILL: ${left.length} of ${TOTAL} tasks still queued 60 s after the restart`, {
        cancelAnswer: cancel.body,
        queuedAfterRestart,
        exampleIds: left.slice(0, 10).map((t) => t.id),
      });
    }
    const recoveredMs = Date.now() - restartedAt;

    const all = await listAll(FN);
    const cancelled = await listAll(FN, "cancelled");
    const states: Record<string, number> = {};
    for (const t of all) states[t.state] = (states[t.state] ?? 0) + 1;
    // When each task was cancelled tells whether the kill really cut the background continuation short.
    const cancelledBeforeKill = cancelled.filter((t) => Date.parse(t.updatedAt) <= killedAt).length;
    const cancelledAfterRestart = cancelled.filter((t) => Date.parse(t.updatedAt) >= restartedAt - restartMs).length;
    const summary = {
      submitted: TOTAL,
      submitMs,
      cancelAnswer: cancel.body,
      cancelMs,
      restartMs,
      queuedRightAfterRestart: queuedAfterRestart,
      cancelledBeforeKill,
      cancelledAfterRestart,
      msFromRestartUntilNoneQueued: recoveredMs,
      listedTotal: all.length,
      listedCancelled: cancelled.length,
      states,
    };
    log("bulk summary:", JSON.stringify(summary));
    const notCancelled = all.filter((t) => t.state !== "cancelled");
    const listedIds = new Set(all.map((t) => t.id));
    const missing = [...submitted].filter((id) => !listedIds.has(id));
    if (notCancelled.length > 0 || missing.length > 0 || all.length !== TOTAL || cancelled.length !== TOTAL) {
      throw failure("bulk cancel after SIGKILL did not end with every task cancelled", {
        summary,
        notCancelled: notCancelled.slice(0, 10),
        missing: missing.slice(0, 10),
      });
    }
    // Spot check through the single-task view too.
    for (const id of [...submitted].slice(0, 5)) {
      const view = await call(base, "GET", `/v1/tasks/${id}`, { token: account.apiKey });
      expect(view.body.state).toBe("cancelled");
    }
  });
});
