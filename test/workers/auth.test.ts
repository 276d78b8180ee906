import { env, SELF } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/placement";
import { PRINCIPAL_TTL_MS } from "../../workers/platform/registry-client";
import {
  ADMIN_TOKEN,
  admin,
  BASE,
  createAccount,
  demoTarget,
  expectProblem,
  putFunction,
  submit,
  tenant,
  uniqueId,
  waitForState,
} from "./helpers";

describe("admin API", () => {
  it("refuses a missing or wrong admin token with 401 problem+json", async () => {
    await expectProblem(await SELF.fetch(`${BASE}/v1/accounts`, { method: "POST", body: "{}" }), 401, "unauthorized");
    await expectProblem(
      await SELF.fetch(`${BASE}/v1/accounts`, {
        method: "POST",
        body: "{}",
        headers: { authorization: "Bearer nope" },
      }),
      401,
      "unauthorized",
    );
  });

  it("creates an account once: key shown once (sk_), whsec_ secret, 409 on a repeat, no secrets on GET", async () => {
    const id = uniqueId("solo");
    const created = await admin("/v1/accounts", {
      method: "POST",
      body: JSON.stringify({ id, limits: { submitPerSecond: 50 } }),
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; apiKey: string; webhookSecret: string; keyPrefix: string };
    expect(body.id).toBe(id);
    expect(body.apiKey).toMatch(/^sk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(body.apiKey.startsWith(body.keyPrefix)).toBe(true);
    expect(body.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{44}$/);
    const again = await admin("/v1/accounts", { method: "POST", body: JSON.stringify({ id }) });
    await expectProblem(again, 409, "conflict");
    const read = await admin(`/v1/accounts/${id}`);
    expect(read.status).toBe(200);
    const text = await read.text();
    expect(text).not.toContain(body.apiKey);
    expect(text).not.toContain(body.webhookSecret);
    expect(JSON.parse(text)).toMatchObject({
      id,
      limits: { submitPerSecond: 50 },
      keys: [{ keyPrefix: body.keyPrefix, revokedAt: null }],
    });
  });

  it("validates account ids and limits field by field", async () => {
    const response = await admin("/v1/accounts", {
      method: "POST",
      body: JSON.stringify({ id: "Bad_Id", limits: { submitPerSecond: -1 } }),
    });
    const problem = await expectProblem(response, 400, "validation");
    const paths = (problem.errors as { path: string }[]).map((e) => e.path).sort();
    expect(paths).toEqual(["id", "limits.submitPerSecond"]);
  });

  it("issues further keys and revokes one; the revoked key stops working", async () => {
    const account = await createAccount();
    const extra = await admin(`/v1/accounts/${account.id}/keys`, { method: "POST" });
    expect(extra.status).toBe(201);
    const { apiKey, keyPrefix } = (await extra.json()) as { apiKey: string; keyPrefix: string };
    const second = { ...account, apiKey };
    expect((await tenant(second, "/v1/functions")).status).toBe(200);
    const revoked = await admin(`/v1/accounts/${account.id}/keys/${keyPrefix}`, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    // Refused from the very next request: the isolate that revoked it forgets the key at once.
    await expectProblem(await tenant(second, "/v1/functions"), 401, "unauthorized");
    expect((await tenant(account, "/v1/functions")).status).toBe(200);
    await expectProblem(
      await admin(`/v1/accounts/${account.id}/keys/${keyPrefix}`, { method: "DELETE" }),
      404,
      "not-found",
    );
    await expectProblem(await admin(`/v1/accounts/nobody-here/keys`, { method: "POST" }), 404, "not-found");
  });
});

describe("account limits", () => {
  it("PATCH /v1/accounts/:id replaces the limits; bad limits are a 400 naming the field; unknown is a 404", async () => {
    const account = await createAccount();
    const patched = await admin(`/v1/accounts/${account.id}`, {
      method: "PATCH",
      body: JSON.stringify({ limits: { submitPerSecond: 5, maxConcurrency: 20 } }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: account.id, limits: { submitPerSecond: 5, maxConcurrency: 20 } });
    const read = (await (await admin(`/v1/accounts/${account.id}`)).json()) as { limits: unknown };
    expect(read.limits).toEqual({ submitPerSecond: 5, maxConcurrency: 20 });
    const bad = await expectProblem(
      await admin(`/v1/accounts/${account.id}`, {
        method: "PATCH",
        body: JSON.stringify({ limits: { maxConcurrency: 0 } }),
      }),
      400,
      "validation",
    );
    expect(bad.errors).toEqual([expect.objectContaining({ path: "limits.maxConcurrency" })]);
    await expectProblem(
      await admin(`/v1/accounts/nobody-here`, { method: "PATCH", body: JSON.stringify({ limits: {} }) }),
      404,
      "not-found",
    );
    await expectProblem(
      await SELF.fetch(`${BASE}/v1/accounts/${account.id}`, {
        method: "PATCH",
        body: "{}",
        headers: { authorization: `Bearer ${account.apiKey}` },
      }),
      401,
      "unauthorized",
    );
  });
});

describe("revocation seen from another isolate", () => {
  it("a key revoked behind this isolate's back (straight in the registry) is refused within PRINCIPAL_TTL_MS", async () => {
    const account = await createAccount();
    const extra = (await (await admin(`/v1/accounts/${account.id}/keys`, { method: "POST" })).json()) as {
      apiKey: string;
      keyPrefix: string;
    };
    const second = { ...account, apiKey: extra.apiKey };
    expect((await tenant(second, "/v1/functions")).status).toBe(200);
    // As another isolate's admin call would: this isolate's cache is not told.
    expect(await env.REGISTRY.getByName(REGISTRY_NAME).revokeKey(account.id, extra.keyPrefix)).toBe(true);
    const revokedAt = Date.now();
    await vi.waitFor(async () => expect((await tenant(second, "/v1/functions")).status).toBe(401), {
      timeout: 3000,
      interval: 50,
    });
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(PRINCIPAL_TTL_MS + 500);
    expect((await tenant(account, "/v1/functions")).status).toBe(200);
  });
});

describe("401 texts say what is wrong", () => {
  const detail = async (response: Response) => (await expectProblem(response, 401, "unauthorized")).detail as string;

  it("tells a missing header, a malformed one, the admin token on a tenant route and a bad key apart", async () => {
    const account = await createAccount();
    const texts = [
      await detail(await SELF.fetch(`${BASE}/v1/functions`)),
      await detail(await SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: "Basic abc" } })),
      await detail(await SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })),
      await detail(await SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: "Bearer sk_00000000_nope" } })),
      await detail(
        await SELF.fetch(`${BASE}/v1/accounts/${account.id}`, {
          headers: { authorization: `Bearer ${account.apiKey}` },
        }),
      ),
    ];
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts[2]).toMatch(/admin token/);
    expect(texts[4]).toMatch(/tenant API key/);
  });

  it("GET /v1/accounts is the admin's paginated account list, not a tenant 401", async () => {
    const ids = [(await createAccount("list")).id, (await createAccount("list")).id, (await createAccount("list")).id];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await admin(`/v1/accounts?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { accounts: { id: string }[]; nextCursor: string | null };
      expect(page.accounts.length).toBeLessThanOrEqual(2);
      expect(JSON.stringify(page)).not.toMatch(/sk_|whsec_/);
      seen.push(...page.accounts.map((a) => a.id));
      cursor = page.nextCursor;
    } while (cursor);
    for (const id of ids) expect(seen).toContain(id);
    expect(new Set(seen).size).toBe(seen.length);
    await expectProblem(await admin("/v1/accounts?cursor=bogus"), 400, "validation");
  });
});

describe("tenant isolation", () => {
  it("refuses a missing or unknown API key", async () => {
    await expectProblem(await SELF.fetch(`${BASE}/v1/functions`), 401, "unauthorized");
    await expectProblem(
      await SELF.fetch(`${BASE}/v1/functions`, { headers: { authorization: "Bearer sk_00000000_nottherightkey" } }),
      401,
      "unauthorized",
    );
  });

  it("another account's task and function answer 404, exactly like ones that do not exist", async () => {
    const owner = await createAccount("owner");
    const other = await createAccount("other");
    await putFunction(owner, "private", { target: demoTarget });
    const id = await submit(owner, "private", JSON.stringify({ echo: "secret" }));
    await waitForState(owner, id, "succeeded");
    await expectProblem(await tenant(other, `/v1/tasks/${id}`), 404, "not-found");
    await expectProblem(await tenant(other, `/v1/tasks/${id}/result`), 404, "not-found");
    await expectProblem(await tenant(other, "/v1/functions/private"), 404, "not-found");
    await expectProblem(
      await tenant(other, "/v1/functions/private/tasks", { method: "POST", body: "{}" }),
      404,
      "not-found",
    );
    const list = (await (await tenant(other, "/v1/functions")).json()) as { functions: unknown[] };
    expect(list.functions).toEqual([]);
    // The other account can use the same function name without touching the owner's.
    await putFunction(other, "private", { target: demoTarget, timeoutMs: 1234 });
    const mine = (await (await tenant(owner, "/v1/functions/private")).json()) as { timeoutMs: number };
    expect(mine.timeoutMs).toBe(30_000);
  });

  it("a forged or tampered task id is a 404", async () => {
    const account = await createAccount();
    await putFunction(account, "f", { target: demoTarget });
    const id = await submit(account, "f", JSON.stringify({ echo: 1 }));
    const tampered = id.slice(0, -2) + (id.endsWith("A") ? "BB" : "AA");
    await expectProblem(await tenant(account, `/v1/tasks/${tampered}`), 404, "not-found");
    await expectProblem(await tenant(account, "/v1/tasks/tsk_bm9wZQ.AAAA.AAAA"), 404, "not-found");
    await expectProblem(await tenant(account, "/v1/tasks/anything"), 404, "not-found");
  });
});
