/**
 * @module
 * A sample tenant function. Sluice calls it with the task payload as the body; the payload (JSON) chooses what it does,
 * so tests, benchmarks and the README walk-through need nothing else:
 *
 * - `{"sleepMs": 200}`          wait 200 ms, then succeed
 * - `{"fail": 500}`             answer that status on every attempt
 * - `{"failTimes": 2, "fail": 503}` fail the first 2 attempts (by `Sluice-Attempt`), then succeed
 * - `{"status": 429, "retryAfter": 1}` answer a bare status, optionally with `Retry-After`
 * - `{"echo": anything}`        succeed with `{"echo": anything}`
 * - `{"bytes": 100000}`         succeed with a text body of that many bytes
 * - `{"async": true}`           accept as a long-running task (202 + `Sluice-Async: 1`); finish via the callback API
 *
 * Anything else (including a non-JSON body) succeeds with a summary of what arrived.
 */

interface DemoInstructions {
  sleepMs?: number;
  fail?: number;
  failTimes?: number;
  status?: number;
  retryAfter?: number;
  echo?: unknown;
  bytes?: number;
  async?: boolean;
}

function parseInstructions(text: string): DemoInstructions {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" ? (value as DemoInstructions) : {};
  } catch {
    return {};
  }
}

export async function handleDemoCall(request: Request): Promise<Response> {
  // Bytes first: a payload may be binary, and `.text()` on it warns about corrupting it.
  const bytes = new Uint8Array(await request.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  const instructions = parseInstructions(text);
  const attempt = Number(request.headers.get("sluice-attempt") ?? "1");
  const taskId = request.headers.get("sluice-task-id");

  if (typeof instructions.sleepMs === "number" && instructions.sleepMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(instructions.sleepMs ?? 0, 600_000)));
  }
  if (instructions.async === true) {
    return new Response(null, { status: 202, headers: { "sluice-async": "1" } });
  }
  if (typeof instructions.status === "number") {
    const headers = new Headers();
    if (typeof instructions.retryAfter === "number") headers.set("retry-after", String(instructions.retryAfter));
    return new Response(JSON.stringify({ status: instructions.status }), { status: instructions.status, headers });
  }
  if (typeof instructions.fail === "number") {
    const failing = typeof instructions.failTimes === "number" ? attempt <= instructions.failTimes : true;
    if (failing) return Response.json({ error: "demo failure", attempt }, { status: instructions.fail });
  }
  if (typeof instructions.bytes === "number") {
    return new Response("x".repeat(Math.min(instructions.bytes, 5_000_000)), {
      headers: { "content-type": "text/plain" },
    });
  }
  if ("echo" in instructions) return Response.json({ echo: instructions.echo, taskId, attempt });
  return Response.json({
    ok: true,
    taskId,
    attempt,
    receivedBytes: bytes.byteLength,
    contentType: request.headers.get("content-type"),
  });
}

export default {
  fetch: handleDemoCall,
} satisfies ExportedHandler;
