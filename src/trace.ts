/**
 * @module
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for tasks: a `traceparent` sent on submit (or one Sluice
 * starts) is kept with the task, and every tenant call and delivery carries a child of it: the same trace id and
 * flags, a new parent id (the span Sluice makes the call in), so a tenant's OpenTelemetry follows a task end to end.
 */

import { randomBytes, toHex } from "./encoding";

/** `version-traceid-parentid-flags`, lower-case hex (the spec's version 00 form). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceContext {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: string;
}

/**
 * Parse a `traceparent` header; undefined for anything the spec says to ignore (wrong shape, version ff, an all-zero
 * trace or parent id, or a version 00 header with extra fields). Future versions are read by their first four fields.
 * @example parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
 * // { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", parentId: "00f067aa0ba902b7", flags: "01" }
 */
export function parseTraceparent(header: string | null | undefined): TraceContext | undefined {
  if (typeof header !== "string" || header.length > 512) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId, flags };
}

export function formatTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.parentId}-${trace.flags}`;
}

/** The task's trace: the one the submitter sent, or a new one (sampled) when it sent none or an invalid one. */
export function traceForSubmission(header: string | null | undefined, random = randomHex): string {
  const sent = parseTraceparent(header);
  return formatTraceparent(sent ?? { traceId: nonZero(random, 16), parentId: nonZero(random, 8), flags: "01" });
}

/** The header for one outgoing call or delivery of a task: the task's trace id and flags, a new span of Sluice's. */
export function childTraceparent(taskTraceparent: string | null | undefined, random = randomHex): string | undefined {
  const trace = parseTraceparent(taskTraceparent);
  return trace ? formatTraceparent({ ...trace, parentId: nonZero(random, 8) }) : undefined;
}

function nonZero(random: (bytes: number) => string, bytes: number): string {
  for (;;) {
    const hex = random(bytes);
    if (!/^0+$/.test(hex)) return hex;
  }
}

function randomHex(bytes: number): string {
  return toHex(randomBytes(bytes));
}

/** `{ traceparent }` with a new child span of the task's trace, for an outgoing request (empty without a trace). */
export function traceHeader(taskTraceparent: string | null | undefined): { traceparent?: string } {
  const child = childTraceparent(taskTraceparent);
  return child ? { traceparent: child } : {};
}
