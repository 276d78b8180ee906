/**
 * Every statement the shard store runs against `tasks`, as recorded while the shared store cases run, is planned by
 * SQLite with an index: none walks the whole table or a whole index, nor sorts every matching row before its LIMIT,
 * except the few that are meant to cover the whole shard. A new query whose WHERE no index serves (or an index change
 * that leaves one behind) fails here, before it makes a dispatch pass cost a scan of every task (the invariant
 * "bounded cost per tenant").
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyShardSchema } from "../../src/shard/schema";
import type { SqlValue } from "../../src/sql";
import { observationCases } from "../cases/observations.cases";
import { STORE_CASES } from "../cases/store-cases";
import { NodeSql } from "../support/node-sql";

/** A NodeSql that remembers every statement it ran. */
class RecordingSql extends NodeSql {
  constructor(readonly seen: Set<string>) {
    super();
  }
  override exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]) {
    this.seen.add(query);
    return super.exec<T>(query, ...bindings);
  }
}

/** Statements meant to read the whole shard: the admin's per-state counts, and a case's own check of the table. */
const WHOLE_SHARD = [
  /^SELECT state, COUNT\(\*\) AS n FROM tasks GROUP BY state$/,
  /^SELECT COUNT\(\*\) AS n FROM tasks$/,
];
/** Partial indexes of running tasks: a walk of one reads the calls in flight, which the windows bound. */
const BOUNDED = /^SCAN tasks USING (COVERING )?INDEX (tasks_running|tasks_by_lease)\b/;

describe("shard store query plans", () => {
  it("every statement on tasks uses an index (no full scan) outside the whole-shard counts", async () => {
    const seen = new Set<string>();
    for (const c of [...STORE_CASES, ...observationCases]) {
      try {
        await c.run(new RecordingSql(seen));
      } catch {
        // The cases are checked by shard-store.test.ts; here only the statements they ran matter.
      }
    }
    const plans = new NodeSql();
    applyShardSchema(plans);
    const onTasks = [...seen].filter((q) => /\bFROM tasks\b|\bUPDATE tasks\b|\bDELETE FROM tasks\b/.test(q));
    expect(onTasks.length).toBeGreaterThan(20);
    const scans: string[] = [];
    for (const query of onTasks) {
      const normal = query.replace(/\s+/g, " ").trim();
      if (WHOLE_SHARD.some((re) => re.test(normal))) continue;
      const holes = (query.match(/\?/g) ?? []).length;
      const plan = plans.db
        .prepare(`EXPLAIN QUERY PLAN ${query}`)
        .all(...Array.from({ length: holes }, () => null))
        .map((row) => String((row as { detail: string }).detail));
      // A full walk, or a sort of every matching row before the LIMIT applies.
      const unbounded = plan.some(
        (step) => (/^SCAN tasks\b/.test(step) && !BOUNDED.test(step)) || /TEMP B-TREE FOR ORDER BY/.test(step),
      );
      if (unbounded) scans.push(`${normal}\n  -> ${plan.join(" | ")}`);
    }
    expect(scans).toEqual([]);
  }, 60_000);

  it("no statement binds a bare LIMIT or OFFSET (each would be compiled again on every exec; src/sql.ts INT_PARAM)", () => {
    const root = join(import.meta.dirname, "..", "..");
    const bare: string[] = [];
    for (const dir of ["src", "durable-objects", "workers"]) {
      for (const file of readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })) {
        if (!file.endsWith(".ts")) continue;
        readFileSync(join(root, dir, file), "utf8")
          .split("\n")
          .forEach((line, i) => {
            const code = line.trim();
            if (code.startsWith("*") || code.startsWith("//")) return;
            if (/\b(LIMIT|OFFSET)\s+\?(?!\?)/.test(code)) bare.push(`${dir}/${file}:${i + 1}: ${code}`);
          });
      }
    }
    expect(bare).toEqual([]);
  });
});
