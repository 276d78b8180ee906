import { describe, expect, it } from "vitest";
import {
  buildEnvelope,
  classifyReceiver,
  DEFAULT_DELIVERY_SCHEDULE,
  destinationFor,
  nextDeliveryDelay,
  r2DestinationKey,
} from "../../src/delivery";

const timeline = {
  acceptedAt: "2026-01-01T00:00:00.000Z",
  queuedAt: null,
  firstDispatchedAt: null,
  lastDispatchedAt: null,
  finishedAt: "2026-01-01T00:00:01.000Z",
  deliveredAt: null,
};

describe("delivery schedule", () => {
  it("has at least 8 attempts spanning several hours", () => {
    expect(DEFAULT_DELIVERY_SCHEDULE.length).toBeGreaterThanOrEqual(8);
    const total = DEFAULT_DELIVERY_SCHEDULE.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(3 * 3600);
  });

  it("gives the delay before the next attempt with at most 10 % jitter, and nothing when used up", () => {
    expect(nextDeliveryDelay([0, 10, 100], 1, () => 0)).toBe(10);
    expect(nextDeliveryDelay([0, 10, 100], 1, () => 0.999)).toBe(11);
    expect(nextDeliveryDelay([0, 10, 100], 2, () => 0.5)).toBe(105);
    expect(nextDeliveryDelay([0, 10, 100], 3)).toBeUndefined();
  });
});

describe("receiver answers", () => {
  it.each([
    [200, "delivered"],
    [204, "delivered"],
    [299, "delivered"],
    [410, "gone"],
    [301, "retry"],
    [400, "retry"],
    [429, "retry"],
    [500, "retry"],
  ] as const)("%i is %s", (status, verdict) => {
    expect(classifyReceiver(status)).toBe(verdict);
  });
});

describe("routing and envelopes", () => {
  const onSuccess = { type: "r2" as const };
  const onFailure = { type: "queue" as const, queue: "RESULTS" };

  it("sends succeeded to onSuccess, failed and expired to onFailure, nothing for cancelled", () => {
    expect(destinationFor("succeeded", { onSuccess, onFailure })).toBe(onSuccess);
    expect(destinationFor("failed", { onSuccess, onFailure })).toBe(onFailure);
    expect(destinationFor("expired", { onSuccess, onFailure })).toBe(onFailure);
    expect(destinationFor("cancelled", { onSuccess, onFailure })).toBeUndefined();
    expect(destinationFor("succeeded", {})).toBeUndefined();
  });

  it("builds the envelope of API.md", () => {
    const envelope = buildEnvelope(
      {
        id: "t1",
        account: "acme",
        function: "f",
        state: "failed",
        attempts: 3,
        error: { kind: "http", message: "boom", status: 500 },
        timeline,
      },
      undefined,
      Date.parse("2026-01-01T00:00:02.000Z"),
    );
    expect(envelope).toEqual({
      type: "task.failed",
      timestamp: "2026-01-01T00:00:02.000Z",
      data: {
        id: "t1",
        account: "acme",
        function: "f",
        state: "failed",
        attempts: 3,
        error: { kind: "http", message: "boom", status: 500 },
        timeline,
      },
    });
    expect(
      buildEnvelope({ id: "t", account: "a", function: "f", state: "running", attempts: 1, timeline }, undefined, 0),
    ).toBeUndefined();
  });

  it("names R2 objects <prefix>/<account>/<function>/<id>.json", () => {
    expect(r2DestinationKey("archive", "acme", "resize", "t1")).toBe("archive/acme/resize/t1.json");
    expect(r2DestinationKey("/archive/", "acme", "resize", "t1")).toBe("archive/acme/resize/t1.json");
    expect(r2DestinationKey(undefined, "acme", "resize", "t1")).toBe("sluice/acme/resize/t1.json");
    // A prefix stored before prefixes were one segment is flattened: the account stays the second segment.
    expect(r2DestinationKey("sluice/bravo", "alpha", "fn", "t1")).toBe("sluice-bravo/alpha/fn/t1.json");
    expect(r2DestinationKey("", "acme", "resize", "t1")).toBe("sluice/acme/resize/t1.json");
  });
});
