/** What a shard records for stats and metrics (test/cases/observations.cases.ts), in Node over node:sqlite. */
import { describe, it } from "vitest";
import { observationCases } from "../cases/observations.cases";
import { NodeSql } from "../support/node-sql";

describe("shard observations over node:sqlite", () => {
  for (const c of observationCases) it(c.name, () => c.run(new NodeSql()));
});
