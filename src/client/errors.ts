/**
 * @module
 * The client's errors: {@link SluiceError} for every answer the API refused (its RFC 9457 problem), and
 * {@link SluiceResponseError} for an answer that does not match the contract. Both have a literal `name`, so they can
 * be told apart after minification.
 */

import type { z } from "zod";
import { problemSchema } from "./schemas";

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** A refusal by the API: status, the problem's stable `type`, its `title` and `detail`. */
export class SluiceError extends Error {
  override readonly name = "SluiceError";
  readonly status: number;
  /** Stable URI per kind, e.g. `https://sluice.dev/problems/not-found`. */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  /** Validation errors name each bad field. */
  readonly errors: readonly FieldError[];
  /** Seconds to wait before trying again (429), from `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;
  /** The whole problem body, extension members included (e.g. `state` of a refused transition). */
  readonly body: Readonly<Record<string, unknown>>;

  constructor(problem: {
    status: number;
    type: string;
    title: string;
    detail?: string | undefined;
    errors?: readonly FieldError[] | undefined;
    retryAfterSeconds?: number | undefined;
    body?: Record<string, unknown>;
  }) {
    super(problem.detail || problem.title);
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail || problem.title;
    this.errors = problem.errors ?? [];
    this.retryAfterSeconds = problem.retryAfterSeconds;
    this.body = problem.body ?? {};
  }

  /** The last segment of `type` (`not-found`, `validation`, `rate-limited`, …). */
  get kind(): string {
    return this.type.slice(this.type.lastIndexOf("/") + 1);
  }
}

/** A 2xx answer whose body is not what the contract says (a proxy in the way, or a server of another version). */
export class SluiceResponseError extends Error {
  override readonly name = "SluiceResponseError";
  readonly status: number;
  readonly issues: readonly z.core.$ZodIssue[];

  constructor(status: number, message: string, issues: readonly z.core.$ZodIssue[] = []) {
    super(message);
    this.status = status;
    this.issues = issues;
  }
}

function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * The {@link SluiceError} for a refused response. A body that is not problem+json (an HTML page from a proxy, say) still
 * gives a useful error: its status text as title and the start of its text as detail.
 */
export async function problemFromResponse(response: Response): Promise<SluiceError> {
  const text = await response.text().catch(() => "");
  const common = { status: response.status, retryAfterSeconds: retryAfter(response) };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const problem = problemSchema.safeParse(json);
  if (problem.success) {
    return new SluiceError({ ...common, ...problem.data, body: problem.data });
  }
  const title = response.statusText || `HTTP ${response.status}`;
  return new SluiceError({
    ...common,
    type: "about:blank",
    title,
    detail: text.trim().slice(0, 300) || title,
  });
}
