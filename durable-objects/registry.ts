/**
 * @module
 * The global registry Durable Object (one instance, named "global"): accounts, key hashes, functions. Only cache misses
 * and admin or function-management calls reach it; the submit path is served from per-isolate caches.
 */

import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../src/config";
import type { PlacementTarget } from "../src/placement-moves";
import type { FunctionRecord } from "../src/records";
import {
  type AccountLimits,
  type AccountView,
  type CreateAccountResult,
  type IssuedKey,
  issueKey,
  RegistryStore,
} from "../src/registry/store";
import type { CreateAccountInput } from "../src/schemas";

export class RegistryDurableObject extends DurableObject<Env> {
  readonly #store: RegistryStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new RegistryStore(ctx.storage.sql);
  }

  platformKey(): string {
    return this.ctx.storage.transactionSync(() => this.#store.platformKey());
  }

  async createAccount(input: CreateAccountInput): Promise<CreateAccountResult> {
    const key = await issueKey();
    return this.ctx.storage.transactionSync(() => this.#store.createAccount(input, key, Date.now()));
  }

  async addKey(account: string): Promise<IssuedKey | undefined> {
    const key = await issueKey();
    return this.ctx.storage.transactionSync(() => this.#store.addKey(account, key, Date.now()));
  }

  revokeKey(account: string, keyPrefix: string): boolean {
    return this.#store.revokeKey(account, keyPrefix, Date.now());
  }

  listAccounts(limit: number, after?: string) {
    return this.#store.listAccounts(limit, after);
  }

  listFunctions(account: string, limit: number, after?: string) {
    return this.#store.listFunctions(account, limit, after);
  }

  setLimits(id: string, limits: AccountLimits): { view: AccountView; limitsVersion: number } | undefined {
    return this.ctx.storage.transactionSync(() => this.#store.setLimits(id, limits));
  }

  getAccount(id: string): AccountView | undefined {
    return this.#store.getAccount(id);
  }

  authenticate(hash: string): { account: string; limits: AccountLimits; limitsVersion: number } | undefined {
    return this.#store.authenticate(hash);
  }

  signingSecrets(account: string): string[] {
    return this.#store.signingSecrets(account, Date.now());
  }

  rotateWebhookSecret(account: string, graceMs: number): string | undefined {
    return this.ctx.storage.transactionSync(() => this.#store.rotateWebhookSecret(account, graceMs, Date.now()));
  }

  putFunction(record: FunctionRecord): { created: boolean; record: FunctionRecord } {
    return this.ctx.storage.transactionSync(() => this.#store.putFunction(record));
  }

  setPaused(account: string, name: string, paused: boolean): FunctionRecord | undefined {
    return this.ctx.storage.transactionSync(() => this.#store.setPaused(account, name, paused, Date.now()));
  }

  /** A shard asks to move a function it saw at `seenVersion` (durable-objects/shard-placement.ts). */
  movePlacement(
    account: string,
    name: string,
    seenVersion: number,
    target: PlacementTarget,
  ): { moved: boolean; record?: FunctionRecord } {
    const shared = readConfig(this.env).sharedShards;
    return this.ctx.storage.transactionSync(() =>
      this.#store.movePlacement(account, name, seenVersion, target, shared, Date.now()),
    );
  }

  /** A shard saw the function's old shards drained (durable-objects/shard-placement.ts). */
  endDrain(account: string, name: string, seenVersion: number): FunctionRecord | undefined {
    return this.ctx.storage.transactionSync(() => this.#store.endDrain(account, name, seenVersion, Date.now()));
  }

  getFunction(account: string, name: string): FunctionRecord | undefined {
    return this.#store.getFunction(account, name);
  }

  deleteFunction(account: string, name: string): FunctionRecord | undefined {
    return this.ctx.storage.transactionSync(() => this.#store.deleteFunction(account, name));
  }
}
