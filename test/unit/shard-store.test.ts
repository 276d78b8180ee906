/** The shard store's shared cases (test/cases/shard-store.cases.ts) in Node, over node:sqlite. */
import { describe, it } from "vitest";
import { STORE_CASES } from "../cases/store-cases";
import { NodeSql } from "../support/node-sql";

describe("shard store over node:sqlite", () => {
  for (const c of STORE_CASES) it(c.name, () => c.run(new NodeSql()));
});
