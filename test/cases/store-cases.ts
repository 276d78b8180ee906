/**
 * Every runner-neutral case of the shard store, for the files that run them all: in Node
 * (test/unit/shard-store.test.ts), inside workerd (test/workers/shard-store.test.ts), and for their query plans
 * (test/unit/query-plans.test.ts, which adds the observation cases).
 */
import { flowControlCases } from "./flow-control.cases";
import { isolationCases, laneStorageCases, reportAnswerCases } from "./isolation.cases";
import { type StoreCase, shardStoreCases } from "./shard-store.cases";

export const STORE_CASES: readonly StoreCase[] = [
  ...shardStoreCases,
  ...isolationCases,
  ...laneStorageCases,
  ...reportAnswerCases,
  ...flowControlCases,
];
