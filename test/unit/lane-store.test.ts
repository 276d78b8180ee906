/**
 * A delivery lane's store over node:sqlite: idempotent enqueue by delivery id, the count and byte bounds, due order,
 * the retry schedule, lease recovery after a lost instance, promises to the shard, and rows leaving once reported.
 */
import { describe, expect, it } from "vitest";
import type { DeliveryMessage } from "../../src/delivery";
import { INTERRUPTED_ERROR, type LaneSettings, LaneStore } from "../../src/delivery-lane/store";
import { NodeSql } from "../support/node-sql";

const T0 = 1_700_000_000_000;
const EMPTY_TIMELINE = {
  acceptedAt: null,
  queuedAt: null,
  firstDispatchedAt: null,
  lastDispatchedAt: null,
  finishedAt: null,
  deliveredAt: null,
};
const SETTINGS: LaneSettings = { schedule: [0, 5, 30], leaseMs: 15_000, checkInMs: 60_000 };

function message(n: number, extra: Partial<DeliveryMessage> = {}): DeliveryMessage {
  return {
    v: 1,
    shard: "shared:1",
    deliveryId: `dlv_1_t${n}`,
    account: "acme",
    functionName: "f",
    taskId: `t${n}`,
    destination: { type: "webhook", url: "https://hooks.example.com/x" },
    envelope: {
      type: "task.succeeded",
      timestamp: new Date(T0).toISOString(),
      data: { id: `t${n}`, account: "acme", function: "f", state: "succeeded", attempts: 1, timeline: EMPTY_TIMELINE },
    },
    chainDepth: 0,
    origin: "https://sluice.test",
    ...extra,
  };
}

const store = (settings: Partial<LaneSettings> = {}) => new LaneStore(new NodeSql(), { ...SETTINGS, ...settings });
const ids = (attempts: { message: DeliveryMessage }[]) => attempts.map((a) => a.message.taskId);

