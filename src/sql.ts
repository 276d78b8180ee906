/**
 * @module
 * The slice of a Durable Object's SQLite API that the stores use, declared here so `src/` needs no Cloudflare import.
 * `ctx.storage.sql` satisfies it.
 */

export type SqlValue = ArrayBuffer | string | number | null;

export interface SqlCursor<T> {
  toArray(): T[];
  one(): T;
  readonly rowsWritten: number;
}

export interface Sql {
  exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T>;
}

/** SQLite hands BLOBs back as ArrayBuffer and takes them as ArrayBuffer. */
export function blobOf(bytes: Uint8Array | undefined): ArrayBuffer | null {
  if (!bytes) return null;
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export function bytesOf(value: SqlValue): Uint8Array | undefined {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : undefined;
}
