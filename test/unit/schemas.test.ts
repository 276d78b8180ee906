import { describe, expect, it } from "vitest";
import {
  ACCOUNT_ID,
  batchSubmitSchema,
  createAccountSchema,
  destinationSchema,
  FUNCTION_NAME,
  functionSpecSchema,
  MAX_DELAY_SECONDS,
  submitHeadersSchema,
  toFieldErrors,
} from "../../src/schemas";

const target = { type: "url", url: "https://fn.example.com/run" } as const;

function issuePaths(input: unknown): string[] {
  const result = functionSpecSchema.safeParse(input);
  expect(result.success).toBe(false);
  return result.success ? [] : toFieldErrors(result.error).map((e) => e.path);
}

describe("functionSpecSchema defaults", () => {
  it("fills every documented default when only target is given", () => {
    expect(functionSpecSchema.parse({ target })).toEqual({
      target,
      timeoutMs: 30_000,
      maxConcurrency: 100,
      retry: { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 },
      maxEventAgeSeconds: 21_600,
      dedupWindowSeconds: 86_400,
      retentionSeconds: 604_800,
      destinations: {},
      isolation: "auto",
    });
  });

  it("fills the missing fields of a partial retry policy", () => {
    expect(functionSpecSchema.parse({ target, retry: { maxAttempts: 5 } }).retry).toEqual({
      maxAttempts: 5,
      initialBackoffMs: 1000,
      maxBackoffMs: 300_000,
    });
    expect(functionSpecSchema.parse({ target, retry: {} }).retry).toEqual({
      maxAttempts: 3,
      initialBackoffMs: 1000,
      maxBackoffMs: 300_000,
    });
  });

  it("keeps the full example of API.md as given", () => {
    const spec = {
      target,
      timeoutMs: 30_000,
      maxConcurrency: 100,
      retry: { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 },
      maxEventAgeSeconds: 21_600,
      dedupWindowSeconds: 86_400,
      retentionSeconds: 604_800,
      destinations: {
        onSuccess: { type: "webhook", url: "https://hooks.example.com/done" },
        onFailure: { type: "queue", queue: "RESULTS" },
      },
      isolation: "auto",
    };
    expect(functionSpecSchema.parse(spec)).toEqual(spec);
  });

  it("accepts a service target and every isolation mode", () => {
    for (const isolation of ["auto", "shared", "account", "dedicated"]) {
      expect(functionSpecSchema.parse({ target: { type: "service", service: "DEMO_FN" }, isolation }).isolation).toBe(
        isolation,
      );
    }
  });

  it("confines an r2 prefix to one path segment, so it cannot reach into another tenant's folder", () => {
    for (const prefix of ["sluice/bravo", "../x", "/abs", "", ".hidden", "a b"]) {
      expect(destinationSchema.safeParse({ type: "r2", prefix }).success).toBe(false);
    }
    expect(destinationSchema.safeParse({ type: "r2", prefix: "archive_2026.v1" }).success).toBe(true);
  });

  it("accepts every destination type", () => {
    for (const d of [
      { type: "webhook", url: "https://hooks.example.com/x" },
      { type: "queue", queue: "RESULTS" },
      { type: "r2" },
      { type: "r2", prefix: "results-v1" },
      { type: "function", name: "next-step" },
    ]) {
      expect(destinationSchema.parse(d)).toEqual(d);
      expect(functionSpecSchema.parse({ target, destinations: { onSuccess: d, onFailure: d } }).destinations).toEqual({
        onSuccess: d,
        onFailure: d,
      });
    }
  });

  it("accepts the bounds", () => {
    const spec = functionSpecSchema.parse({
      target,
      timeoutMs: 100,
      maxConcurrency: 1,
      retry: { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
      maxEventAgeSeconds: 604_800,
      dedupWindowSeconds: 0,
    });
    expect(spec.timeoutMs).toBe(100);
    expect(spec.retry).toEqual({ maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 });
    expect(functionSpecSchema.parse({ target, timeoutMs: 900_000, maxConcurrency: 10_000 }).timeoutMs).toBe(900_000);
  });
});

describe("functionSpecSchema rejections", () => {
  it("requires target", () => {
    expect(issuePaths({})).toEqual(["target"]);
  });

  it("rejects unknown fields at every level (strictObject)", () => {
    expect(functionSpecSchema.safeParse({ target, timeout: 5 }).success).toBe(false);
    expect(functionSpecSchema.safeParse({ target: { ...target, method: "GET" } }).success).toBe(false);
    expect(functionSpecSchema.safeParse({ target, retry: { maxAttempts: 3, jitter: true } }).success).toBe(false);
    expect(functionSpecSchema.safeParse({ target, destinations: { onSucces: { type: "r2" } } }).success).toBe(false);
    expect(
      functionSpecSchema.safeParse({ target, destinations: { onSuccess: { type: "r2", bucket: "x" } } }).success,
    ).toBe(false);
  });

  it("refuses initialBackoffMs > maxBackoffMs, naming retry.initialBackoffMs", () => {
    const result = functionSpecSchema.safeParse({ target, retry: { initialBackoffMs: 5000, maxBackoffMs: 4000 } });
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(toFieldErrors(result.error)).toEqual([
        { path: "retry.initialBackoffMs", message: "initialBackoffMs must not exceed maxBackoffMs" },
      ]);
    }
  });

  it("refuses initialBackoffMs above the default maxBackoffMs", () => {
    expect(functionSpecSchema.safeParse({ target, retry: { initialBackoffMs: 300_001 } }).success).toBe(false);
    expect(functionSpecSchema.safeParse({ target, retry: { initialBackoffMs: 300_000 } }).success).toBe(true);
  });

  it.each([
    [{ timeoutMs: 99 }, "timeoutMs"],
    [{ timeoutMs: 900_001 }, "timeoutMs"],
    [{ timeoutMs: 1000.5 }, "timeoutMs"],
    [{ timeoutMs: "30000" }, "timeoutMs"],
    [{ maxConcurrency: 0 }, "maxConcurrency"],
    [{ maxConcurrency: 10_001 }, "maxConcurrency"],
    [{ maxEventAgeSeconds: 0 }, "maxEventAgeSeconds"],
    [{ maxEventAgeSeconds: 604_801 }, "maxEventAgeSeconds"],
    [{ dedupWindowSeconds: -1 }, "dedupWindowSeconds"],
    [{ retry: { maxAttempts: 0 } }, "retry.maxAttempts"],
    [{ retry: { maxAttempts: 101 } }, "retry.maxAttempts"],
    [{ retry: { initialBackoffMs: -1 } }, "retry.initialBackoffMs"],
    [{ retry: { maxBackoffMs: 86_400_001 } }, "retry.maxBackoffMs"],
    [{ isolation: "solo" }, "isolation"],
    [{ destinations: { onSuccess: { type: "email", to: "a@b.c" } } }, "destinations.onSuccess.type"],
  ])("rejects %j at %s", (patch, path) => {
    expect(issuePaths({ target, ...patch })).toContain(path);
  });

  it.each([
    { type: "url", url: "not a url" },
    { type: "url", url: "ftp://fn.example.com/" },
    { type: "url", url: "javascript:alert(1)" },
    { type: "url", url: `https://example.com/${"x".repeat(2048)}` },
    { type: "url" },
    { type: "service", service: "lower case" },
    { type: "service", service: "1ABC" },
    { type: "service", service: "" },
    { type: "lambda", arn: "x" },
    "https://fn.example.com",
  ])("rejects the target %j", (bad) => {
    expect(functionSpecSchema.safeParse({ target: bad }).success).toBe(false);
  });

  it.each(["", "Resize", "-resize", "re_size", "re size", "résumé", "a".repeat(64), "resize/1", "../x"])(
    "rejects the function name %j (regex and function destination)",
    (name) => {
      expect(FUNCTION_NAME.test(name)).toBe(false);
      expect(destinationSchema.safeParse({ type: "function", name }).success).toBe(false);
    },
  );

  it.each(["a", "0", "resize", "resize-images-v2", "a-", "a".repeat(63)])("accepts the function name %j", (name) => {
    expect(FUNCTION_NAME.test(name)).toBe(true);
    expect(destinationSchema.safeParse({ type: "function", name }).success).toBe(true);
  });

  it("rejects a bad r2 prefix and a bad queue binding name", () => {
    expect(destinationSchema.safeParse({ type: "r2", prefix: "a b" }).success).toBe(false);
    expect(destinationSchema.safeParse({ type: "r2", prefix: "x".repeat(257) }).success).toBe(false);
    expect(destinationSchema.safeParse({ type: "queue", queue: "my-queue" }).success).toBe(false);
  });
});

