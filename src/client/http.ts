/**
 * @module
 * One HTTP exchange with the API: bearer token, timeout, problem+json errors raised as {@link SluiceError}, bodies
 * validated with zod. Plain `fetch`, so it runs in Node ≥ 20, browsers and Workers alike.
 */

import type { z } from "zod";
import { problemFromResponse, SluiceResponseError } from "./errors";

export interface ClientOptions {
  /** Base URL of the platform, e.g. `https://sluice.example.com` or `http://localhost:8787`. */
  readonly url: string;
  /** The tenant API key (`sk_…`). Sent only as a bearer token, never put in a URL or an error message. */
  readonly apiKey: string;
  /** A `fetch` of your own (a service binding's, a test's); the global one by default. */
  readonly fetch?: typeof fetch;
  /** Longest time one request may take, in ms (default 90 s: a `Prefer: wait` may hold a submission 60 s). */
  readonly timeoutMs?: number;
  /** Extra headers on every request (a `traceparent`, a user agent). */
  readonly headers?: Record<string, string>;
}

export interface RequestOptions {
  readonly query?: Record<string, string | number | undefined>;
  readonly headers?: Record<string, string | undefined>;
  readonly body?: BodyInit;
  readonly signal?: AbortSignal | undefined;
}

export class Http {
  readonly #base: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError("url is required");
    if (!options.apiKey) throw new TypeError("apiKey is required");
    const base = new URL(options.url);
    if (base.protocol !== "https:" && base.protocol !== "http:") throw new TypeError("url must be http(s)");
    this.#base = base.toString().replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    // Unbound global fetch throws "Illegal invocation" in browsers and Workers.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 90_000;
    this.#headers = options.headers ?? {};
  }

  url(path: string, query: RequestOptions["query"] = {}): string {
    const url = new URL(this.#base + path);
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url.toString();
  }

  /** Send one request; a non-2xx answer throws {@link SluiceError}. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(this.#headers);
    for (const [name, value] of Object.entries(options.headers ?? {}))
      if (value !== undefined) headers.set(name, value);
    headers.set("authorization", `Bearer ${this.#apiKey}`);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    // AbortSignal.any is in Node from 20.3 on; without it a caller's signal wins over the timeout.
    const signal = options.signal
      ? typeof AbortSignal.any === "function"
        ? AbortSignal.any([options.signal, timeout])
        : options.signal
      : timeout;
    const init: RequestInit = { method, headers, signal };
    if (options.body !== undefined) init.body = options.body;
    const response = await this.#fetch(this.url(path, options.query), init);
    if (!response.ok) throw await problemFromResponse(response);
    return response;
  }

  /** Send one request and validate its JSON answer with `schema`. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: RequestOptions = {},
  ): Promise<{ status: number; data: z.output<S> }> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SluiceResponseError(response.status, `${method} ${path}: the answer is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const where = first ? `${first.path.join(".") || "(body)"}: ${first.message}` : "";
      throw new SluiceResponseError(
        response.status,
        `${method} ${path}: unexpected answer (${where})`,
        parsed.error.issues,
      );
    }
    return { status: response.status, data: parsed.data };
  }
}
