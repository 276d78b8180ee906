/** The shard store's shared cases (test/cases/shard-store.cases.ts) in Node, over node:sqlite. */
import { describe, it } from "vitest";
import { flowControlCases } from "../cases/flow-control.cases";
import { isolationCases, laneStorageCases, reportAnswerCases } from "../cases/isolation.cases";
import { shardStoreCases } from "../cases/shard-store.cases";
import { NodeSql } from "../support/node-sql";

describe("shard store over node:sqlite", () => {
  for (const c of [
    ...shardStoreCases,
    ...isolationCases,
    ...laneStorageCases,
    ...reportAnswerCases,
    ...flowControlCases,
  ])
    it(c.name, () => c.run(new NodeSql()));
});
