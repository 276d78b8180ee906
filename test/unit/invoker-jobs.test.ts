/** The invoker's job store in Node over node:sqlite: idempotent hand-offs, outcomes kept until reported. */
import { describe, expect, it } from "vitest";
import { callKey, finishedCall, JobStore } from "../../src/invoker/jobs";
import type { InvocationJob } from "../../src/records";
import { NodeSql } from "../support/node-sql";

function job(taskId: string, invocation = 1, inline = new Uint8Array([1, 2, 3])): InvocationJob {
  return {
    shard: "shared:1",
    taskId,
    account: "acme",
    functionName: "f",
    attempt: 1,
    invocation,
    target: { type: "service", service: "DEMO_FN" },
    timeoutMs: 1000,
    deadline: 5000,
    callbackToken: "cb_acme.x",
    payload: { contentType: "application/octet-stream", size: inline.byteLength, inline },
  };
}

describe("invoker job store over node:sqlite", () => {
  it("takes a repeated hand-off once, hands out waiting jobs oldest first with their payload, skipping running ones", () => {
    const store = new JobStore(new NodeSql());
    store.enqueue([job("a"), job("b")], 1);
    store.enqueue([job("a"), job("c")], 2);
    expect(store.count()).toBe(3);
    const waiting = store.waiting(2, new Set([callKey("a", 1)]));
    expect(waiting.map((j) => j.taskId)).toEqual(["b", "c"]);
    expect(waiting[0]?.payload.inline).toEqual(new Uint8Array([1, 2, 3]));
    store.dropWaiting("c", 1);
    expect(store.count()).toBe(2);
  });

  it("keeps an outcome whose report failed, with its inline result, until the shard has taken the report", () => {
    const store = new JobStore(new NodeSql());
    const j = job("a");
    store.enqueue([j], 1);
    const result = new Uint8Array([7, 8]);
    store.recordOutcome(
      finishedCall(j, 10, 5, {
        kind: "succeeded",
        status: 200,
        body: { contentType: "text/plain", size: 2, inline: result },
      }),
    );
    expect(store.waiting(6, new Set())).toEqual([]);
    const [finished] = store.finished(10);
    expect(finished).toMatchObject({
      shard: "shared:1",
      taskId: "a",
      invocation: 1,
      report: { startedAt: 10, durationMs: 5 },
    });
    const outcome = finished?.report.outcome;
    expect(outcome?.kind === "succeeded" && outcome.body.inline).toEqual(result);
    // A finished job is not dropped by a late abort; only the report's delivery removes it.
    store.dropWaiting("a", 1);
    expect(store.count()).toBe(1);
    store.remove("a", 1);
    expect(store.count()).toBe(0);
  });
});
