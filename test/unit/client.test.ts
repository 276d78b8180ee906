/**
 * Unit tests of the client's pure parts: chunking a long list into batch requests, and reading a refused answer
 * as a SluiceError (built from real `Response` objects, as `fetch` hands them over).
 */

import { describe, expect, it } from "vitest";
import { chunkRanges, MAX_BATCH, SluiceClient, SluiceError } from "../../src/client";
import { problemFromResponse } from "../../src/client/errors";

describe("chunkRanges", () => {
  it("splits into chunks of at most 100 items", () => {
    expect(chunkRanges(new Array(250).fill(1))).toEqual([
      [0, 100],
      [100, 200],
      [200, 250],
    ]);
    expect(chunkRanges([])).toEqual([]);
    expect(chunkRanges([1, 2, 3], { maxItems: 2 })).toEqual([
      [0, 2],
      [2, 3],
    ]);
    expect(chunkRanges(new Array(5).fill(1), { maxItems: 500 })).toEqual([[0, 5]]);
    expect(MAX_BATCH).toBe(100);
  });

  it("keeps each chunk under the byte budget, and gives an oversized item a chunk of its own", () => {
    const items = ["a".repeat(40), "b".repeat(40), "c".repeat(200), "d".repeat(10)];
    expect(chunkRanges(items, { maxBytes: 100 })).toEqual([
      [0, 2],
      [2, 3],
      [3, 4],
    ]);
  });

  it("covers every item exactly once, in order, for any sizes", () => {
    for (let n = 0; n < 300; n += 37) {
      const items = Array.from({ length: n }, (_, i) => "x".repeat((i * 7919) % 500));
      const ranges = chunkRanges(items, { maxBytes: 2000 });
      const covered = ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k));
      expect(covered).toEqual(Array.from({ length: n }, (_, i) => i));
      for (const [a, b] of ranges) expect(b - a).toBeLessThanOrEqual(100);
    }
  });
});

describe("problemFromResponse", () => {
  it("reads an RFC 9457 problem, its field errors, extensions and Retry-After", async () => {
    const body = {
      type: "https://sluice.dev/problems/rate-limited",
      title: "Too many requests",
      status: 429,
      detail: "Over 10 submissions per second.",
      limit: 10,
    };
    const error = await problemFromResponse(
      new Response(JSON.stringify(body), {
        status: 429,
        headers: { "content-type": "application/problem+json", "retry-after": "3" },
      }),
    );
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ name: "SluiceError", status: 429, title: "Too many requests", retryAfterSeconds: 3 });
    expect(error.kind).toBe("rate-limited");
    expect(error.message).toBe("Over 10 submissions per second.");
    expect(error.body.limit).toBe(10);
  });

  it("still gives a useful error for an answer that is not problem+json", async () => {
    const error = await problemFromResponse(new Response("<html>Bad gateway</html>", { status: 502 }));
    expect(error).toMatchObject({ status: 502, type: "about:blank", detail: "<html>Bad gateway</html>" });
  });
});

describe("SluiceClient", () => {
  it("refuses a missing key or a non-http URL before any request", () => {
    expect(() => new SluiceClient({ url: "http://localhost:8787", apiKey: "" })).toThrow(/apiKey/);
    expect(() => new SluiceClient({ url: "file:///etc", apiKey: "sk_x" })).toThrow(/http/);
  });
});
