/**
 * Helpers of the placement tests (vitest.config.ts's `placement` project): function records from the registry, waiting
 * for a placement, the merged listing of a function's tasks over its shards, and waiting for every task to end.
 */
import { env } from "cloudflare:test";
import { expect, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import type { FunctionRecord } from "../../src/records";
import { createAccount, demoTarget, putFunction, submitBatch, type TestAccount, tenant } from "../workers/helpers";

export type Summary = { id: string; state: string; attempts: number };
export type Stats = {
  placement: { tier: string; shard: string; partitions: number; reason: string; moves: number };
  history: { t: string; move?: { reason: string } }[];
};

export const registry = () => env.REGISTRY.getByName(REGISTRY_NAME);

export async function record(account: TestAccount, fn: string): Promise<FunctionRecord> {
  const found = await registry().getFunction(account.id, fn);
  if (!found) throw new Error("no function");
  return found;
}

/** The function's record once automatic placement put it on `tier`. */
export function placedOn(account: TestAccount, fn: string, tier: string, timeout = 15_000): Promise<FunctionRecord> {
  return vi.waitFor(
    async () => {
      const found = await record(account, fn);
      expect(found.placement?.tier).toBe(tier);
      return found;
    },
    { timeout, interval: 50 },
  );
}

/**
 * An `auto` function (maxConcurrency 1) with 80 tasks of `sleepMs`, promoted to a dedicated shard for its backlog:
 * its record before and after the move, and the tasks' ids.
 */
export async function promotedByBacklog(label: string, fn: string, sleepMs: number) {
  const account = await createAccount(label);
  await putFunction(account, fn, { target: demoTarget, maxConcurrency: 1 });
  const before = await record(account, fn);
  const ids = await submitBatch(
    account,
    fn,
    Array.from({ length: 80 }, (_, i) => ({ payload: { sleepMs, echo: i } })),
  );
  const moved = await placedOn(account, fn, "dedicated");
  return { account, before, moved, ids };
}

/** Every task of the function, paging through the merged listing 7 at a time (so pages cross shards). */
export async function listAll(account: TestAccount, fn: string): Promise<Summary[]> {
  const tasks: Summary[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : "";
    const response = await tenant(account, `/v1/functions/${fn}/tasks?limit=7${query}`);
    expect(response.status).toBe(200);
    const page = (await response.json()) as { tasks: Summary[]; nextCursor: string | null };
    tasks.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor);
  return tasks;
}

export async function stats(account: TestAccount, fn: string): Promise<Stats> {
  const response = await tenant(account, `/v1/functions/${fn}/stats`);
  expect(response.status).toBe(200);
  return (await response.json()) as Stats;
}

export async function waitAllEnded(account: TestAccount, fn: string, ids: readonly string[], timeout = 30_000) {
  return vi.waitFor(
    async () => {
      const tasks = await listAll(account, fn);
      // Each task exactly once in the listing, whichever shard holds it.
      expect(new Set(tasks.map((t) => t.id)).size).toBe(tasks.length);
      expect(new Set(tasks.map((t) => t.id))).toEqual(new Set(ids));
      expect(tasks.filter((t) => t.state === "queued" || t.state === "running")).toEqual([]);
      return tasks;
    },
    { timeout, interval: 250 },
  );
}
