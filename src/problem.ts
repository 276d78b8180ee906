/**
 * @module
 * RFC 9457 problem details. Domain code throws {@link Problem}; the gateway's single error boundary renders it as
 * `application/problem+json`. Each kind has a stable `type` URI that clients can switch on.
 */

export const PROBLEM_BASE = "https://sluice.dev/problems/";

export type ProblemKind =
  | "validation"
  | "malformed-json"
  | "unauthorized"
  | "not-found"
  | "conflict"
  | "invalid-transition"
  | "limit-exceeded"
  | "payload-too-large"
  | "rate-limited"
  | "admin-disabled"
  | "unsupported-media-type"
  | "internal";

const TITLES: Record<ProblemKind, { status: number; title: string }> = {
  validation: { status: 400, title: "Request failed validation" },
  "malformed-json": { status: 400, title: "Malformed JSON body" },
  unauthorized: { status: 401, title: "Missing or invalid bearer token" },
  "not-found": { status: 404, title: "Not found" },
  conflict: { status: 409, title: "Conflict" },
  "invalid-transition": { status: 409, title: "State transition not allowed" },
  "limit-exceeded": { status: 409, title: "Limit reached" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "admin-disabled": { status: 503, title: "Admin API disabled" },
  internal: { status: 500, title: "Internal error" },
};

/** Every problem kind with its HTTP status and title (the OpenAPI document lists them). */
export const PROBLEM_KINDS: Readonly<Record<ProblemKind, { readonly status: number; readonly title: string }>> = TITLES;

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

/** A failure meant for the caller. `extensions` become extra members of the problem body (e.g. `errors`, `state`). */
export class Problem extends Error {
  override readonly name = "Problem";
  readonly kind: ProblemKind;
  readonly status: number;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    kind: ProblemKind,
    detail: string,
    options: { extensions?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.kind = kind;
    this.status = TITLES[kind].status;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  toBody(): ProblemBody {
    return {
      ...this.extensions,
      type: PROBLEM_BASE + this.kind,
      title: TITLES[this.kind].title,
      status: this.status,
      detail: this.message,
    };
  }
}

export function validationProblem(errors: FieldError[], detail = "The request does not match the schema."): Problem {
  return new Problem("validation", detail, { extensions: { errors } });
}
