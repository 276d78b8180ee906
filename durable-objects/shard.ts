/**
 * @module
 * A shard: holds queued tasks of the functions placed on it, dispatches them fairly to its pool of invokers and applies
 * every outcome as one SQLite transaction. All logic lives in src/shard-store.ts; this class only loads, delegates,
 * persists and keeps exactly one alarm pending while any task needs looking at.
 */

import { DurableObject } from "cloudflare:workers";
import { CALLS_PER_INVOKER, readConfig } from "../src/config";
import { invokerName } from "../src/placement";
import type { FunctionRecord, IngestMessage, OutcomeReport, StoredTaskView } from "../src/records";
import { ShardStore } from "../src/shard-store";

/** How many dispatch passes one call may run before leaving the rest to the alarm (bounds CPU per invocation). */
const PASSES_PER_CALL = 5;

export class ShardDurableObject extends DurableObject<Env> {
  readonly #store: ShardStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = readConfig(env);
    this.#store = new ShardStore(ctx.storage.sql, {
      leaseGraceMs: config.leaseGraceMs,
      invokers: config.invokersPerShard,
      callsPerInvoker: CALLS_PER_INVOKER,
    });
  }

  /** Take a batch of tasks from the ingest consumer (idempotent by task id). */
  async accept(shard: string, messages: IngestMessage[]): Promise<{ accepted: number; duplicates: number }> {
    this.#remember(shard);
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => this.#store.accept(messages, now));
    await this.#dispatch();
    return result;
  }

  async upsertFunction(shard: string, record: FunctionRecord): Promise<void> {
    this.#remember(shard);
    this.ctx.storage.transactionSync(() => this.#store.upsertFunction(record));
    await this.#dispatch();
  }

  async deleteFunction(shard: string, account: string, name: string): Promise<{ cancelled: number }> {
    this.#remember(shard);
    return this.ctx.storage.transactionSync(() => this.#store.deleteFunction(account, name, Date.now()));
  }

  getTask(account: string, id: string): StoredTaskView | null {
    return this.#store.getTask(account, id);
  }

  countByState(): Record<string, number> {
    return this.#store.countByState();
  }

  /** Invokers report how calls went (at least once; a stale or duplicate report is ignored). */
  async report(reports: OutcomeReport[]): Promise<{ applied: number }> {
    const now = Date.now();
    const applied = this.ctx.storage.transactionSync(
      () => reports.filter((r) => this.#store.applyOutcome(r, now).applied).length,
    );
    await this.#dispatch();
    return { applied };
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => this.#store.recoverExpiredLeases(now));
    await this.#dispatch();
  }

  /**
   * The shard's own name labels the jobs it sends (invokers report back to it). A Durable Object cannot read the
   * name it was addressed by after an eviction, so the first caller's name is kept in storage.
   */
  #remember(shard: string): void {
    const known = this.ctx.storage.kv.get<string>(SHARD_NAME_KEY);
    if (known === undefined) this.ctx.storage.kv.put(SHARD_NAME_KEY, shard);
    else if (known !== shard) throw new Error(`shard ${known} was addressed as ${shard}`);
  }

  /** Run dispatch passes, hand the jobs to invokers, then make sure one alarm covers whatever still waits. */
  async #dispatch(): Promise<void> {
    const shard = this.ctx.storage.kv.get<string>(SHARD_NAME_KEY);
    if (shard === undefined) return;
    const sends: Promise<unknown>[] = [];
    for (let pass = 0; pass < PASSES_PER_CALL; pass++) {
      const plan = this.ctx.storage.transactionSync(() => this.#store.planDispatch(shard, Date.now()));
      for (const [index, jobs] of plan.byInvoker) {
        const invoker = this.env.INVOKER.getByName(invokerName(shard, index));
        // A failed hand-off is not retried here: the task's lease runs out and the alarm re-queues it.
        sends.push(invoker.enqueue(jobs).catch((error: unknown) => console.error("invoker hand-off failed", error)));
      }
      if (!plan.more) break;
    }
    await Promise.all(sends);
    await this.#scheduleAlarm();
  }

  async #scheduleAlarm(): Promise<void> {
    const wakeAt = this.#store.nextWakeAt(Date.now());
    if (wakeAt === null) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || wakeAt < current) await this.ctx.storage.setAlarm(wakeAt);
  }
}

const SHARD_NAME_KEY = "shard-name";
