import { describe, expect, it } from "vitest";
import { toBase64Url, utf8 } from "../../src/encoding";
import {
  asyncTask,
  blobKeys,
  countedBody,
  createAccount,
  demoTarget,
  expectProblem,
  getTask,
  putFunction,
  type TestAccount,
  tenant,
} from "./helpers";

function callback(id: string, what: "complete" | "heartbeat", token: string | undefined, body?: BodyInit) {
  return tenant({ apiKey: "" } as TestAccount, `/v1/tasks/${id}/${what}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token !== undefined ? { "sluice-callback-token": token } : {}) },
    ...(body === undefined ? {} : { body }),
  });
}

async function blobCount(): Promise<number> {
  return (await blobKeys()).length;
}

/** A 100 KiB result: above the inline limit, so storing it would write an R2 object. */
const bigResult = () => JSON.stringify({ ok: true, result: { blob: "x".repeat(100 * 1024) } });

describe("callback API as a stranger sees it", () => {
  it("a missing, malformed, wrong or foreign token and an ended task all answer the same 404, storing nothing", async () => {
    const account = await createAccount();
    const other = await createAccount();
    await putFunction(account, "long", { target: demoTarget, timeoutMs: 10_000 });
    const { id, token } = await asyncTask(account, "long");
    const before = await blobCount();
    const secret = token.slice(token.indexOf(".") + 1);
    const refusals = [
      undefined,
      "",
      "garbage",
      `cb_${account.id}.${"A".repeat(32)}`,
      `cb_${other.id}.${secret}`,
      token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"),
    ];
    const bodies = new Set<string>();
    for (const candidate of refusals) {
      for (const what of ["complete", "heartbeat"] as const) {
        const response = await callback(id, what, candidate, what === "complete" ? bigResult() : undefined);
        const body = await expectProblem(response, 404, "not-found");
        bodies.add(JSON.stringify(body));
      }
    }
    expect(await blobCount()).toBe(before);
    expect((await getTask(account, id)).state).toBe("running");

    const done = await callback(id, "complete", token, bigResult());
    expect(done.status).toBe(200);
    const finished = await getTask(account, id);
    expect(finished.state).toBe("succeeded");
    expect(finished.resultUrl).toBeDefined();
    const stored = await blobCount();
    expect(stored).toBe(before + 1);

    // The same token after the end: the same 404, and the first result is neither overwritten nor deleted.
    const late = await callback(
      id,
      "complete",
      token,
      JSON.stringify({ ok: true, result: { blob: "y".repeat(100 * 1024) } }),
    );
    bodies.add(JSON.stringify(await expectProblem(late, 404, "not-found")));
    expect(await blobCount()).toBe(stored);
    const result = await tenant(account, `/v1/tasks/${id}/result`);
    expect(((await result.json()) as { blob: string }).blob.startsWith("x")).toBe(true);

    // Unknown id, forged id naming an invented shard: the same answer again.
    const forged = `tsk_${toBase64Url(utf8("evil:1"))}.${toBase64Url(new Uint8Array(16))}.${toBase64Url(new Uint8Array(12))}`;
    for (const bogus of [forged, "tsk_nope", `${id.slice(0, -2)}AA`]) {
      bodies.add(
        JSON.stringify(await expectProblem(await callback(bogus, "complete", token, bigResult()), 404, "not-found")),
      );
    }
    expect(bodies.size).toBe(1);
    expect(await blobCount()).toBe(stored);
  });

  it("a refused callback's body is not read: a declared 40 MB body is answered 404 at once", async () => {
    const account = await createAccount();
    await putFunction(account, "long-big", { target: demoTarget, timeoutMs: 10_000 });
    const { id } = await asyncTask(account, "long-big");
    const { body, pulled } = countedBody(40);
    const response = await callback(id, "complete", `cb_${account.id}.${"Z".repeat(32)}`, body);
    await expectProblem(response, 404, "not-found");
    expect(pulled()).toBeLessThan(10);
  });

  it("a completion body over 10 MiB is refused with 413 while streaming, for a valid token", async () => {
    const account = await createAccount();
    await putFunction(account, "long-cap", { target: demoTarget, timeoutMs: 10_000 });
    const { id, token } = await asyncTask(account, "long-cap");
    const { body, pulled } = countedBody(40);
    const before = await blobCount();
    await expectProblem(await callback(id, "complete", token, body), 413, "payload-too-large");
    expect(pulled()).toBeLessThan(20);
    expect(await blobCount()).toBe(before);
    expect((await getTask(account, id)).state).toBe("running");
  });
});
