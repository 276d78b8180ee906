/**
 * The shard store's shared cases (test/cases/shard-store.cases.ts) inside workerd, over a fresh Durable Object's own
 * SQLite: the same cases as in Node, so a difference between the adapters (BLOB types, rowsWritten) fails here.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, it } from "vitest";
import { STORE_CASES } from "../cases/store-cases";
import { uniqueId } from "./helpers";

describe("shard store over a Durable Object's SQLite", () => {
  for (const c of STORE_CASES) {
    it(c.name, async () => {
      await runInDurableObject(env.SHARD.getByName(uniqueId("store-case")), (_instance, state) =>
        c.run(state.storage.sql),
      );
    }, 30_000);
  }
});
