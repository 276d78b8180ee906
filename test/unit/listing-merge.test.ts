/** Merging shards' newest-first pages into one listing: no task twice, none skipped, newest first. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mergeNewestFirst, type ShardPage, type ShardPositions } from "../../src/listing-merge";
import type { TaskSummary } from "../../src/records";

interface Stored {
  seq: number;
  at: number;
  id: string;
}

function summary(task: Stored): TaskSummary {
  const at = new Date(task.at).toISOString();
  return {
    id: task.id,
    function: "f",
    state: "queued",
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    timeline: {} as TaskSummary["timeline"],
  };
}

/** What a shard's listTasks answers: its tasks below `before`, newest (highest seq) first. */
function listShard(shard: string, tasks: readonly Stored[], limit: number, before?: number): ShardPage {
  const below = tasks.filter((t) => t.seq < (before ?? Number.MAX_SAFE_INTEGER)).sort((a, b) => b.seq - a.seq);
  const page = below.slice(0, limit);
  return { shard, tasks: page.map(summary), seqs: page.map((t) => t.seq), more: below.length > limit };
}

function pageThrough(shards: Record<string, Stored[]>, limit: number): string[] {
  const seen: string[] = [];
  let positions: ShardPositions = {};
  for (let round = 0; round < 10_000; round++) {
    const pages = Object.entries(shards)
      .filter(([name]) => positions[name] !== 0)
      .map(([name, tasks]) => listShard(name, tasks, limit, positions[name]));
    const merged = mergeNewestFirst(pages, positions, limit);
    expect(merged.tasks.length).toBeLessThanOrEqual(limit);
    seen.push(...merged.tasks.map((t) => t.id));
    if (!merged.next) return seen;
    positions = merged.next;
  }
  throw new Error("paging did not end");
}

describe("mergeNewestFirst", () => {
  it("interleaves two shards by creation time, newest first, across pages", () => {
    const shards = {
      old: [
        { seq: 1, at: 100, id: "a" },
        { seq: 2, at: 300, id: "c" },
      ],
      new: [
        { seq: 1, at: 200, id: "b" },
        { seq: 2, at: 400, id: "d" },
        { seq: 3, at: 500, id: "e" },
      ],
    };
    expect(pageThrough(shards, 2)).toEqual(["e", "d", "c", "b", "a"]);
    expect(pageThrough(shards, 10)).toEqual(["e", "d", "c", "b", "a"]);
  });

  it("ends with no cursor when every shard is done, and says done for an empty shard", () => {
    const merged = mergeNewestFirst([listShard("s", [], 5)], {}, 5);
    expect(merged).toEqual({ tasks: [] });
  });

  it("pages through any shards and page size listing every task exactly once, each shard in its own order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 30 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 7 }),
        (times, limit) => {
          const shards: Record<string, Stored[]> = {};
          times.forEach((list, s) => {
            shards[`s${s}`] = list.map((at, i) => ({ seq: i + 1, at, id: `s${s}-${i}` }));
          });
          const seen = pageThrough(shards, limit);
          const all = Object.values(shards).flatMap((list) => list.map((t) => t.id));
          expect([...seen].sort()).toEqual([...all].sort());
          for (const [name, list] of Object.entries(shards)) {
            const order = seen.filter((id) => id.startsWith(`${name}-`));
            expect(order).toEqual([...list].reverse().map((t) => t.id));
          }
        },
      ),
    );
  });
});
