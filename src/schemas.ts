/**
 * @module
 * zod schemas for everything the gateway accepts. Defaults here are the documented defaults of API.md.
 */

import { z } from "zod";

export const ACCOUNT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const FUNCTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const accountLimitsSchema = z.strictObject({
  submitPerSecond: z.number().int().positive().max(1_000_000).optional(),
  maxConcurrency: z.number().int().positive().max(100_000).optional(),
});

/** `PATCH /v1/accounts/:id`: the new limits replace the old ones (omit one to remove it). */
export const updateAccountSchema = z.strictObject({ limits: accountLimitsSchema });

export const createAccountSchema = z.strictObject({
  id: z.string().regex(ACCOUNT_ID, "must match ^[a-z0-9][a-z0-9-]{1,62}$"),
  limits: accountLimitsSchema.optional(),
});
export type CreateAccountInput = z.infer<typeof createAccountSchema>;

const httpsUrl = z
  .string()
  .max(2048)
  .pipe(z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }));

export const targetSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("url"), url: httpsUrl }),
  z.strictObject({ type: z.literal("service"), service: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/) }),
]);
export type Target = z.infer<typeof targetSchema>;

export const destinationSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("webhook"), url: httpsUrl }),
  z.strictObject({ type: z.literal("queue"), queue: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/) }),
  // One path segment: objects land at <prefix>/<account>/<function>/<id>.json, so the second segment is always the
  // account and no prefix can reach into another tenant's folder.
  z.strictObject({
    type: z.literal("r2"),
    prefix: z
      .string()
      .max(64)
      .regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/, "must be one path segment (letters, digits, _ . -), no slashes")
      .optional(),
  }),
  z.strictObject({ type: z.literal("function"), name: z.string().regex(FUNCTION_NAME) }),
]);
export type Destination = z.infer<typeof destinationSchema>;

/** The documented defaults (API.md), said once. */
export const DEFAULT_RETRY = { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 } as const;
export const DEFAULT_TIMEOUT_MS = 30_000;

export const retrySchema = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(100).default(DEFAULT_RETRY.maxAttempts),
    initialBackoffMs: z.number().int().min(0).max(3_600_000).default(DEFAULT_RETRY.initialBackoffMs),
    maxBackoffMs: z.number().int().min(0).max(86_400_000).default(DEFAULT_RETRY.maxBackoffMs),
  })
  .refine((r) => r.initialBackoffMs <= r.maxBackoffMs, {
    message: "initialBackoffMs must not exceed maxBackoffMs",
    path: ["initialBackoffMs"],
  });

export const ISOLATION_MODES = ["auto", "shared", "account", "dedicated"] as const;
export type Isolation = (typeof ISOLATION_MODES)[number];

export const functionSpecSchema = z.strictObject({
  target: targetSchema,
  timeoutMs: z.number().int().min(100).max(900_000).default(DEFAULT_TIMEOUT_MS),
  maxConcurrency: z.number().int().min(1).max(10_000).default(100),
  retry: retrySchema.default(DEFAULT_RETRY),
  maxEventAgeSeconds: z.number().int().min(1).max(604_800).default(21_600),
  dedupWindowSeconds: z.number().int().min(0).max(604_800).default(86_400),
  /** How long an ended task is kept before it is purged (10 s to 90 days). */
  retentionSeconds: z.number().int().min(10).max(7_776_000).default(604_800),
  destinations: z
    .strictObject({ onSuccess: destinationSchema.optional(), onFailure: destinationSchema.optional() })
    .default({}),
  isolation: z.enum(ISOLATION_MODES).default("auto"),
  /** Fairness-key lanes: `maxConcurrencyPerKey` caps one key's calls in flight (tasks without a key share one lane). */
  fairness: z.strictObject({ maxConcurrencyPerKey: z.number().int().min(1).max(10_000).optional() }).optional(),
});
export type FunctionSpec = z.infer<typeof functionSpecSchema>;

/** Longest `Sluice-Delay` (and batch `delaySeconds`): 7 days. */
export const MAX_DELAY_SECONDS = 7 * 24 * 3600;
/**
 * An idempotency key: 1-256 characters, none of them control characters. A header cannot carry one anyway; in a
 * batch's JSON the rule keeps tenants' keys apart from the keys Sluice derives for chained deliveries and event-source
 * messages (`chain\n…`, `event\n…`), which a tenant could otherwise send first and so swallow the real one.
 */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(256)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it refuses
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters (such as a newline)");
/** Headers of `POST /v1/functions/:name/tasks`. */
export const submitHeadersSchema = z.object({
  "idempotency-key": idempotencyKeySchema.optional(),
  "sluice-delay": z
    .string()
    .regex(/^\d{1,7}$/, "must be a whole number of seconds")
    .transform(Number)
    .pipe(z.number().max(MAX_DELAY_SECONDS, "must be at most 604800 seconds (7 days)"))
    .optional(),
  "sluice-fairness-key": z.string().min(1).max(256).optional(),
});

export function toFieldErrors(
  error: z.ZodError,
  prefix: readonly (string | number)[] = [],
): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path].map(String).join(".") || "(body)",
    message: issue.message,
  }));
}

/** `POST /v1/functions/:name/tasks:batch` */
export const MAX_BATCH = 100;
export const batchSubmitSchema = z
  .array(
    z.strictObject({
      payload: z.unknown().refine((value) => value !== undefined, "payload is required"),
      idempotencyKey: idempotencyKeySchema.optional(),
      delaySeconds: z.number().int().min(0).max(MAX_DELAY_SECONDS).optional(),
      fairnessKey: z.string().min(1).max(256).optional(),
    }),
  )
  .min(1, "send at least one task")
  .max(MAX_BATCH, `at most ${MAX_BATCH} tasks per batch`);

/** Bulk operations: ids or a state, never an empty filter (which would silently mean "everything"). */
export const bulkFilterSchema = z
  .strictObject({
    ids: z.array(z.string().min(1).max(400)).min(1).max(1000).optional(),
    state: z
      .enum(["accepted", "queued", "paused", "running", "succeeded", "failed", "cancelled", "expired"])
      .optional(),
  })
  .refine((f) => f.ids !== undefined || f.state !== undefined, {
    message: "name the tasks: give ids, a state, or both (an empty filter is refused)",
    path: ["ids"],
  });

/** Listings of named things (`GET /v1/functions`, `GET /v1/accounts`): a page of names in order, and an opaque cursor. */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

/** `GET /v1/functions/:name/tasks` */
export const listQuerySchema = z.object({
  state: z.enum(["accepted", "queued", "paused", "running", "succeeded", "failed", "cancelled", "expired"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

/** `POST /v1/tasks/:id/complete` */
export const completionSchema = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), result: z.unknown().optional() }),
  z.strictObject({
    ok: z.literal(false),
    error: z.union([z.string().max(2000), z.object({ message: z.string().max(2000) }).loose()]),
    retryable: z.boolean().default(true),
  }),
]);

/** `Prefer: wait=N` (RFC 7240), N at most 60 seconds. */
export function preferWaitSeconds(header: string | undefined): number | undefined {
  const match = header?.match(/(?:^|[,;\s])wait=(\d+)/i);
  if (!match?.[1]) return undefined;
  return Math.min(Number(match[1]), 60);
}
