/**
 * @module
 * B2 baseline Worker (bench/run.mjs): POST sends the body to a queue and answers 202; the queue consumer calls the demo
 * function for every message of the batch at once through the DEMO_FN service binding and counts the 2xx answers.
 * `GET /count` returns `{ count, failures, firstAt, lastAt }`. `POST /reset` zeroes the counters.
 *
 * The counters are module globals: locally one isolate serves both the fetch and the queue handlers, which is all a
 * benchmark on this machine needs (it is not a production design).
 */

interface QueueLike {
  send(body: unknown, options?: { contentType?: string }): Promise<void>;
}

interface FetcherLike {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

interface BaselineEnv {
  QUEUE: QueueLike;
  DEMO_FN: FetcherLike;
}

interface Job {
  id: string;
  payload: Uint8Array;
  contentType: string;
}

interface MessageLike {
  body: Job;
  ack(): void;
  retry(): void;
}

let count = 0;
let failures = 0;
let firstAt: number | null = null;
let lastAt: number | null = null;

export default {
  async fetch(request: Request, env: BaselineEnv): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (request.method === "GET" && path === "/count") return Response.json({ count, failures, firstAt, lastAt });
    if (request.method === "POST" && path === "/reset") {
      count = 0;
      failures = 0;
      firstAt = null;
      lastAt = null;
      return Response.json({ reset: true });
    }
    if (request.method !== "POST") return Response.json({ name: "baseline-e2e" });
    const payload = new Uint8Array(await request.arrayBuffer());
    const id = crypto.randomUUID();
    await env.QUEUE.send(
      { id, payload, contentType: request.headers.get("content-type") ?? "application/octet-stream" } satisfies Job,
      { contentType: "v8" },
    );
    return Response.json({ id, state: "accepted" }, { status: 202 });
  },

  async queue(batch: { messages: readonly MessageLike[] }, env: BaselineEnv): Promise<void> {
    await Promise.all(
      batch.messages.map(async (message) => {
        const job = message.body;
        try {
          const response = await env.DEMO_FN.fetch("https://demo-fn/", {
            method: "POST",
            body: job.payload,
            headers: { "content-type": job.contentType, "sluice-task-id": job.id, "sluice-attempt": "1" },
          });
          await response.arrayBuffer();
          if (response.ok) {
            count++;
            const now = Date.now();
            firstAt ??= now;
            lastAt = now;
            message.ack();
          } else {
            failures++;
            message.retry();
          }
        } catch {
          failures++;
          message.retry();
        }
      }),
    );
  },
};