describe("account ids", () => {
  it.each(["ab", "acme", "a1", "0-9", "a".repeat(63)])("accepts %j", (id) => {
    expect(ACCOUNT_ID.test(id)).toBe(true);
    expect(createAccountSchema.safeParse({ id }).success).toBe(true);
  });

  it.each(["", "a", "-acme", "Acme", "ac_me", "a".repeat(64), "acme!"])("rejects %j", (id) => {
    expect(ACCOUNT_ID.test(id)).toBe(false);
    expect(createAccountSchema.safeParse({ id }).success).toBe(false);
  });

  it("validates limits strictly", () => {
    expect(createAccountSchema.parse({ id: "acme", limits: { submitPerSecond: 10, maxConcurrency: 5 } })).toEqual({
      id: "acme",
      limits: { submitPerSecond: 10, maxConcurrency: 5 },
    });
    expect(createAccountSchema.safeParse({ id: "acme", limits: { submitPerSecond: 0 } }).success).toBe(false);
    expect(createAccountSchema.safeParse({ id: "acme", limits: { burst: 5 } }).success).toBe(false);
    expect(createAccountSchema.safeParse({ id: "acme", admin: true }).success).toBe(false);
  });
});

describe("submitHeadersSchema", () => {
  it("accepts no headers", () => {
    expect(submitHeadersSchema.parse({})).toEqual({});
  });

  it("parses Sluice-Delay into a number of seconds", () => {
    expect(submitHeadersSchema.parse({ "sluice-delay": "0" })).toEqual({ "sluice-delay": 0 });
    expect(submitHeadersSchema.parse({ "sluice-delay": "30" })).toEqual({ "sluice-delay": 30 });
    expect(submitHeadersSchema.parse({ "sluice-delay": "0000030" })).toEqual({ "sluice-delay": 30 });
  });

  it("allows Sluice-Delay up to 604800 seconds (7 days) and no more", () => {
    expect(MAX_DELAY_SECONDS).toBe(604_800);
    expect(submitHeadersSchema.parse({ "sluice-delay": "604800" })).toEqual({ "sluice-delay": 604_800 });
    const over = submitHeadersSchema.safeParse({ "sluice-delay": "604801" });
    expect(over.success).toBe(false);
    if (!over.success) {
      expect(toFieldErrors(over.error, ["headers"])).toEqual([
        { path: "headers.sluice-delay", message: "must be at most 604800 seconds (7 days)" },
      ]);
    }
    expect(submitHeadersSchema.safeParse({ "sluice-delay": "9999999" }).success).toBe(false);
  });

  it.each(["", " ", "abc", "1.5", "-1", "+5", "1e3", "0x10", "5s", " 5", "12345678", "Infinity"])(
    "refuses the non-numeric Sluice-Delay %j",
    (value) => {
      const result = submitHeadersSchema.safeParse({ "sluice-delay": value });
      expect(result.success).toBe(false);
      if (!result.success) expect(toFieldErrors(result.error).map((e) => e.path)).toEqual(["sluice-delay"]);
    },
  );

  it("bounds the idempotency and fairness keys", () => {
    expect(
      submitHeadersSchema.parse({ "idempotency-key": "k".repeat(256), "sluice-fairness-key": "customer-42" }),
    ).toEqual({
      "idempotency-key": "k".repeat(256),
      "sluice-fairness-key": "customer-42",
    });
    expect(submitHeadersSchema.safeParse({ "idempotency-key": "k".repeat(257) }).success).toBe(false);
    expect(submitHeadersSchema.safeParse({ "idempotency-key": "" }).success).toBe(false);
    expect(submitHeadersSchema.safeParse({ "sluice-fairness-key": "" }).success).toBe(false);
    expect(submitHeadersSchema.safeParse({ "sluice-fairness-key": "f".repeat(257) }).success).toBe(false);
  });

  it("refuses control characters in an idempotency key, in a header or a batch (Sluice's own keys use newlines)", () => {
    for (const key of ["chain\ndlv_1", "event\nq\nmsg", "a\u0000b", "tab\there", "del\u007f"]) {
      expect(submitHeadersSchema.safeParse({ "idempotency-key": key }).success).toBe(false);
      const batch = batchSubmitSchema.safeParse([{ payload: 1 }, { payload: 2, idempotencyKey: key }]);
      expect(batch.success).toBe(false);
      if (!batch.success) expect(toFieldErrors(batch.error).map((e) => e.path)).toEqual(["1.idempotencyKey"]);
    }
    // Anything printable is fine, Unicode included.
    for (const key of ["order-42", "a b", "ключ-✓", "k".repeat(256)]) {
      expect(batchSubmitSchema.safeParse([{ payload: 1, idempotencyKey: key }]).success).toBe(true);
    }
  });

  it("treats absent headers (undefined) as not given", () => {
    expect(
      submitHeadersSchema.parse({
        "idempotency-key": undefined,
        "sluice-delay": undefined,
        "sluice-fairness-key": undefined,
      }),
    ).toEqual({});
  });
});

describe("toFieldErrors", () => {
  it("joins paths with dots, applies the prefix, and names the body for root errors", () => {
    const root = functionSpecSchema.safeParse("not an object");
    expect(root.success).toBe(false);
    if (!root.success) expect(toFieldErrors(root.error).map((e) => e.path)).toEqual(["(body)"]);
    const nested = functionSpecSchema.safeParse({ target, retry: { maxAttempts: 0 } });
    if (!nested.success)
      expect(toFieldErrors(nested.error, ["body"]).map((e) => e.path)).toEqual(["body.retry.maxAttempts"]);
    expect(nested.success).toBe(false);
  });
});
