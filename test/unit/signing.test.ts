import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, signWebhook } from "../../src/signing";

const enc = new TextEncoder();
const nowSeconds = () => Math.floor(Date.now() / 1000);

function headersOf(h: { "webhook-id": string; "webhook-timestamp": string; "webhook-signature": string }) {
  return { ...h } as Record<string, string>;
}

describe("generateWebhookSecret", () => {
  it("is whsec_ followed by the standard base64 of 32 random bytes", () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice("whsec_".length), "base64")).toHaveLength(32);
  });

  it("is different every time", () => {
    const secrets = new Set(Array.from({ length: 100 }, () => generateWebhookSecret()));
    expect(secrets.size).toBe(100);
  });

  it("is accepted by the standardwebhooks library", () => {
    expect(() => new Webhook(generateWebhookSecret())).not.toThrow();
  });
});

describe("signWebhook", () => {
  const body = JSON.stringify({ type: "task.succeeded", data: { id: "tsk_abc", result: { ok: true } } });

  it("produces headers that standardwebhooks verifies", async () => {
    const secret = generateWebhookSecret();
    const ts = nowSeconds();
    const headers = await signWebhook([secret], "msg_1", ts, enc.encode(body));
    expect(headers["webhook-id"]).toBe("msg_1");
    expect(headers["webhook-timestamp"]).toBe(String(ts));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, headersOf(headers))).toEqual(JSON.parse(body));
  });

  it("matches the signature the library itself computes", async () => {
    const secret = generateWebhookSecret();
    const ts = nowSeconds();
    const headers = await signWebhook([secret], "msg_same", ts, enc.encode(body));
    expect(headers["webhook-signature"]).toBe(new Webhook(secret).sign("msg_same", new Date(ts * 1000), body));
  });

  it("signs `<id>.<timestamp>.<body>` with HMAC-SHA256 keyed by the secret's base64 bytes (known vector)", async () => {
    const keyBytes = Buffer.alloc(32, 7);
    const secret = `whsec_${keyBytes.toString("base64")}`;
    const headers = await signWebhook([secret], "msg_2p5", 1_700_000_000, enc.encode('{"a":1}'));
    const expected = createHmac("sha256", keyBytes).update('msg_2p5.1700000000.{"a":1}').digest("base64");
    expect(headers["webhook-signature"]).toBe(`v1,${expected}`);
  });

  it("accepts a secret without the whsec_ prefix as the same key", async () => {
    const secret = generateWebhookSecret();
    const bare = secret.slice("whsec_".length);
    const a = await signWebhook([secret], "msg_3", 1_700_000_000, enc.encode(body));
    const b = await signWebhook([bare], "msg_3", 1_700_000_000, enc.encode(body));
    expect(b).toEqual(a);
  });

  it("signs arbitrary bytes, byte for byte", async () => {
    const secret = generateWebhookSecret();
    const bytes = new Uint8Array([0, 255, 1, 254, 0x7b, 0x7d]);
    const ts = nowSeconds();
    const headers = await signWebhook([secret], "msg_bin", ts, bytes);
    const keyBytes = Buffer.from(secret.slice(6), "base64");
    const expected = createHmac("sha256", keyBytes)
      .update(Buffer.concat([Buffer.from(`msg_bin.${ts}.`), Buffer.from(bytes)]))
      .digest("base64");
    expect(headers["webhook-signature"]).toBe(`v1,${expected}`);
  });

  it("with two secrets carries both signatures, and each secret verifies alone", async () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const ts = nowSeconds();
    const headers = await signWebhook([oldSecret, newSecret], "msg_rot", ts, enc.encode(body));
    const signatures = headers["webhook-signature"].split(" ");
    expect(signatures).toHaveLength(2);
    for (const s of signatures) expect(s).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(signatures[0]).not.toBe(signatures[1]);

    const onlyOld = await signWebhook([oldSecret], "msg_rot", ts, enc.encode(body));
    const onlyNew = await signWebhook([newSecret], "msg_rot", ts, enc.encode(body));
    expect(signatures).toEqual([onlyOld["webhook-signature"], onlyNew["webhook-signature"]]);

    expect(new Webhook(oldSecret).verify(body, headersOf(headers))).toEqual(JSON.parse(body));
    expect(new Webhook(newSecret).verify(body, headersOf(headers))).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headersOf(headers))).toThrow();
  });

  it("a tampered body fails verification", async () => {
    const secret = generateWebhookSecret();
    const headers = await signWebhook([secret], "msg_4", nowSeconds(), enc.encode(body));
    const wh = new Webhook(secret);
    expect(() => wh.verify(body.replace("true", "false"), headersOf(headers))).toThrow();
    expect(() => wh.verify(`${body} `, headersOf(headers))).toThrow();
    expect(() => wh.verify(body, headersOf(headers))).not.toThrow();
  });

  it("a tampered body fails verification for every secret of a rotation", async () => {
    const secrets = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = await signWebhook(secrets, "msg_5", nowSeconds(), enc.encode(body));
    const tampered = JSON.stringify({ ...JSON.parse(body), type: "task.failed" });
    for (const s of secrets) expect(() => new Webhook(s).verify(tampered, headersOf(headers))).toThrow();
  });

  it("a changed webhook-id or timestamp fails verification", async () => {
    const secret = generateWebhookSecret();
    const ts = nowSeconds();
    const headers = await signWebhook([secret], "msg_6", ts, enc.encode(body));
    const wh = new Webhook(secret);
    expect(() => wh.verify(body, { ...headersOf(headers), "webhook-id": "msg_7" })).toThrow();
    expect(() => wh.verify(body, { ...headersOf(headers), "webhook-timestamp": String(ts - 1) })).toThrow();
  });

  it("the wrong secret fails verification", async () => {
    const headers = await signWebhook([generateWebhookSecret()], "msg_8", nowSeconds(), enc.encode(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headersOf(headers))).toThrow();
  });

  it("with no secrets produces an empty signature header (never a valid one)", async () => {
    const headers = await signWebhook([], "msg_9", nowSeconds(), enc.encode(body));
    expect(headers["webhook-signature"]).toBe("");
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headersOf(headers))).toThrow();
  });
});
