import { SELF } from "cloudflare:test";
import { describe, it } from "vitest";
import { BASE, createAccount, demoTarget, putFunction, tenant } from "./helpers";

async function tryIt(label: string, f: () => Promise<Response>) {
  try { const r = await f(); console.log(label, r.status, r.headers.get("content-type"), (await r.text()).slice(0, 160)); }
  catch (e) { console.log(label, "THROW", String(e).slice(0, 200)); }
}

describe("exp", () => {
  it("misc", async () => {
    const a = await createAccount("fz");
    await putFunction(a, "f", { target: demoTarget });
    await tryIt("latin1", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "é\u00ff\u0080" } }));
    await tryIt("euro", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "€" } }));
    await tryIt("ctl", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "a\u0001b" } }));
    await tryIt("nul", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "a\u0000b" } }));
    await tryIt("del", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "a\u007fb" } }));
    await tryIt("huge header", () => SELF.fetch(`${BASE}/`, { headers: { "x-a": "y".repeat(200000) } }));
    await tryIt("long url", () => SELF.fetch(`${BASE}/` + "a".repeat(200000)));
    for (const m of ["PATCH", "OPTIONS", "HEAD", "PROPFIND", "patch", "TRACE", "CONNECT", "QUERY"]) await tryIt("m " + m, () => SELF.fetch(`${BASE}/v1/functions`, { method: m }));
    for (const p of ["/v1/functions/a%2Fb", "/v1/functions/%2e%2e", "/v1/functions/fz%20x", "/v1/functions/%66", "/v1/functions/f/", "/v1/functions/F", "/v1/functions/f%00", "/v1/FUNCTIONS/f", "/v1/functions/f?x=%ZZ", "/v1/functions/%ZZ", "/v1/functions/%C3%28"]) {
      await tryIt("get " + p, () => tenant(a, p));
      await tryIt("put " + p, () => tenant(a, p, { method: "PUT", body: JSON.stringify({ target: demoTarget }) }));
    }
    await tryIt("lower bearer", () => SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: "bearer " + a.apiKey } }));
    await tryIt("complete no token", () => SELF.fetch(`${BASE}/v1/tasks/tsk_x/complete`, { method: "POST", body: "{}" }));
    await tryIt("list", () => tenant(a, "/v1/functions?limit=1000"));
    await tryIt("get accounts", () => SELF.fetch(`${BASE}/v1/accounts?limit=2`, { headers: { authorization: "Bearer test-admin-token" } }));
    await tryIt("rotate", () => tenant(a, "/v1/account/webhook-secret:rotate", { method: "POST" }));
    await tryIt("rotate enc", () => tenant(a, "/v1/account/webhook-secret%3Arotate", { method: "POST" }));
    await tryIt("batch enc", () => tenant(a, "/v1/functions/f/tasks%3Abatch", { method: "POST", body: '[{"payload":1}]' }));
    await tryIt("dup", () => tenant(a, "/v1/functions/f/tasks", { method: "POST", body: "x", headers: [["idempotency-key", "a"], ["idempotency-key", "b"]] as unknown as HeadersInit }));
    await tryIt("cl junk", () => tenant(a, "/v1/functions/f/tasks", { method: "POST", body: "x", headers: { "content-length": "abc" } }));
    await tryIt("cl neg", () => tenant(a, "/v1/functions/f/tasks", { method: "POST", body: "x", headers: { "content-length": "0" } }));
    await tryIt("stream+get", () => SELF.fetch(`${BASE}/`, { method: "GET", body: "x" }));
    await tryIt("delete with body", () => tenant(a, "/v1/functions/zz", { method: "DELETE", body: "x" }));
  }, 120000);
});