describe("delivery lane store over node:sqlite", () => {
  it("takes a re-sent delivery once, keeping the higher attempt count", () => {
    const lane = store();
    expect(lane.enqueue([message(1), message(2)], T0).accepted).toEqual(["dlv_1_t1", "dlv_1_t2"]);
    expect(lane.enqueue([message(1, { priorAttempts: 3 }), message(2)], T0 + 1).accepted).toHaveLength(2);
    lane.enqueue([message(1, { priorAttempts: 1 })], T0 + 2);
    expect(lane.count()).toBe(2);
    const claimed = lane.claimDue(6, T0 + 3);
    expect(claimed.map((a) => [a.message.taskId, a.attempt])).toEqual([
      ["t1", 4],
      ["t2", 1],
    ]);
    // The stored message is the delivery itself, its attempt count kept in the row.
    expect(claimed[0]?.message).toEqual(message(1));
  });

  it("refuses new deliveries beyond its count and byte bounds, but still accepts ones it holds", () => {
    const lane = store({ maxDeliveries: 2 });
    expect(lane.enqueue([message(1), message(2), message(3)], T0)).toEqual({
      accepted: ["dlv_1_t1", "dlv_1_t2"],
      refused: ["dlv_1_t3"],
    });
    expect(lane.enqueue([message(2), message(4)], T0)).toEqual({ accepted: ["dlv_1_t2"], refused: ["dlv_1_t4"] });
    const small = store({ maxBytes: 1500 });
    const big = message(9, {
      envelope: { ...message(9).envelope, data: { ...message(9).envelope.data, result: "x".repeat(1000) } },
    });
    expect(small.enqueue([message(1), big], T0).refused).toEqual(["dlv_1_t9"]);
    expect(small.count()).toBe(1);
  });

  it("hands out due deliveries oldest due first, at most `limit`, each once until it settles", () => {
    const lane = store();
    lane.enqueue([message(1)], T0);
    lane.enqueue([message(2)], T0 + 10);
    lane.enqueue([message(3)], T0 + 20);
    expect(lane.claimDue(6, T0 + 5).map((a) => a.message.taskId)).toEqual(["t1"]);
    expect(ids(lane.claimDue(1, T0 + 30))).toEqual(["t2"]);
    expect(ids(lane.claimDue(6, T0 + 30))).toEqual(["t3"]);
    expect(lane.claimDue(6, T0 + 30)).toEqual([]);
    expect(lane.claimDue(0, T0 + 30)).toEqual([]);
  });

  it("retries on the schedule, never sooner, then fails when it is used up; a 410 or a stop fails at once", () => {
    const lane = store();
    lane.enqueue([message(1), message(2), message(3)], T0);
    lane.claimDue(6, T0);
    const retry = { verdict: "retry", error: "receiver answered 500" } as const;
    expect(lane.settle("dlv_1_t1", retry, T0 + 100, () => 0)).toMatchObject({
      state: "pending",
      attempts: 1,
      error: "receiver answered 500",
      reportBy: T0 + 100 + 5_000 + 60_000,
    });
    expect(lane.settle("dlv_1_t2", { verdict: "gone", error: "receiver answered 410" }, T0 + 100)).toMatchObject({
      state: "failed",
      attempts: 1,
    });
    expect(lane.settle("dlv_1_t3", { verdict: "delivered" }, T0 + 100)).toMatchObject({ state: "delivered" });
    // Not claimed any more: a second settle of the same attempt changes nothing.
    expect(lane.settle("dlv_1_t3", { verdict: "delivered" }, T0 + 101)).toBeUndefined();
    expect(lane.claimDue(6, T0 + 5_099)).toEqual([]);
    expect(lane.nextWakeAt(T0 + 200)).toBe(T0 + 5_100);
    const [second] = lane.claimDue(6, T0 + 5_100);
    expect(second?.attempt).toBe(2);
    lane.settle("dlv_1_t1", retry, T0 + 6_000, () => 0);
    expect(lane.claimDue(6, T0 + 35_999)).toEqual([]);
    expect(lane.claimDue(6, T0 + 36_000)).toHaveLength(1);
    expect(lane.settle("dlv_1_t1", retry, T0 + 37_000)).toMatchObject({ state: "failed", attempts: 3 });
  });

  it("retries an attempt whose instance went away once its lease ends, counting it, and leaves running ones alone", () => {
    const lane = store();
    lane.enqueue([message(1), message(2)], T0);
    lane.claimDue(6, T0);
    expect(lane.nextWakeAt(T0)).toBe(T0 + 15_000);
    expect(lane.recoverExpiredLeases(T0 + 14_999, new Set())).toBe(0);
    // t2's attempt is still running in this instance: only t1's is presumed lost.
    expect(lane.recoverExpiredLeases(T0 + 15_000, new Set(["dlv_1_t2"]))).toBe(1);
    const [report] = lane.unreported(10).filter((r) => r.deliveryId === "dlv_1_t1");
    expect(report?.report).toMatchObject({ state: "pending", attempts: 1, error: INTERRUPTED_ERROR });
    const [again] = lane.claimDue(6, T0 + 15_000 + 5_500);
    expect(again).toMatchObject({ attempt: 2, message: { deliveryId: "dlv_1_t1" } });
  });

  it("promises the shard a report on accept and renews the promise of deliveries waiting in a backlog", () => {
    const lane = store();
    lane.enqueue([message(1)], T0);
    const [accepted] = lane.unreported(10);
    expect(accepted?.report).toEqual({
      taskId: "t1",
      deliveryId: "dlv_1_t1",
      state: "pending",
      attempts: 0,
      at: T0,
      reportBy: T0 + 60_000,
    });
    lane.markReported("dlv_1_t1", accepted?.stored ?? "");
    expect(lane.unreported(10)).toEqual([]);
    expect(lane.count()).toBe(1);
    // Still waiting (a hung receiver holds the lane's connections): renewed once half the promise is used.
    expect(lane.checkIn(T0 + 29_999, 10)).toBe(0);
    expect(lane.checkIn(T0 + 30_000, 10)).toBe(1);
    expect(lane.unreported(10)[0]?.report).toMatchObject({ attempts: 0, reportBy: T0 + 90_000 });
  });

  it("deletes a delivery once its final report reached the shard, and not for an older report", () => {
    const lane = store();
    lane.enqueue([message(1)], T0);
    const [promise] = lane.unreported(10);
    lane.claimDue(6, T0);
    lane.settle("dlv_1_t1", { verdict: "delivered" }, T0 + 10);
    // The accept report was sent before the attempt finished: clearing it must not clear the final one.
    lane.markReported("dlv_1_t1", promise?.stored ?? "");
    const [final] = lane.unreported(10);
    expect(final?.report).toMatchObject({ state: "delivered", attempts: 1 });
    expect(lane.count()).toBe(1);
    lane.markReported("dlv_1_t1", final?.stored ?? "");
    expect(lane.count()).toBe(0);
    expect(lane.nextWakeAt(T0 + 20)).toBeNull();
  });

  it("starts over a delivery that finished here when it is handed in again (a re-drive)", () => {
    const lane = store();
    lane.enqueue([message(1)], T0);
    lane.claimDue(6, T0);
    lane.settle("dlv_1_t1", { verdict: "gone", error: "receiver answered 410" }, T0 + 10);
    expect(lane.enqueue([message(1)], T0 + 20).accepted).toEqual(["dlv_1_t1"]);
    expect(lane.count()).toBe(1);
    expect(lane.claimDue(6, T0 + 20)).toMatchObject([{ attempt: 1 }]);
  });
});
