/**
 * @module
 * Parsers of the CLI's option values. Each throws commander's `InvalidArgumentError`, so a bad value is a usage error
 * (exit 2) naming the option, before any request is made.
 */

import { InvalidArgumentError } from "commander";
import { MAX_DELAY_SECONDS } from "../src/schemas";
import { TASK_STATES, type TaskState } from "../src/task-states";

/** A whole number in `[min, max]`. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`must be a whole number (${min} to ${max})`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

export const parseLimit = integer(1, 100_000);
export const parseDelay = integer(0, MAX_DELAY_SECONDS);
export const parseChunkSize = integer(1, 100);
/** `--wait` on submit: `Prefer: wait=N`, N ≤ 60. */
export const parsePreferWait = integer(0, 60);
/** `status --wait [seconds]`: how long to keep polling (default 300 s, at most a day). */
export const parseWaitSeconds = integer(1, 86_400);

export function parseState(value: string): TaskState {
  if ((TASK_STATES as readonly string[]).includes(value)) return value as TaskState;
  throw new InvalidArgumentError(`must be one of ${TASK_STATES.join(", ")}`);
}

/** A base URL: http(s), no credentials, no query. */
export function parseBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("must be a URL such as http://localhost:8787");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError("must be http(s)");
  if (url.username || url.password) throw new InvalidArgumentError("must not carry credentials (use --key)");
  if (url.search || url.hash) throw new InvalidArgumentError("must not have a query or fragment");
  return url.toString().replace(/\/+$/, "");
}

/** Content type of a payload file when `--content-type` is not given: by extension, else JSON if it parses. */
export function guessContentType(path: string, bytes: Uint8Array): string {
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  const byExtension: Record<string, string> = {
    json: "application/json",
    txt: "text/plain; charset=utf-8",
    csv: "text/csv",
    xml: "application/xml",
    html: "text/html",
  };
  if (ext && byExtension[ext]) return byExtension[ext];
  try {
    JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
    return "application/json";
  } catch {
    return "application/octet-stream";
  }
}
