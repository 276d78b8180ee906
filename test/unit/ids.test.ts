import { describe, expect, it } from "vitest";
import { mintDerivedTaskId, mintTaskId, verifyTaskId } from "../../src/ids";

const key = new Uint8Array(32).map((_, i) => i + 1);
const otherKey = new Uint8Array(32).map((_, i) => 200 - i);
const ACCOUNT = "acme";
const NOW = 1_700_000_000_123;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ID_SHAPE = /^tsk_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}$/;

/** Bytes a base64url part decodes to, with Node's decoder (independent of src/encoding.ts). */
function decoded(part: string): string {
  return Buffer.from(part, "base64url").toString("hex");
}

function splitId(id: string): [string, string, string] {
  const parts = id.slice(4).split(".");
  expect(parts).toHaveLength(3);
  return parts as [string, string, string];
}

/** Every id obtained by replacing one character of part `index` with another base64url character. */
function singleCharTampers(id: string, index: 0 | 1 | 2): { id: string; sameBytes: boolean }[] {
  const parts = splitId(id);
  const part = parts[index];
  const out: { id: string; sameBytes: boolean }[] = [];
  for (let pos = 0; pos < part.length; pos++) {
    for (const ch of B64URL) {
      if (ch === part[pos]) continue;
      const tampered = part.slice(0, pos) + ch + part.slice(pos + 1);
      const next = [...parts];
      next[index] = tampered;
      out.push({ id: `tsk_${next.join(".")}`, sameBytes: decoded(tampered) === decoded(part) });
    }
  }
  return out;
}

