/**
 * @module
 * Reading inputs: a file by path, or standard input for `-`, with a size cap so a wrong path (a disk image, say)
 * is refused instead of read into memory.
 */

import { open } from "node:fs/promises";
import { UsageError } from "./context";

export async function readInput(path: string, maxBytes: number): Promise<Uint8Array> {
  if (path === "-") return readStream(process.stdin, maxBytes, "standard input");
  const file = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  try {
    const { size } = await file.stat();
    if (size > maxBytes) throw new UsageError(`${path} is ${size} bytes, over the limit of ${maxBytes}`);
    return new Uint8Array(await file.readFile());
  } finally {
    await file.close();
  }
}

async function readStream(stream: NodeJS.ReadableStream, maxBytes: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.byteLength;
    if (total > maxBytes) throw new UsageError(`${what} is over the limit of ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
