/**
 * @module
 * One newest-first listing of a function's tasks over every shard holding them (its partitions, and shards it left):
 * each shard lists its own tasks newest first, and the pages are merged by creation time. The cursor keeps a position
 * per shard (the shard's sequence to continue below), so paging never repeats or skips a task, whichever shards the
 * function moves to between two pages: a shard the cursor does not name yet starts from its newest task.
 */

import type { TaskSummary } from "./records";

/** Per shard: the sequence to list below next, or 0 when that shard has nothing more. */
export type ShardPositions = Readonly<Record<string, number>>;

export interface ShardPage {
  readonly shard: string;
  readonly tasks: readonly TaskSummary[];
  /** Each task's sequence on its shard, in the same order. */
  readonly seqs: readonly number[];
  /** The shard has tasks past this page. */
  readonly more: boolean;
}

export interface MergedPage {
  readonly tasks: TaskSummary[];
  /** Where the next page continues, or undefined when every shard is done. */
  readonly next?: ShardPositions;
}

/** Newest first by creation time; ties by shard name then by the shard's own order, so the merge is deterministic. */
export function mergeNewestFirst(pages: readonly ShardPage[], before: ShardPositions, limit: number): MergedPage {
  const taken = new Map<string, number>(pages.map((p) => [p.shard, 0]));
  const tasks: TaskSummary[] = [];
  while (tasks.length < limit) {
    let best: ShardPage | undefined;
    let bestAt = Number.NEGATIVE_INFINITY;
    for (const page of pages) {
      const task = page.tasks[taken.get(page.shard) ?? 0];
      if (!task) continue;
      const at = Date.parse(task.createdAt);
      if (at > bestAt || (at === bestAt && best !== undefined && page.shard < best.shard)) {
        best = page;
        bestAt = at;
      }
    }
    if (!best) break;
    const k = taken.get(best.shard) ?? 0;
    tasks.push(best.tasks[k] as TaskSummary);
    taken.set(best.shard, k + 1);
  }
  const next: Record<string, number> = { ...before };
  let pending = false;
  for (const page of pages) {
    const k = taken.get(page.shard) ?? 0;
    const exhausted = k === page.tasks.length && !page.more;
    if (exhausted) next[page.shard] = 0;
    else {
      pending = true;
      if (k > 0) next[page.shard] = page.seqs[k - 1] as number;
    }
  }
  return pending ? { tasks, next } : { tasks };
}