describe("mintTaskId / verifyTaskId", () => {
  it("mints ids of the documented shape", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    expect(id).toMatch(ID_SHAPE);
    const [shardPart] = splitId(id);
    expect(Buffer.from(shardPart, "base64url").toString("utf8")).toBe("shared:7");
  });

  it("roundtrips, decoding the shard and createdAt", async () => {
    for (const shard of ["shared:0", "shared:15", "account:acme", "dedicated:acme:resize-images", "dedicated:ä-ü:✓"]) {
      const id = await mintTaskId(key, ACCOUNT, shard, NOW);
      expect(await verifyTaskId(key, ACCOUNT, id)).toEqual({ shard, createdAt: NOW });
    }
  });

  it("encodes createdAt exactly across the 48-bit range", async () => {
    for (const createdAt of [0, 1, 255, 256, 65_535, 1_700_000_000_000, Date.UTC(2100, 0, 1), 2 ** 48 - 1]) {
      const id = await mintTaskId(key, ACCOUNT, "shared:1", createdAt);
      expect((await verifyTaskId(key, ACCOUNT, id))?.createdAt).toBe(createdAt);
    }
  });

  it("defaults createdAt to the current time", async () => {
    const before = Date.now();
    const id = await mintTaskId(key, ACCOUNT, "shared:1");
    const after = Date.now();
    const parts = await verifyTaskId(key, ACCOUNT, id);
    expect(parts?.createdAt).toBeGreaterThanOrEqual(before);
    expect(parts?.createdAt).toBeLessThanOrEqual(after);
  });

  it("mints a different, unguessable id every time, even for the same shard and millisecond", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add(await mintTaskId(key, ACCOUNT, "shared:3", NOW));
    expect(ids.size).toBe(200);
  });

  it("does not verify for another account", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    expect(await verifyTaskId(key, "acme2", id)).toBeUndefined();
    expect(await verifyTaskId(key, "ACME", id)).toBeUndefined();
    expect(await verifyTaskId(key, "", id)).toBeUndefined();
  });

  it("does not verify an id of another account pointed at this one's shard", async () => {
    const foreign = await mintTaskId(key, "globex", "account:acme", NOW);
    expect(await verifyTaskId(key, ACCOUNT, foreign)).toBeUndefined();
    expect(await verifyTaskId(key, "globex", foreign)).toEqual({ shard: "account:acme", createdAt: NOW });
  });

  it("does not verify with a different key", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    expect(await verifyTaskId(otherKey, ACCOUNT, id)).toBeUndefined();
    const oneBitOff = key.slice();
    oneBitOff[0] = (oneBitOff[0] ?? 0) ^ 1;
    expect(await verifyTaskId(oneBitOff, ACCOUNT, id)).toBeUndefined();
  });

  it("does not verify when the shard part is swapped for another shard (MAC covers the shard)", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    const [, nonce, mac] = splitId(id);
    const moved = `tsk_${Buffer.from("shared:8").toString("base64url")}.${nonce}.${mac}`;
    expect(await verifyTaskId(key, ACCOUNT, moved)).toBeUndefined();
  });

  it("does not verify when parts are spliced from two valid ids", async () => {
    const a = splitId(await mintTaskId(key, ACCOUNT, "shared:7", NOW));
    const b = splitId(await mintTaskId(key, ACCOUNT, "shared:7", NOW));
    expect(await verifyTaskId(key, ACCOUNT, `tsk_${a[0]}.${a[1]}.${b[2]}`)).toBeUndefined();
    expect(await verifyTaskId(key, ACCOUNT, `tsk_${a[0]}.${b[1]}.${a[2]}`)).toBeUndefined();
  });

  describe("single-character tampering that changes the encoded bytes", () => {
    // "account:acme" is 12 bytes (16 base64url characters, no spare bits); "shared:7" is 8 bytes (11 characters).
    for (const shard of ["account:acme", "shared:7"]) {
      for (const [index, name] of [
        [0, "shard"],
        [1, "timestamp+nonce"],
        [2, "MAC"],
      ] as const) {
        it(`of the ${name} part (shard ${shard}) never verifies`, async () => {
          const id = await mintTaskId(key, ACCOUNT, shard, NOW);
          const tampers = singleCharTampers(id, index).filter((t) => !t.sameBytes);
          expect(tampers.length).toBeGreaterThan(500);
          const accepted: string[] = [];
          for (const t of tampers) {
            if ((await verifyTaskId(key, ACCOUNT, t.id)) !== undefined) accepted.push(t.id);
          }
          expect(accepted).toEqual([]);
        });
      }
    }

    it("with characters outside the base64url alphabet never verifies", async () => {
      const id = await mintTaskId(key, ACCOUNT, "account:acme", NOW);
      for (let pos = 4; pos < id.length; pos++) {
        if (id[pos] === ".") continue;
        for (const ch of ["+", "/", "=", "!", " ", "é", "%"]) {
          const tampered = id.slice(0, pos) + ch + id.slice(pos + 1);
          expect(await verifyTaskId(key, ACCOUNT, tampered)).toBeUndefined();
        }
      }
    });
  });

  // BUG: src/ids.ts verifyTaskId (lines 52-55) decodes the parts with a forgiving base64 decoder (atob ignores the
  // unused low bits of the last character) and never checks that the id is the canonical encoding of what it decodes
  // to. The nonce part is 16 bytes in 22 characters, so its last character carries 4 unused bits: replacing it with
  // any of 15 other characters yields a different id string that still verifies (same for a shard like "shared:7",
  // 8 bytes in 11 characters, 2 unused bits). Ids are therefore malleable: strings that were never minted are
  // accepted as authentic. Expected: undefined for every single-character tamper; actual: the tampered id verifies
  // with the original { shard, createdAt }. (Fix: re-encode the decoded parts and compare with the input.)
  it("rejects single-character tampers that only flip the unused bits of a part's last character", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    const tampers = [...singleCharTampers(id, 0), ...singleCharTampers(id, 1)].filter((t) => t.sameBytes);
    expect(tampers.length).toBeGreaterThan(0);
    for (const t of tampers) expect(await verifyTaskId(key, ACCOUNT, t.id), t.id).toBeUndefined();
  });

  it("rejects a wrong or missing prefix", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    const body = id.slice(4);
    for (const prefix of ["", "TSK_", "tsk-", "tsk", "task_", "sk_", " tsk_", "tsk__"]) {
      expect(await verifyTaskId(key, ACCOUNT, prefix + body), prefix).toBeUndefined();
    }
  });

  it("rejects a wrong number of parts", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    const [shard, nonce, mac] = splitId(id);
    for (const bad of [
      `tsk_${shard}.${nonce}`,
      `tsk_${shard}.${nonce}.${mac}.`,
      `tsk_${shard}.${nonce}.${mac}.${mac}`,
      `tsk_.${shard}.${nonce}.${mac}`,
      `tsk_${shard}${nonce}${mac}`,
    ]) {
      expect(await verifyTaskId(key, ACCOUNT, bad), bad).toBeUndefined();
    }
  });

  it("rejects truncated or extended parts", async () => {
    const id = await mintTaskId(key, ACCOUNT, "account:acme", NOW);
    const [shard, nonce, mac] = splitId(id);
    for (const bad of [
      `tsk_${shard}.${nonce.slice(0, -1)}.${mac}`,
      `tsk_${shard}.${nonce}A.${mac}`,
      `tsk_${shard}.${nonce}AAAA.${mac}`,
      `tsk_${shard}.${nonce}.${mac.slice(0, -1)}`,
      `tsk_${shard}.${nonce}.${mac}AAAA`,
      `tsk_${shard}.${nonce}.${mac.slice(0, -4)}`,
      `tsk_${shard.slice(0, -4)}.${nonce}.${mac}`,
      `tsk_.${nonce}.${mac}`,
      `tsk_${shard}=.${nonce}.${mac}`,
    ]) {
      expect(await verifyTaskId(key, ACCOUNT, bad), bad).toBeUndefined();
    }
  });

  it("rejects garbage", async () => {
    for (const garbage of [
      "",
      "tsk_",
      "tsk_..",
      "tsk_a.b.c",
      "tsk_%%%.%%%.%%%",
      "tsk_AAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA",
      "not an id",
      "../../etc/passwd",
      "tsk_\u0000.\u0000.\u0000",
      "12345",
    ]) {
      expect(await verifyTaskId(key, ACCOUNT, garbage), JSON.stringify(garbage)).toBeUndefined();
    }
  });

  it("rejects a shard part that is not valid UTF-8", async () => {
    const id = await mintTaskId(key, ACCOUNT, "shared:7", NOW);
    const [, nonce, mac] = splitId(id);
    const invalidUtf8 = Buffer.from([0xff, 0xfe, 0xc3]).toString("base64url");
    expect(await verifyTaskId(key, ACCOUNT, `tsk_${invalidUtf8}.${nonce}.${mac}`)).toBeUndefined();
  });

  it("rejects overly long input, even if it was minted with a valid MAC", async () => {
    const longShard = `dedicated:${"a".repeat(300)}`;
    const longId = await mintTaskId(key, ACCOUNT, longShard, NOW);
    expect(longId.length).toBeGreaterThan(400);
    expect(await verifyTaskId(key, ACCOUNT, longId)).toBeUndefined();
    expect(await verifyTaskId(key, ACCOUNT, `tsk_${"A".repeat(100_000)}.x.y`)).toBeUndefined();
    expect(await verifyTaskId(key, ACCOUNT, "tsk_" + "A".repeat(1_000_000))).toBeUndefined();
  });

  it("accepts an id just under the length limit", async () => {
    // 400 - "tsk_" - "." 22 "." 16 = 356 characters for the shard part, i.e. 267 bytes (356 = 4 * 89).
    const shard = `dedicated:${"b".repeat(257)}`;
    const id = await mintTaskId(key, ACCOUNT, shard, NOW);
    expect(id.length).toBe(400);
    expect(await verifyTaskId(key, ACCOUNT, id)).toEqual({ shard, createdAt: NOW });
  });
});

describe("mintDerivedTaskId", () => {
  it("names the same task for the same event, a different one for another event, and verifies like any id", async () => {
    const key = new Uint8Array(32).fill(7);
    const a = await mintDerivedTaskId(key, "acme", "shared:1", 1_700_000_000_000, "event\nq\nm-1");
    expect(await mintDerivedTaskId(key, "acme", "shared:1", 1_700_000_000_000, "event\nq\nm-1")).toBe(a);
    expect(await mintDerivedTaskId(key, "acme", "shared:1", 1_700_000_000_000, "event\nq\nm-2")).not.toBe(a);
    expect(await verifyTaskId(key, "acme", a)).toEqual({ shard: "shared:1", createdAt: 1_700_000_000_000 });
  });
});
