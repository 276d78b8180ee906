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
