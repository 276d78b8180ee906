import { describe, expect, it } from "vitest";
import {
  classifyStatus,
  MAX_RETRY_AFTER_MS,
  NETWORK_ERROR_MESSAGE,
  outcomeOfError,
  outcomeOfStatus,
} from "../../src/outcome";
import type { BodyRef } from "../../src/records";

const NOW = Date.UTC(2025, 5, 1, 0, 0, 0);
const body: BodyRef = { contentType: "application/json", size: 2, inline: new TextEncoder().encode("{}") };
const emptyBody: BodyRef = { contentType: "application/octet-stream", size: 0 };

describe("classifyStatus", () => {
  it.each([200, 201, 202, 204, 206, 299])("%i is a success", (status) => {
    expect(classifyStatus(status)).toBe("succeeded");
  });

  it.each([429, 503])("%i is throttled", (status) => {
    expect(classifyStatus(status)).toBe("throttled");
  });

  it.each([408, 500, 501, 502, 504, 505, 507, 520, 522, 524, 599])("%i is transient", (status) => {
    expect(classifyStatus(status)).toBe("transient");
  });

  it.each([400, 401, 403, 404, 405, 409, 410, 413, 415, 418, 422, 451, 499])("%i is permanent", (status) => {
    expect(classifyStatus(status)).toBe("permanent");
  });

  it.each([300, 301, 302, 303, 304, 307, 308])("redirect %i is permanent (redirects are not followed)", (status) => {
    expect(classifyStatus(status)).toBe("permanent");
  });

  it("classifies every status 200..599 per the table of API.md", () => {
    for (let status = 200; status < 600; status++) {
      const expected =
        status < 300
          ? "succeeded"
          : status === 429 || status === 503
            ? "throttled"
            : status === 408 || status >= 500
              ? "transient"
              : "permanent";
      expect(classifyStatus(status), String(status)).toBe(expected);
    }
  });
});

describe("outcomeOfStatus", () => {
  it("2xx succeeds with the body as the result", () => {
    expect(outcomeOfStatus(200, null, body, "", NOW)).toEqual({ kind: "succeeded", status: 200, body });
    expect(outcomeOfStatus(204, null, emptyBody, "", NOW)).toEqual({ kind: "succeeded", status: 204, body: emptyBody });
  });

  it("2xx ignores a Retry-After header", () => {
    expect(outcomeOfStatus(201, "30", body, "", NOW)).toEqual({ kind: "succeeded", status: 201, body });
  });

  it.each([429, 503])("%i is throttled with Retry-After in seconds", (status) => {
    expect(outcomeOfStatus(status, "30", emptyBody, "slow down", NOW)).toEqual({
      kind: "throttled",
      status,
      retryAfterMs: 30_000,
    });
  });

  it("throttled with Retry-After as an HTTP date", () => {
    const header = new Date(NOW + 90_000).toUTCString();
    expect(outcomeOfStatus(429, header, emptyBody, "", NOW)).toEqual({
      kind: "throttled",
      status: 429,
      retryAfterMs: 90_000,
    });
  });

  it("throttled without Retry-After has no retryAfterMs (the backoff applies)", () => {
    const outcome = outcomeOfStatus(503, null, emptyBody, "", NOW);
    expect(outcome).toEqual({ kind: "throttled", status: 503 });
    expect("retryAfterMs" in outcome).toBe(false);
  });

  it("throttled with an unparseable Retry-After has no retryAfterMs", () => {
    expect(outcomeOfStatus(429, "whenever", emptyBody, "", NOW)).toEqual({ kind: "throttled", status: 429 });
  });

  it("caps Retry-After at MAX_RETRY_AFTER_MS (one hour)", () => {
    expect(MAX_RETRY_AFTER_MS).toBe(3_600_000);
    expect(outcomeOfStatus(429, "86400", emptyBody, "", NOW)).toEqual({
      kind: "throttled",
      status: 429,
      retryAfterMs: 3_600_000,
    });
    const nextWeek = new Date(NOW + 7 * 86_400_000).toUTCString();
    expect(outcomeOfStatus(503, nextWeek, emptyBody, "", NOW)).toEqual({
      kind: "throttled",
      status: 503,
      retryAfterMs: 3_600_000,
    });
  });

  it.each([408, 500, 502, 504, 599])("%i is a transient http failure carrying the status and excerpt", (status) => {
    expect(outcomeOfStatus(status, null, emptyBody, "boom", NOW)).toEqual({
      kind: "transient",
      error: { kind: "http", status, message: "boom" },
    });
  });

  it("a transient failure without an excerpt says HTTP <status>", () => {
    expect(outcomeOfStatus(500, null, emptyBody, "", NOW)).toEqual({
      kind: "transient",
      error: { kind: "http", status: 500, message: "HTTP 500" },
    });
  });

  it("a transient failure ignores Retry-After", () => {
    expect(outcomeOfStatus(502, "10", emptyBody, "", NOW)).toEqual({
      kind: "transient",
      error: { kind: "http", status: 502, message: "HTTP 502" },
    });
  });

  it.each([400, 401, 403, 404, 410, 422])("%i is a permanent http failure", (status) => {
    expect(outcomeOfStatus(status, null, emptyBody, "bad input", NOW)).toEqual({
      kind: "permanent",
      error: { kind: "http", status, message: "bad input" },
    });
    expect(outcomeOfStatus(status, null, emptyBody, "", NOW)).toEqual({
      kind: "permanent",
      error: { kind: "http", status, message: `HTTP ${status}` },
    });
  });

  it.each([300, 301, 302, 303, 307, 308])("%i is a permanent 'redirect' failure", (status) => {
    expect(outcomeOfStatus(status, null, emptyBody, "Moved", NOW)).toEqual({
      kind: "permanent",
      error: { kind: "redirect", status, message: "redirects are not followed" },
    });
  });
});

describe("outcomeOfError", () => {
  it("a timeout is a transient 'timeout' failure, whatever the error", () => {
    const expected = {
      kind: "transient",
      error: { kind: "timeout", message: "the function did not answer within timeoutMs" },
    };
    expect(outcomeOfError(new Error("The operation was aborted"), true)).toEqual(expected);
    expect(outcomeOfError(new DOMException("aborted", "AbortError"), true)).toEqual(expected);
    expect(outcomeOfError(undefined, true)).toEqual(expected);
  });

  it("anything else is a transient 'network' failure with one generic message, whatever the error said", () => {
    const leaky = [
      new TypeError("fetch failed"),
      new Error("connect ECONNREFUSED 127.0.0.1:8961"),
      new Error("internal error; reference = 0123456789abcdef"),
      "connection reset",
      42,
      null,
      new Error("x".repeat(5000)),
    ];
    for (const error of leaky) {
      expect(outcomeOfError(error, false)).toEqual({
        kind: "transient",
        error: { kind: "network", message: NETWORK_ERROR_MESSAGE },
      });
    }
  });

  it("never classifies a missing response as permanent or throttled", () => {
    for (const timedOut of [true, false]) expect(outcomeOfError(new Error("e"), timedOut).kind).toBe("transient");
  });
});
