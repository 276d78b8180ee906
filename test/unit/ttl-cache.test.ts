import { afterEach, describe, expect, it, vi } from "vitest";
import { TtlCache } from "../../src/ttl-cache";

afterEach(() => {
  vi.useRealTimers();
});

describe("TtlCache get/set with an injected clock", () => {
  it("returns a value until it expires, then undefined", () => {
    const cache = new TtlCache<string>();
    cache.set("k", "v", 1000, 10_000);
    expect(cache.get("k", 10_000)).toBe("v");
    expect(cache.get("k", 10_999)).toBe("v");
    expect(cache.get("k", 11_000)).toBeUndefined();
    // and it stays gone, even if asked at an earlier time again (the expired entry was dropped)
    expect(cache.get("k", 10_500)).toBeUndefined();
  });

  it("a ttl of 0 is expired immediately", () => {
    const cache = new TtlCache<number>();
    cache.set("k", 1, 0, 5000);
    expect(cache.get("k", 5000)).toBeUndefined();
  });

  it("returns undefined for an unknown key", () => {
    expect(new TtlCache<string>().get("missing", 0)).toBeUndefined();
  });

  it("set replaces the value and the expiry", () => {
    const cache = new TtlCache<string>();
    cache.set("k", "old", 100, 0);
    cache.set("k", "new", 1000, 50);
    expect(cache.get("k", 500)).toBe("new");
    expect(cache.get("k", 1049)).toBe("new");
    expect(cache.get("k", 1050)).toBeUndefined();
  });

  it("keeps keys independent", () => {
    const cache = new TtlCache<string>();
    cache.set("a", "A", 100, 0);
    cache.set("b", "B", 200, 0);
    expect(cache.get("a", 150)).toBeUndefined();
    expect(cache.get("b", 150)).toBe("B");
  });

  it("delete removes an entry", () => {
    const cache = new TtlCache<string>();
    cache.set("k", "v", 1000, 0);
    cache.delete("k");
    expect(cache.get("k", 1)).toBeUndefined();
    cache.delete("never-there");
  });

  it("caches falsy values", () => {
    const cache = new TtlCache<number | string | boolean | null>();
    cache.set("zero", 0, 1000, 0);
    cache.set("empty", "", 1000, 0);
    cache.set("false", false, 1000, 0);
    cache.set("null", null, 1000, 0);
    expect(cache.get("zero", 1)).toBe(0);
    expect(cache.get("empty", 1)).toBe("");
    expect(cache.get("false", 1)).toBe(false);
    expect(cache.get("null", 1)).toBeNull();
  });

  it("uses Date.now() when no time is given", () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    const cache = new TtlCache<string>();
    cache.set("k", "v", 500);
    vi.setSystemTime(1_000_499);
    expect(cache.get("k")).toBe("v");
    vi.setSystemTime(1_000_500);
    expect(cache.get("k")).toBeUndefined();
  });
});

describe("TtlCache eviction bound", () => {
  it("holds at most maxEntries, evicting the oldest insertion first", () => {
    const cache = new TtlCache<number>(3);
    cache.set("a", 1, 10_000, 0);
    cache.set("b", 2, 10_000, 0);
    cache.set("c", 3, 10_000, 0);
    cache.set("d", 4, 10_000, 0);
    expect(cache.get("a", 1)).toBeUndefined();
    expect(cache.get("b", 1)).toBe(2);
    expect(cache.get("c", 1)).toBe(3);
    expect(cache.get("d", 1)).toBe(4);
    cache.set("e", 5, 10_000, 0);
    expect(cache.get("b", 1)).toBeUndefined();
    expect([cache.get("c", 1), cache.get("d", 1), cache.get("e", 1)]).toEqual([3, 4, 5]);
  });

  it("never holds more than maxEntries live entries after many inserts", () => {
    const max = 50;
    const cache = new TtlCache<number>(max);
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, i, 60_000, 0);
    let live = 0;
    for (let i = 0; i < 1000; i++) if (cache.get(`k${i}`, 1) !== undefined) live++;
    expect(live).toBe(max);
    // the survivors are the most recent ones
    for (let i = 950; i < 1000; i++) expect(cache.get(`k${i}`, 1)).toBe(i);
  });

  it("a cache of one keeps only the latest entry", () => {
    const cache = new TtlCache<string>(1);
    cache.set("a", "A", 1000, 0);
    cache.set("b", "B", 1000, 0);
    expect(cache.get("a", 1)).toBeUndefined();
    expect(cache.get("b", 1)).toBe("B");
  });

  it("defaults to 10,000 entries", () => {
    const cache = new TtlCache<number>();
    for (let i = 0; i <= 10_000; i++) cache.set(`k${i}`, i, 60_000, 0);
    expect(cache.get("k0", 1)).toBeUndefined();
    expect(cache.get("k1", 1)).toBe(1);
    expect(cache.get("k10000", 1)).toBe(10_000);
  });
});

describe("TtlCache getOrLoad", () => {
  it("loads once and serves from the cache until the ttl passes", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(5_000_000);
    const cache = new TtlCache<string>();
    const load = vi.fn(async () => `value-${load.mock.calls.length}`);

    expect(await cache.getOrLoad("k", 1000, load)).toBe("value-1");
    expect(await cache.getOrLoad("k", 1000, load)).toBe("value-1");
    vi.setSystemTime(5_000_999);
    expect(await cache.getOrLoad("k", 1000, load)).toBe("value-1");
    expect(load).toHaveBeenCalledTimes(1);

    vi.setSystemTime(5_001_000);
    expect(await cache.getOrLoad("k", 1000, load)).toBe("value-2");
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("caches per key", async () => {
    const cache = new TtlCache<string>();
    const load = vi.fn(async () => "x");
    await cache.getOrLoad("a", 60_000, load);
    await cache.getOrLoad("b", 60_000, load);
    await cache.getOrLoad("a", 60_000, load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("does not cache a failed load", async () => {
    const cache = new TtlCache<string>();
    await expect(cache.getOrLoad("k", 60_000, async () => Promise.reject(new Error("registry down")))).rejects.toThrow(
      "registry down",
    );
    expect(cache.get("k")).toBeUndefined();
    expect(await cache.getOrLoad("k", 60_000, async () => "ok")).toBe("ok");
  });

  it("serves a value put there with set", async () => {
    const cache = new TtlCache<string>();
    cache.set("k", "preset", 60_000);
    const load = vi.fn(async () => "loaded");
    expect(await cache.getOrLoad("k", 60_000, load)).toBe("preset");
    expect(load).not.toHaveBeenCalled();
  });

  it("reloads after delete", async () => {
    const cache = new TtlCache<string>();
    await cache.getOrLoad("k", 60_000, async () => "first");
    cache.delete("k");
    expect(await cache.getOrLoad("k", 60_000, async () => "second")).toBe("second");
  });
});
