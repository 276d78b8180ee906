/**
 * W3C trace context end to end inside workerd: a `traceparent` sent on submit travels with the task to the tenant
 * call and the webhook delivery (a child span each: same trace id and flags, a new parent id), shows in the task
 * view, and continues into a chained function's task; a task submitted without one (or with an invalid one) gets a
 * trace Sluice started. The function and the webhook receiver are the Node receiver of webhook-receiver.global.ts.
 */
import { describe, expect, inject, it, vi } from "vitest";
import { parseTraceparent } from "../../src/trace";
import { createAccount, getTask, putFunction, tenant, uniqueId, waitForState } from "./helpers";

const receiver = () => inject("receiverUrl");
const SENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

async function received(name: string): Promise<{ headers: Record<string, string> }[]> {
  return (await (await fetch(`${receiver()}/log/${name}`)).json()) as { headers: Record<string, string> }[];
}

async function submitWith(account: { apiKey: string }, fn: string, traceparent?: string): Promise<string> {
  const response = await tenant(account as Parameters<typeof tenant>[0], `/v1/functions/${fn}/tasks`, {
    method: "POST",
    body: JSON.stringify({ hello: "trace" }),
    headers: { "content-type": "application/json", ...(traceparent ? { traceparent } : {}) },
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

describe("trace context", () => {
  it("a submitted traceparent reaches the call and the delivery as child spans, and shows in the view", async () => {
    const account = await createAccount("trace");
    const call = uniqueId("call");
    const hook = uniqueId("hook");
    await putFunction(account, "traced", {
      target: { type: "url", url: `${receiver()}/hook/${call}` },
      destinations: { onSuccess: { type: "webhook", url: `${receiver()}/hook/${hook}` } },
    });
    const id = await submitWith(account, "traced", SENT);
    await waitForState(account, id, "succeeded");
    const view = await getTask(account, id);
    expect(view.traceparent).toBe(SENT);

    const [callHeaders] = await vi.waitFor(async () => {
      const log = await received(call);
      expect(log.length).toBeGreaterThan(0);
      return log.map((r) => r.headers);
    });
    const [hookHeaders] = await vi.waitFor(
      async () => {
        const log = await received(hook);
        expect(log.length).toBeGreaterThan(0);
        return log.map((r) => r.headers);
      },
      { timeout: 10_000 },
    );
    for (const headers of [callHeaders, hookHeaders]) {
      const child = parseTraceparent(headers?.traceparent);
      expect(child?.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
      expect(child?.flags).toBe("01");
      expect(child?.parentId).not.toBe("b7ad6b7169203331");
    }
    expect(callHeaders?.traceparent).not.toBe(hookHeaders?.traceparent);
  });

  it("without a traceparent, or with an invalid one, Sluice starts a trace and the call carries it", async () => {
    const account = await createAccount("trace-new");
    const call = uniqueId("call");
    await putFunction(account, "untraced", { target: { type: "url", url: `${receiver()}/hook/${call}` } });
    const plain = await submitWith(account, "untraced");
    const invalid = await submitWith(account, "untraced", "00-00000000000000000000000000000000-b7ad6b7169203331-01");
    await waitForState(account, plain, "succeeded");
    await waitForState(account, invalid, "succeeded");
    const traces = await Promise.all(
      [plain, invalid].map(async (id) => parseTraceparent((await getTask(account, id)).traceparent)),
    );
    expect(traces.every((t) => t !== undefined && t.flags === "01")).toBe(true);
    expect(traces[0]?.traceId).not.toBe(traces[1]?.traceId);
    const log = await vi.waitFor(async () => {
      const entries = await received(call);
      expect(entries.length).toBe(2);
      return entries;
    });
    const callTraceIds = log.map((r) => parseTraceparent(r.headers.traceparent)?.traceId).sort();
    expect(callTraceIds).toEqual(traces.map((t) => t?.traceId).sort());
  });

  it("a chained function's task continues the trace of the task that fed it", async () => {
    const account = await createAccount("trace-chain");
    const call = uniqueId("call");
    await putFunction(account, "second", { target: { type: "url", url: `${receiver()}/hook/${call}` } });
    await putFunction(account, "first", {
      target: { type: "service", service: "DEMO_FN" },
      destinations: { onSuccess: { type: "function", name: "second" } },
    });
    await submitWith(account, "first", SENT);
    const log = await vi.waitFor(
      async () => {
        const entries = await received(call);
        expect(entries.length).toBe(1);
        return entries;
      },
      { timeout: 15_000 },
    );
    expect(parseTraceparent(log[0]?.headers.traceparent)?.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
  });
});
