/** Lane naming: one lane per account and destination host (port included), queue binding, R2, or chained functions. */
import { describe, expect, it } from "vitest";
import type { DeliveryMessage } from "../../src/delivery";
import { laneCheckInMs, laneOf, refusedRetryDelay } from "../../src/delivery-lanes";

const lane = (account: string, destination: DeliveryMessage["destination"]) => laneOf({ account, destination });

describe("laneOf", () => {
  it("names a webhook lane by account and lowercased host:port, the default port filled in", () => {
    expect(lane("acme", { type: "webhook", url: "https://Hooks.Example.COM/a?b=1" })).toBe(
      "acme|webhook|hooks.example.com:443",
    );
    expect(lane("acme", { type: "webhook", url: "https://hooks.example.com:443/other" })).toBe(
      "acme|webhook|hooks.example.com:443",
    );
    expect(lane("acme", { type: "webhook", url: "http://127.0.0.1:8080/x" })).toBe("acme|webhook|127.0.0.1:8080");
    expect(lane("acme", { type: "webhook", url: "http://hooks.example.com/x" })).toBe(
      "acme|webhook|hooks.example.com:80",
    );
  });

  it("gives two accounts, two hosts and two ports different lanes", () => {
    const names = new Set([
      lane("a", { type: "webhook", url: "https://h.example/x" }),
      lane("b", { type: "webhook", url: "https://h.example/x" }),
      lane("a", { type: "webhook", url: "https://g.example/x" }),
      lane("a", { type: "webhook", url: "https://h.example:8443/x" }),
    ]);
    expect(names.size).toBe(4);
  });

  it("names queue, R2 and function lanes", () => {
    expect(lane("acme", { type: "queue", queue: "RESULTS" })).toBe("acme|queue|RESULTS");
    expect(lane("acme", { type: "r2", prefix: "archive" })).toBe("acme|r2");
    expect(lane("acme", { type: "r2" })).toBe("acme|r2");
    expect(lane("acme", { type: "function", name: "next" })).toBe("acme|function");
  });

  it("puts an unparsable webhook URL in a lane of its own", () => {
    expect(lane("acme", { type: "webhook", url: "not a url" })).toBe("acme|webhook|invalid");
  });
});

describe("lane timing", () => {
  it("offers a refused delivery again ever more slowly, up to 10 minutes", () => {
    expect(refusedRetryDelay(1)).toBe(30);
    expect(refusedRetryDelay(3)).toBe(90);
    expect(refusedRetryDelay(1000)).toBe(600);
  });

  it("promises a report at least a minute ahead, 30 receiver timeouts by default", () => {
    expect(laneCheckInMs(2000)).toBe(60_000);
    expect(laneCheckInMs(10_000)).toBe(300_000);
  });
});
