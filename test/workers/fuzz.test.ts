import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, createAccount, demoTarget, putFunction, tenant, submit } from "./helpers";

function counted(total: number, chunk = 65536) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) { controller.close(); return; }
      const n = Math.min(chunk, total - pulled);
      pulled += n;
      controller.enqueue(new Uint8Array(n).fill(120));
    },
  });
  return { stream, pulled: () => pulled };
}

describe("exp", () => {
  it("timings", async () => {
    const a = await createAccount("fz");
    await putFunction(a, "f", { target: demoTarget });
    let t = Date.now();
    for (let i = 0; i < 100; i++) await SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: "Bearer bogus" } });
    console.log("100 refused", Date.now() - t);
    t = Date.now();
    for (let i = 0; i < 100; i++) await tenant(a, `/v1/functions/f/tasks?limit=1000`);
    console.log("100 list", Date.now() - t);
    t = Date.now();
    for (let i = 0; i < 100; i++) await env.BLOBS.list();
    console.log("100 r2 list", Date.now() - t);
    t = Date.now();
    const big = new Uint8Array(10 * 1048576 + 1);
    for (let i = 0; i < 5; i++) await (await tenant(a, `/v1/functions/f/tasks:batch`, { method: "POST", body: big })).text();
    console.log("5x10MiB", Date.now() - t);
    t = Date.now();
    for (const total of [2 * 1048576, 8 * 1048576]) {
      const c = counted(total);
      const r = await tenant(a, `/v1/functions/f/tasks`, { method: "POST", body: c.stream, duplex: "half" } as RequestInit);
      console.log("chunked", total, r.status, r.headers.get("content-type"), await r.text(), "pulled", c.pulled());
      await new Promise((res) => setTimeout(res, 200));
      console.log("pulled later", c.pulled());
    }
    console.log("chunked time", Date.now() - t);
    for (const n of [257, 300, 5000, 70000]) {
      const r = await tenant(a, `/v1/functions/f/tasks`, { method: "POST", body: "{}", headers: { "content-type": "application/" + "x".repeat(n) } });
      console.log("ct", n, r.status, (await r.text()).slice(0, 200));
    }
    const r = await tenant(a, `/v1/functions/f/tasks`, { method: "POST", body: counted(100).stream, headers: { "content-length": "999999999" }, duplex: "half" } as RequestInit).catch((e) => String(e));
    console.log("lying CL", typeof r === "string" ? r : r.status);
    const r2 = await tenant(a, `/v1/functions/f/tasks`, { method: "POST", body: "abc", headers: { "content-length": "999999999" } }).catch((e) => String(e));
    console.log("lying CL2", typeof r2 === "string" ? r2 : [r2.status, await r2.text()]);
    for (const p of ["/v1/functions/%E0%A4%A/tasks", "/v1/functions//tasks", "/v1/tasks/%", "/" + "a".repeat(20000), "/v1/functions/é"]) {
      const r3 = await tenant(a, p);
      console.log("path", p.slice(0, 40), r3.status, (await r3.text()).slice(0, 150));
    }
    const h = await SELF.fetch(`${BASE}/v1/functions`, { method: "HEAD" });
    console.log("HEAD", h.status, h.headers.get("content-type"), await h.text());
    const o = await SELF.fetch(`${BASE}/v1/functions`, { method: "FOO" });
    console.log("FOO", o.status, await o.text());
    try { await SELF.fetch(`${BASE}/`, { headers: { "x-a": "é\u00ff" } }); console.log("latin1 ok"); } catch (e) { console.log("latin1", String(e)); }
    try { await SELF.fetch(`${BASE}/`, { headers: { "x-a": "€" } }); console.log("u ok"); } catch (e) { console.log("u", String(e)); }
    const hc = await SELF.fetch(`${BASE}/`, { headers: { "x-a": "y".repeat(200000) } });
    console.log("huge header", hc.status);
  }, 120000);
});
