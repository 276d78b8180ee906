/**
 * @module
 * B1 baseline Worker (bench/run.mjs): a bare fetch handler, no router, no auth, no validation, that sends each POSTed
 * body to a local queue and answers 202. The queue consumer acks everything, so the backlog never grows.
 */

interface QueueLike {
  send(body: unknown, options?: { contentType?: string }): Promise<void>;
}

interface BaselineEnv {
  QUEUE: QueueLike;
}

export default {
  async fetch(request: Request, env: BaselineEnv): Promise<Response> {
    if (request.method !== "POST") return Response.json({ name: "baseline-ingest" });
    const payload = new Uint8Array(await request.arrayBuffer());
    const id = crypto.randomUUID();
    await env.QUEUE.send(
      {
        v: 1,
        id,
        payload,
        contentType: request.headers.get("content-type") ?? "application/octet-stream",
        acceptedAt: Date.now(),
      },
      { contentType: "v8" },
    );
    return Response.json({ id, state: "accepted" }, { status: 202 });
  },

  async queue(): Promise<void> {
    // Returning without throwing acks the whole batch.
  },
};
