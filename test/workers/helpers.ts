/**
 * Helpers for integration tests inside workerd: they drive the real Worker through SELF with real local bindings.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { expect, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";

export const ADMIN_TOKEN = "test-admin-token";
export const BASE = "https://sluice.test";

export interface TestAccount {
  id: string;
  apiKey: string;
  keyPrefix: string;
  webhookSecret: string;
}

let counter = 0;
/** A fresh account id per call: storage is isolated per file, not per test. */
export function uniqueId(prefix: string): string {
  counter++;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers },
  });
}

export function tenant(account: TestAccount, path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${account.apiKey}`, ...init.headers },
  });
}

/** A tenant's POST of a JSON body (none when `body` is undefined). */
export function post(account: TestAccount, path: string, body?: unknown): Promise<Response> {
  return tenant(account, path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function createAccount(prefix = "acct"): Promise<TestAccount> {
  const response = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id: uniqueId(prefix) }) });
  expect(response.status).toBe(201);
  return (await response.json()) as TestAccount;
}

export async function putFunction(account: TestAccount, name: string, spec: Record<string, unknown>): Promise<void> {
  const response = await tenant(account, `/v1/functions/${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
}

export const demoTarget = { type: "service", service: "DEMO_FN" } as const;
export const fastRetry = { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 };

export async function submit(
  account: TestAccount,
  fn: string,
  body: BodyInit,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<string> {
  const response = await tenant(account, `/v1/functions/${fn}/tasks`, { method: "POST", body, headers });
  expect(response.status, await response.clone().text()).toBe(202);
  const json = (await response.json()) as { id: string; state: string; statusUrl: string };
  expect(json.state).toBe("accepted");
  expect(response.headers.get("location")).toBe(json.statusUrl);
  return json.id;
}

/** Submit `items` through `tasks:batch`, 100 a request; the ids in order. */
export async function submitBatch(
  account: TestAccount,
  fn: string,
  items: Record<string, unknown>[],
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < items.length; i += 100) {
    const response = await tenant(account, `/v1/functions/${fn}/tasks:batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(items.slice(i, i + 100)),
    });
    expect(response.status, await response.clone().text()).toBe(202);
    ids.push(...((await response.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id));
  }
  return ids;
}

export type TaskJson = {
  id: string;
  state: string;
  attempts: number;
  attemptLog: { attempt: number; status?: number; error?: { kind: string }; durationMs: number }[];
  timeline: Record<string, string | null>;
  result?: unknown;
  resultUrl?: string;
  resultEncoding?: string;
  resultContentType?: string;
  error?: { kind: string; message: string; status?: number };
  traceparent?: string;
};

export async function getTask(account: TestAccount, id: string): Promise<TaskJson> {
  const response = await tenant(account, `/v1/tasks/${id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as TaskJson;
}

export async function waitForState(
  account: TestAccount,
  id: string,
  state: string,
  timeout = 15_000,
): Promise<TaskJson> {
  return vi.waitFor(
    async () => {
      const task = await getTask(account, id);
      expect(task.state).toBe(state);
      return task;
    },
    { timeout, interval: 50 },
  );
}

export async function expectProblem(
  response: Response,
  status: number,
  type: string,
): Promise<Record<string, unknown>> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body.type).toBe(`https://sluice.dev/problems/${type}`);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
  return body;
}

/**
 * Wait out a window in which something must NOT happen (a late outcome of an aborted call, a dispatch of a paused
 * function). There is no event to wait for when the point is that none comes, so this is the one fixed wait the
 * workerd tests use, always named with the reason; everything that has an event waits with `vi.waitFor` instead.
 */
export function quietPeriod(ms: number, _why: string): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The shard holding `fn`'s new tasks. */
export async function shardOf(account: TestAccount, fn: string) {
  const record = await env.REGISTRY.getByName(REGISTRY_NAME).getFunction(account.id, fn);
  if (!record) throw new Error("no function");
  return env.SHARD.getByName(record.shard);
}

/** A task the demo function took as long-running (202 + Sluice-Async), with the callback token its call carried. */
export async function asyncTask(account: TestAccount, fn: string) {
  const id = await submit(account, fn, JSON.stringify({ async: true }));
  const shard = await shardOf(account, fn);
  const token = await vi.waitFor(
    async () => {
      const row = await runInDurableObject(
        shard,
        (_i, state) =>
          state.storage.sql
            .exec<{ callback_token: string | null; async: number }>(
              "SELECT callback_token, async FROM tasks WHERE id = ?",
              id,
            )
            .toArray()[0],
      );
      expect(row?.async).toBe(1);
      return row?.callback_token ?? "";
    },
    { timeout: 5000 },
  );
  return { id, token, shard };
}

/** Every key in the BLOBS bucket under `prefix`, all pages. */
export async function blobKeys(prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BLOBS.list({ prefix, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** A request body of `chunks` 1 MiB chunks that counts how many the server pulled. */
export function countedBody(chunks: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const chunk = new Uint8Array(1024 * 1024).fill(32);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      if (pulled > chunks) controller.close();
      else controller.enqueue(chunk);
    },
  });
  return { body, pulled: () => pulled };
}
