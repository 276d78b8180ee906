/** The registry store in Node over node:sqlite: accounts, key hashes and revocation, functions and their paging. */
import { describe, expect, it } from "vitest";
import { shardCap } from "../../src/placement-moves";
import type { FunctionRecord } from "../../src/records";
import { issueKey, RegistryStore } from "../../src/registry/store";
import { functionSpecSchema } from "../../src/schemas";
import { NodeSql } from "../support/node-sql";

const T0 = Date.parse("2026-06-01T00:00:00Z");

function fn(account: string, name: string, version = T0): FunctionRecord {
  const spec = functionSpecSchema.parse({ target: { type: "service", service: "DEMO_FN" } });
  return { account, name, spec, shard: "shared:0", version, createdAt: version, updatedAt: version };
}

describe("registry store over node:sqlite", () => {
  it("keeps keys only as hashes; a revoked key no longer authenticates", async () => {
    const store = new RegistryStore(new NodeSql());
    const first = await issueKey();
    const created = store.createAccount({ id: "acme" }, first, T0);
    expect(created.ok).toBe(true);
    expect(store.createAccount({ id: "acme" }, await issueKey(), T0)).toEqual({ ok: false, reason: "exists" });
    expect(store.authenticate(first.hash)).toEqual({ account: "acme", limits: {}, limitsVersion: 0 });
    const second = await issueKey();
    expect(store.addKey("acme", second, T0)?.keyPrefix).toBe(second.keyPrefix);
    expect(store.revokeKey("acme", second.keyPrefix, T0 + 1)).toBe(true);
    expect(store.revokeKey("acme", second.keyPrefix, T0 + 2)).toBe(false);
    expect(store.authenticate(second.hash)).toBeUndefined();
    expect(JSON.stringify(store.getAccount("acme"))).not.toContain(first.apiKey);
    const limited = store.setLimits("acme", { submitPerSecond: 5 }, T0);
    expect(limited?.view.limits).toEqual({ submitPerSecond: 5 });
    expect(limited?.limitsVersion).toBe(T0);
    // Every change is newer than the last, even within the same millisecond (shards keep the newest).
    expect(store.setLimits("acme", { maxConcurrency: 2 }, T0)?.limitsVersion).toBe(T0 + 1);
    expect(store.authenticate(first.hash)).toEqual({
      account: "acme",
      limits: { maxConcurrency: 2 },
      limitsVersion: T0 + 1,
    });
    expect(store.setLimits("nobody", {})).toBeUndefined();
  });

  it("pages functions and accounts by name with an exclusive cursor", async () => {
    const store = new RegistryStore(new NodeSql());
    for (const id of ["a1", "a2", "a3"]) store.createAccount({ id }, await issueKey(), T0);
    for (const name of ["f1", "f2", "f3", "f4", "f5"]) store.putFunction(fn("a1", name));
    const names: string[] = [];
    let after: string | undefined;
    do {
      const page = store.listFunctions("a1", 2, after);
      names.push(...page.functions.map((f) => f.name));
      after = page.next;
    } while (after);
    expect(names).toEqual(["f1", "f2", "f3", "f4", "f5"]);
    expect(store.listAccounts(2).accounts.map((a) => a.id)).toEqual(["a1", "a2"]);
    expect(store.listAccounts(2, "a2")).toEqual({ accounts: [expect.objectContaining({ id: "a3" })] });
  });

  it("a replaced function keeps its creation time and paused flag and remembers the shard it left", () => {
    const store = new RegistryStore(new NodeSql());
    store.putFunction(fn("a1", "f"));
    store.setPaused("a1", "f", true, T0 + 1);
    const base = fn("a1", "f", T0 + 5);
    const moved = { ...base, spec: { ...base.spec, isolation: "account" as const }, shard: "account:a1" };
    const { created, record } = store.putFunction(moved);
    expect(created).toBe(false);
    expect(record).toMatchObject({ createdAt: T0, paused: true, shard: "account:a1", previousShards: ["shared:0"] });
    expect(record.version).toBeGreaterThan(T0 + 1);
    expect(store.deleteFunction("a1", "f")?.name).toBe("f");
    expect(store.getFunction("a1", "f")).toBeUndefined();
  });

  it("an auto function keeps where placement moved it across edits; a pinned isolation takes over", () => {
    const store = new RegistryStore(new NodeSql());
    const first = store.putFunction(fn("a1", "f")).record;
    const promoted = store.movePlacement(
      "a1",
      "f",
      first.version,
      { tier: "dedicated", partitions: 2, reason: "backlog" },
      16,
      T0 + 10,
    );
    expect(promoted.moved).toBe(true);
    if (!promoted.moved) return;
    expect(promoted.record).toMatchObject({
      shard: "dedicated:a1:f",
      previousShards: ["shared:0"],
      placement: { tier: "dedicated", partitions: 2, since: T0 + 10, reason: "backlog", moves: 1 },
    });
    // Until the shared shard is seen drained, the old shard and the 2 partitions split maxConcurrency three ways.
    expect(promoted.record.placement?.draining).toBe(true);
    expect(shardCap(promoted.record)).toBe(Math.floor(promoted.record.spec.maxConcurrency / 3));
    const drained = store.endDrain("a1", "f", promoted.record.version, T0 + 11);
    expect(drained?.placement?.draining).toBe(false);
    expect(shardCap(drained as FunctionRecord)).toBe(Math.floor(promoted.record.spec.maxConcurrency / 2));
    // A stale version changes nothing.
    expect(store.endDrain("a1", "f", promoted.record.version, T0 + 12)?.version).toBe(drained?.version);
    expect(promoted.record.placement?.log).toEqual([
      { at: T0 + 10, from: "shared×1", to: "dedicated×2", partitions: 2, reason: "backlog" },
    ]);
    // An edit of an auto function (say its timeout) leaves it where it is.
    const edited = store.putFunction(fn("a1", "f", T0 + 20)).record;
    expect(shardCap({ ...edited, spec: { ...edited.spec, maxConcurrency: 1 } })).toBe(1);
    expect(edited).toMatchObject({
      shard: "dedicated:a1:f",
      placement: { partitions: 2 },
      previousShards: ["shared:0"],
    });
    // A second move from a stale version is refused: the first one (or an edit) won.
    expect(
      store.movePlacement(
        "a1",
        "f",
        promoted.record.version,
        { tier: "shared", partitions: 1, reason: "idle" },
        16,
        T0 + 30,
      ),
    ).toMatchObject({ moved: false });
    // Pinning it elsewhere drops the automatic placement and remembers every partition it leaves.
    const base = fn("a1", "f", T0 + 40);
    const pinned = store.putFunction({
      ...base,
      spec: { ...base.spec, isolation: "account" },
      shard: "account:a1",
    }).record;
    expect(pinned.placement).toBeUndefined();
    expect(pinned.shard).toBe("account:a1");
    expect(new Set(pinned.previousShards)).toEqual(new Set(["shared:0", "dedicated:a1:f", "dedicated:a1:f#1"]));
    // A pinned function never moves automatically.
    expect(
      store.movePlacement(
        "a1",
        "f",
        pinned.version,
        { tier: "dedicated", partitions: 1, reason: "backlog" },
        16,
        T0 + 50,
      ),
    ).toMatchObject({ moved: false });
    expect(
      store.movePlacement("a1", "nope", 1, { tier: "dedicated", partitions: 1, reason: "backlog" }, 16, T0),
    ).toEqual({ moved: false });
  });
});
