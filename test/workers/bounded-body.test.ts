/**
 * readBounded inside workerd, where request and response bodies are byte streams and a body with a declared length
 * is read in one native call (BYOB readAtLeast). Node's streams take the chunk loop (test/unit/bounded-body.test.ts);
 * these cases check the fast path keeps the same promises: the declared length is never trusted.
 */
import { describe, expect, it } from "vitest";
import { readBounded } from "../../src/bounded-body";

/** A native body stream of `bytes` bytes (what a fetch or a service binding hands back). */
function body(bytes: number, chunks = 1): ReadableStream<Uint8Array> {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  void (async () => {
    const size = Math.ceil(bytes / chunks);
    for (let sent = 0; sent < bytes; sent += size)
      await writer.write(new Uint8Array(Math.min(size, bytes - sent)).fill(7));
    await writer.close();
  })().catch(() => {
    // readBounded cancelled the stream past its cap: the rest is not written.
  });
  return readable;
}

describe("readBounded in workerd (byte streams)", () => {
  it("runs the one-call path here: body streams take a BYOB reader with readAtLeast", () => {
    const reader = body(1).getReader({ mode: "byob" }) as ReadableStreamBYOBReader & { readAtLeast?: unknown };
    expect(typeof reader.readAtLeast).toBe("function");
    reader.releaseLock();
  });

  it("reads a body of exactly its declared length", async () => {
    const read = await readBounded(body(5_000, 3), 10_000, "5000");
    expect(read.ok && read.bytes.byteLength).toBe(5_000);
    expect(read.ok && read.bytes.every((b) => b === 7)).toBe(true);
  });

  it("reads a body shorter than it declared", async () => {
    const read = await readBounded(body(20), 10_000, "100");
    expect(read.ok && read.bytes.byteLength).toBe(20);
  });

  it("reads on past a short declared length, up to the cap", async () => {
    const read = await readBounded(body(3_000, 4), 10_000, "10");
    expect(read.ok && read.bytes.byteLength).toBe(3_000);
  });

  it("refuses a body longer than the cap whatever length it declared", async () => {
    expect(await readBounded(body(200_000, 50), 4_096, "10")).toEqual({ ok: false, reason: "too_large", limit: 4_096 });
    expect(await readBounded(body(4_097), 4_096, "4096")).toEqual({ ok: false, reason: "too_large", limit: 4_096 });
  });

  it("reads a body without a declared length (chunked): small in one call, larger on, capped", async () => {
    const small = await readBounded(body(2), 10_000);
    expect(small.ok && small.bytes.byteLength).toBe(2);
    const exact = await readBounded(body(16 * 1024, 2), 100_000);
    expect(exact.ok && exact.bytes.byteLength).toBe(16 * 1024);
    const large = await readBounded(body(100_000, 7), 200_000);
    expect(large.ok && large.bytes.byteLength).toBe(100_000);
    expect(large.ok && large.bytes.every((b) => b === 7)).toBe(true);
    expect(await readBounded(body(4_097, 3), 4_096)).toEqual({ ok: false, reason: "too_large", limit: 4_096 });
    expect(await readBounded(body(40_000, 9), 20_000)).toEqual({ ok: false, reason: "too_large", limit: 20_000 });
    const empty = await readBounded(body(0), 100);
    expect(empty.ok && empty.bytes.byteLength).toBe(0);
    // Many small pieces past the first read, declared or not: every byte kept, the cap still the cap.
    const pieces = await readBounded(body(300_000, 600), 400_000);
    expect(pieces.ok && pieces.bytes.byteLength).toBe(300_000);
    const lying = await readBounded(body(300_000, 600), 400_000, "10");
    expect(lying.ok && lying.bytes.byteLength).toBe(300_000);
    expect(await readBounded(body(300_000, 600), 200_000, "10")).toEqual({
      ok: false,
      reason: "too_large",
      limit: 200_000,
    });
  });

  it("reads a Response's own body and an empty one", async () => {
    const text = "x".repeat(1_234);
    const read = await readBounded(new Response(text).body, 2_000, "1234");
    expect(read.ok && new TextDecoder().decode(read.bytes)).toBe(text);
    const empty = await readBounded(body(0), 100, "0");
    expect(empty.ok && empty.bytes.byteLength).toBe(0);
  });
});
