/**
 * @module
 * What every command shares: the global options (`--url`, `--key`, `--json`, or `SLUICE_URL` / `SLUICE_API_KEY`),
 * the client they make, and output. Results go to stdout; progress, notes and errors to stderr, so
 * `sluice submit … > ids.txt` captures only ids. The API key is never printed: every line written is scrubbed of it.
 */

import type { Command } from "commander";
import { SluiceClient, SluiceError, SluiceResponseError, TaskWaitTimeoutError } from "../src/client";
import { parseBaseUrl } from "./options";

export const DEFAULT_URL = "http://localhost:8787";

/** A usage error: exit code 2, like commander's own. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The command ran, but its outcome is a failure the user must see (a task that failed, lines that were refused). */
export class OutcomeError extends Error {
  override readonly name = "OutcomeError";
}

export interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress bars are drawn only there). */
  readonly interactive: boolean;
}

export class Context {
  readonly json: boolean;
  readonly url: string;
  readonly #key: string | undefined;
  readonly #io: Io;

  constructor(options: GlobalOptions, io: Io) {
    this.json = options.json === true;
    this.url = options.url ?? fromEnvironment(io.env.SLUICE_URL);
    this.#key = options.key ?? io.env.SLUICE_API_KEY;
    this.#io = io;
  }

  static of(command: Command, io: Io): Context {
    return new Context(command.optsWithGlobals<GlobalOptions>(), io);
  }

  get interactive(): boolean {
    return this.#io.interactive && !this.json;
  }

  client(): SluiceClient {
    if (!this.#key) throw new UsageError("no API key: set SLUICE_API_KEY or pass --key");
    return new SluiceClient({ url: this.url, apiKey: this.#key, headers: { "user-agent": "sluice-cli" } });
  }

  /** Remove the API key from anything about to be printed. */
  scrub(text: string): string {
    return this.#key ? text.split(this.#key).join("[api key]") : text;
  }

  out(text: string): void {
    this.#io.out(`${this.scrub(text)}\n`);
  }

  err(text: string): void {
    this.#io.err(`${this.scrub(text)}\n`);
  }

  /** `--json`: the value as one line of JSON on stdout; otherwise the text. */
  print(value: unknown, text: () => string): void {
    this.out(this.json ? JSON.stringify(value) : text());
  }
}

function fromEnvironment(url: string | undefined): string {
  if (url === undefined || url === "") return DEFAULT_URL;
  try {
    return parseBaseUrl(url);
  } catch (error) {
    throw new UsageError(`SLUICE_URL ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What an error looks like on stderr; `--json` gives `{"error": {...}}` instead. */
export function describeError(error: unknown, json: boolean): string {
  if (error instanceof SluiceError) {
    if (json) {
      const { status, type, title, detail, errors } = error;
      return JSON.stringify({ error: { status, type, title, detail, ...(errors.length ? { errors } : {}) } });
    }
    const fields = error.errors.map((e) => `\n  ${e.path}: ${e.message}`).join("");
    return `sluice: ${error.detail} (${error.status} ${error.kind})${fields}`;
  }
  const message = messageOf(error);
  return json ? JSON.stringify({ error: { detail: message } }) : `sluice: ${message}`;
}

function messageOf(error: unknown): string {
  if (error instanceof SluiceResponseError || error instanceof TaskWaitTimeoutError) return error.message;
  if (error instanceof Error) {
    // fetch failures say only "fetch failed"; the reason is in `cause` (ECONNREFUSED, ENOTFOUND, a timeout).
    const cause = error.cause instanceof Error ? error.cause : undefined;
    const code = (cause as { code?: string } | undefined)?.code;
    if (error.name === "TimeoutError") return "the request timed out";
    if (cause) return `${error.message}: ${code ?? cause.message}`;
    return error.message;
  }
  return String(error);
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}
