/**
 * The stores' `Sql` interface (src/sql.ts) over Node's built-in `node:sqlite`, so the shard and registry stores run as
 * plain unit tests. Shaped like a Durable Object's `ctx.storage.sql`: BLOBs come back as ArrayBuffer, `one()` throws
 * unless there is exactly one row, and `rowsWritten` counts the rows a statement changed.
 */
import { DatabaseSync } from "node:sqlite";
import type { Sql, SqlCursor, SqlValue } from "../../src/sql";

function toSqlite(value: unknown): unknown {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value === undefined) return null;
  return value;
}

function fromSqlite(row: Record<string, unknown>): Record<string, SqlValue> {
  const out: Record<string, SqlValue> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value instanceof Uint8Array)
      out[key] = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) as ArrayBuffer;
    else if (typeof value === "bigint") out[key] = Number(value);
    else out[key] = value as SqlValue;
  }
  return out;
}

export class NodeSql implements Sql {
  readonly db: DatabaseSync;

  constructor(path = ":memory:") {
    this.db = new DatabaseSync(path);
  }

  exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T> {
    const statement = this.db.prepare(query);
    const rows = statement
      .all(...(bindings.map(toSqlite) as never[]))
      .map((row) => fromSqlite(row as Record<string, unknown>) as T);
    const changed = /^\s*(INSERT|UPDATE|DELETE|REPLACE)/i.test(query)
      ? Number((this.db.prepare("SELECT changes() AS n").get() as { n: number }).n)
      : 0;
    return {
      toArray: () => rows,
      one: () => {
        if (rows.length !== 1) throw new Error(`expected exactly one row, got ${rows.length}`);
        return rows[0] as T;
      },
      rowsWritten: changed,
    };
  }

  /** One transaction, like `ctx.storage.transactionSync`. */
  transaction<R>(run: () => R): R {
    this.db.exec("BEGIN");
    try {
      const result = run();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }
}
