import { describe, expect, it } from "vitest";
import { declaredLength, readBounded, readPrefix } from "../../src/bounded-body";

/** A stream of `chunks` chunks of `size` bytes that counts how many were pulled. */
function counted(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= chunks) return controller.close();
      state.pulled++;
      controller.enqueue(new Uint8Array(size).fill(state.pulled % 256));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe("readBounded", () => {
  it("reads a body at or under the limit whole", async () => {
    const { stream } = counted(4, 256);
    const read = await readBounded(stream, 1024);
    expect(read.ok && read.bytes.byteLength).toBe(1024);
  });

  it("stops at the first chunk past the limit and cancels the stream", async () => {
    const { stream, state } = counted(1000, 1024);
    const read = await readBounded(stream, 10 * 1024);
    expect(read).toEqual({ ok: false, reason: "too_large", limit: 10 * 1024 });
    expect(state.pulled).toBeLessThanOrEqual(12);
    expect(state.cancelled).toBe(true);
  });

  it("refuses a declared Content-Length over the limit without reading", async () => {
    const { stream, state } = counted(1000, 1024);
    expect((await readBounded(stream, 100, "5000")).ok).toBe(false);
    expect(state.pulled).toBeLessThanOrEqual(1);
  });

  it("does not trust a short declared length: the running count still applies", async () => {
    const { stream } = counted(20, 1024);
    expect((await readBounded(stream, 4096, "10")).ok).toBe(false);
  });

  it("treats a missing body as empty and ignores a malformed Content-Length", async () => {
    expect(await readBounded(null, 10)).toEqual({ ok: true, bytes: new Uint8Array() });
    expect(declaredLength("12abc")).toBeUndefined();
    expect(declaredLength(" 42 ")).toBe(42);
    expect(declaredLength(undefined)).toBeUndefined();
  });
});

describe("readBounded with many tiny chunks", () => {
  it("joins 200,000 one-byte chunks without overflowing the stack", async () => {
    const { stream } = counted(200_000, 1);
    const read = await readBounded(stream, 1024 * 1024);
    expect(read.ok && read.bytes.byteLength).toBe(200_000);
  });
});

describe("readPrefix", () => {
  it("keeps only the first bytes and never pulls the rest", async () => {
    const { stream, state } = counted(1000, 100);
    const bytes = await readPrefix(stream, 250);
    expect(bytes.byteLength).toBe(250);
    expect(state.pulled).toBe(3);
    expect(state.cancelled).toBe(true);
  });
});

/**
 * A stand-in for workerd's byte streams (their BYOB reader has `readAtLeast`), delivering `total` bytes at most
 * `piece` bytes per plain `read`, as a socket does; it keeps every view it hands back, to see what they hold on to.
 */
function byteStream(total: number, piece: number) {
  let sent = 0;
  const handedBack: Uint8Array[] = [];
  const fill = (view: Uint8Array, atMost: number) => {
    const n = Math.min(atMost, view.byteLength, total - sent);
    view.fill(9, 0, n);
    sent += n;
    const value = new Uint8Array(view.buffer, view.byteOffset, n);
    handedBack.push(value);
    return { done: n === 0, value };
  };
  const reader = {
    readAtLeast: async (min: number, view: Uint8Array) => fill(view, Math.max(min, view.byteLength)),
    read: async (view: Uint8Array) => fill(view, piece),
    cancel: async () => {},
    releaseLock: () => {},
  };
  const stream = { getReader: () => reader } as unknown as ReadableStream<Uint8Array>;
  return { stream, handedBack };
}

describe("readBounded on a byte stream (the one-call path)", () => {
  it("holds about the body, not a 64 KiB buffer per small piece, when the body runs past its first read", async () => {
    for (const declared of [undefined, "10"]) {
      const { stream, handedBack } = byteStream(300_000, 1024);
      const read = await readBounded(stream, 1024 * 1024, declared);
      expect(read.ok && read.bytes.byteLength).toBe(300_000);
      const held = handedBack.reduce((sum, view) => sum + view.buffer.byteLength, 0);
      // Every buffer filled before the next is taken: the body plus at most one part-filled buffer of 64 KiB.
      expect(held).toBeLessThan(300_000 + 2 * 64 * 1024);
    }
  });

  it("hands back a short body in a buffer of its own size, not in the first read's 16 KiB", async () => {
    for (const declared of [undefined, "10"]) {
      const { stream } = byteStream(10, 1024);
      const read = await readBounded(stream, 1024 * 1024, declared);
      expect(read.ok && read.bytes.byteLength).toBe(10);
      // A view over a bigger buffer would travel whole through structured clone (the report RPC).
      expect(read.ok && read.bytes.buffer.byteLength).toBeLessThanOrEqual(11);
    }
  });

  it("still stops at the cap", async () => {
    const { stream } = byteStream(3_000_000, 1024);
    expect(await readBounded(stream, 1024 * 1024)).toEqual({ ok: false, reason: "too_large", limit: 1024 * 1024 });
  });
});
