import { describe, expect, it } from "vitest";
import { fnv1a, ingestPartition, invokerName, parseInvokerName, shardFor, tierOf } from "../../src/placement";
import { ISOLATION_MODES } from "../../src/schemas";

describe("fnv1a", () => {
  it("matches the published 32-bit FNV-1a test vectors", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("matches precomputed values for account names", () => {
    expect(fnv1a("acme")).toBe(0x45fd71af);
    expect(fnv1a("globex")).toBe(0x0a09748e);
    expect(fnv1a("acme/resize")).toBe(0x1b141298);
  });

  it("is an unsigned 32-bit integer", () => {
    for (const s of ["x", "long ".repeat(1000), "ümlaut", "✓✓✓", "\u0000"]) {
      const h = fnv1a(s);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
  });
});

describe("shardFor", () => {
  it("auto and shared hash the account onto a shared shard", () => {
    // fnv1a("acme") = 0x45fd71af = 1174237615; 1174237615 % 16 = 15. (The @example in src/placement.ts says
    // "shared:7", which is not what the code computes.)
    expect(shardFor("acme", "resize", "auto", 16)).toBe("shared:15");
    expect(shardFor("acme", "resize", "shared", 16)).toBe("shared:15");
    expect(shardFor("acme", "resize", "shared", 4)).toBe("shared:3");
    expect(shardFor("globex", "resize", "auto", 16)).toBe("shared:14");
  });

  it("the shared shard depends on the account only, not the function", () => {
    for (const fn of ["a", "resize", "send-email", "x".repeat(63)]) {
      expect(shardFor("acme", fn, "auto", 16)).toBe("shared:15");
      expect(shardFor("acme", fn, "shared", 16)).toBe("shared:15");
    }
  });

  it("account isolation gives the account its own shard", () => {
    expect(shardFor("acme", "resize", "account", 16)).toBe("account:acme");
    expect(shardFor("acme", "other", "account", 16)).toBe("account:acme");
    expect(shardFor("globex", "resize", "account", 16)).toBe("account:globex");
  });

  it("dedicated isolation gives the function its own shard", () => {
    expect(shardFor("acme", "resize", "dedicated", 16)).toBe("dedicated:acme:resize");
    expect(shardFor("acme", "other", "dedicated", 16)).toBe("dedicated:acme:other");
  });

  it("is deterministic", () => {
    for (const mode of ISOLATION_MODES) {
      const first = shardFor("initech", "tps-report", mode, 16);
      for (let i = 0; i < 5; i++) expect(shardFor("initech", "tps-report", mode, 16)).toBe(first);
    }
  });

  it("stays within [0, sharedShards) and treats 0 or fewer shards as one", () => {
    for (let n = 1; n <= 64; n++) {
      for (const account of ["acme", "globex", "initech", "a1", "zz-top"]) {
        const index = Number(shardFor(account, "f", "auto", n).slice("shared:".length));
        expect(index).toBeGreaterThanOrEqual(0);
        expect(index).toBeLessThan(n);
        expect(index).toBe(fnv1a(account) % n);
      }
    }
    expect(shardFor("acme", "f", "auto", 1)).toBe("shared:0");
    expect(shardFor("acme", "f", "auto", 0)).toBe("shared:0");
    expect(shardFor("acme", "f", "shared", -4)).toBe("shared:0");
  });

  it("spreads many accounts over the shared shards", () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 1600; i++) {
      const index = Number(shardFor(`account-${i}`, "f", "auto", 16).slice(7));
      counts[index] = (counts[index] ?? 0) + 1;
    }
    for (const c of counts) {
      expect(c).toBeGreaterThan(50);
      expect(c).toBeLessThan(150);
    }
  });
});

describe("tierOf", () => {
  it("reads the tier back from a shard name", () => {
    expect(tierOf("shared:3")).toBe("shared");
    expect(tierOf("account:acme")).toBe("account");
    expect(tierOf("dedicated:acme:resize")).toBe("dedicated");
    expect(tierOf("garbage")).toBe("shared");
    expect(tierOf("")).toBe("shared");
  });

  it("is consistent with shardFor", () => {
    expect(tierOf(shardFor("acme", "f", "auto", 16))).toBe("shared");
    expect(tierOf(shardFor("acme", "f", "shared", 16))).toBe("shared");
    expect(tierOf(shardFor("acme", "f", "account", 16))).toBe("account");
    expect(tierOf(shardFor("acme", "f", "dedicated", 16))).toBe("dedicated");
  });
});

describe("ingestPartition", () => {
  it("hashes account/function", () => {
    expect(ingestPartition("acme", "resize", 4)).toBe(0x1b141298 % 4);
    expect(ingestPartition("acme", "resize", 7)).toBe(454300312 % 7);
  });

  it("is deterministic and within [0, partitions)", () => {
    for (const partitions of [1, 2, 3, 4, 8, 16, 31]) {
      for (let i = 0; i < 200; i++) {
        const p = ingestPartition("acme", `fn-${i}`, partitions);
        expect(Number.isInteger(p)).toBe(true);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(partitions);
        expect(ingestPartition("acme", `fn-${i}`, partitions)).toBe(p);
      }
    }
  });

  it("is always 0 with one partition", () => {
    expect(ingestPartition("acme", "resize", 1)).toBe(0);
    expect(ingestPartition("globex", "x", 1)).toBe(0);
  });

  it("uses every partition across many functions", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(ingestPartition("acme", `fn-${i}`, 8));
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("invokerName", () => {
  it("names the index-th invoker of a shard", () => {
    expect(invokerName("shared:3", 0)).toBe("invoker:shared:3:0");
    expect(invokerName("dedicated:acme:resize", 7)).toBe("invoker:dedicated:acme:resize:7");
  });

  it("parseInvokerName inverts it, and refuses other names", () => {
    for (const [shard, index] of [
      ["shared:3", 0],
      ["dedicated:acme:resize", 63],
      ["account:a-b", 12],
    ] as const) {
      expect(parseInvokerName(invokerName(shard, index))).toEqual({ shard, index });
    }
    expect(parseInvokerName(undefined)).toBeUndefined();
    expect(parseInvokerName("invoker-test")).toBeUndefined();
    expect(parseInvokerName("invoker:shared:3:x")).toBeUndefined();
  });
});
