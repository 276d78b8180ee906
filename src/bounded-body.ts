/**
 * @module
 * Reading a body with a running cap: `Content-Length` is checked first, then a stream (chunked or not) is read only up
 * to the limit and cancelled there, so an 80 MB upload or a 400 MB tenant answer costs at most the limit in memory.
 * Plain web streams: the gateway and the invoker both use it.
 */

/** Join chunks into one array. A loop, not `concat(...chunks)`: a body of 200,000 one-byte chunks overflows the stack. */
function joinChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export type BoundedRead =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: "too_large"; readonly limit: number };

/** A declared `Content-Length`, when it is a plain decimal number. */
export function declaredLength(header: string | null | undefined): number | undefined {
  if (header === null || header === undefined || !/^\s*\d{1,16}\s*$/.test(header)) return undefined;
  return Number(header);
}

/** What the first read of a body without a declared length asks for (the usual tenant answer fits). */
const FIRST_READ_BYTES = 16 * 1024;

/** Read `stream` whole unless it passes `maxBytes`; then stop reading, cancel it, and say so. */
export async function readBounded(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  contentLength?: string | null,
): Promise<BoundedRead> {
  const declared = declaredLength(contentLength);
  if (declared !== undefined && declared > maxBytes) {
    await stream?.cancel().catch(() => {});
    return { ok: false, reason: "too_large", limit: maxBytes };
  }
  if (!stream) return { ok: true, bytes: new Uint8Array() };
  const filling = byobReader(stream);
  // Without a declared length (a chunked answer), a small body still comes in one call: the first read asks for
  // FIRST_READ_BYTES and a shorter one means the stream ended.
  if (filling) return readFilling(filling, declared ?? Math.min(FIRST_READ_BYTES, maxBytes), maxBytes);
  const reader = stream.getReader();
  try {
    return await readCapped([], maxBytes, reader, async () => {
      const { done, value } = await reader.read();
      return done ? undefined : value;
    });
  } finally {
    reader.releaseLock();
  }
}

/**
 * Read on after `chunks` with `next` (undefined at the end) while the total stays within `maxBytes`; past it, cancel
 * `reader` and say so. The one running cap of both readers below.
 */
async function readCapped(
  chunks: Uint8Array[],
  maxBytes: number,
  reader: { cancel(): Promise<void> },
  next: (total: number) => Promise<Uint8Array | undefined>,
): Promise<BoundedRead> {
  let total = chunks.reduce((n, chunk) => n + chunk.byteLength, 0);
  for (;;) {
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return { ok: false, reason: "too_large", limit: maxBytes };
    }
    const value = await next(total);
    if (!value) break;
    total += value.byteLength;
    chunks.push(value);
  }
  return { ok: true, bytes: joinChunks(chunks, total) };
}

/** workerd's extension of the BYOB reader: fill at least `min` elements of `view` unless the stream ends first. */
type FillingReader = ReadableStreamBYOBReader & {
  readAtLeast<T extends ArrayBufferView>(min: number, view: T): Promise<ReadableStreamReadResult<T>>;
};

/**
 * A reader that can fill a buffer in one native call (a byte stream in workerd: request and response bodies), or
 * undefined (other runtimes, or a stream that is not a byte stream): the chunk loop then reads it.
 */
function byobReader(stream: ReadableStream<Uint8Array>): FillingReader | undefined {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
  if (typeof (reader as Partial<FillingReader>).readAtLeast === "function") return reader as FillingReader;
  reader.releaseLock();
  return undefined;
}

/**
 * A body that declared its length (at most `maxBytes`), or one expected to be about that long: one buffer of that
 * length plus one byte, filled in one call, so a body that keeps to it costs no chunk-by-chunk reading. The length is
 * not trusted: the extra byte shows a longer body, which is then read on with the same running cap, in buffers of
 * 64 KiB each filled before the next is taken (a read that returned whatever had arrived would keep a 64 KiB buffer
 * per small chunk: a body sent in 1 KiB pieces would cost 64 times its size).
 */
async function readFilling(reader: FillingReader, expected: number, maxBytes: number): Promise<BoundedRead> {
  try {
    const first = await reader.readAtLeast(expected + 1, new Uint8Array(expected + 1));
    const head = first.value ?? new Uint8Array();
    // Fewer bytes than asked for: the stream ended. A body much shorter than its buffer (a small chunked answer in the
    // FIRST_READ_BYTES one) is copied out: a view keeps the whole buffer alive, and structured clone (RPC to the shard,
    // storage) copies all of it, 16 KiB for a 10-byte result.
    if (head.byteLength <= expected) return { ok: true, bytes: exact(head) };
    return await readCapped([head], maxBytes, reader, async (total) => {
      const size = Math.min(64 * 1024, maxBytes + 1 - total);
      const { done, value } = await reader.readAtLeast(size, new Uint8Array(size));
      return done || !value || value.byteLength === 0 ? undefined : value;
    });
  } finally {
    reader.releaseLock();
  }
}

/** `view` alone, copied out of its buffer when that buffer is more than twice its length. */
function exact(view: Uint8Array): Uint8Array {
  return view.buffer.byteLength > 2 * view.byteLength ? view.slice() : view;
}

/** The first `maxBytes` of a stream (an error excerpt); the rest is never read. */
export async function readPrefix(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (!stream) return new Uint8Array();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value.subarray(0, maxBytes - total));
      total += Math.min(value.byteLength, maxBytes - total);
    }
    await reader.cancel().catch(() => {});
  } finally {
    reader.releaseLock();
  }
  return joinChunks(chunks, total);
}
