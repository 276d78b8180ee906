import { describe, expect, it } from "vitest";
import { callbackTokenAccount, mintCallbackToken } from "../../src/callback-token";

describe("callback tokens", () => {
  it("name their account and carry a fresh secret each time", () => {
    const a = mintCallbackToken("acme-1");
    const b = mintCallbackToken("acme-1");
    expect(a).not.toBe(b);
    expect(callbackTokenAccount(a)).toBe("acme-1");
  });

  it("refuse anything not shaped like a minted token", () => {
    const secret = "A".repeat(32);
    for (const bad of [
      "",
      "cb_",
      `cb_acme.${"A".repeat(31)}`,
      `cb_ACME.${secret}`,
      `cb_.${secret}`,
      `xx_acme.${secret}`,
      `cb_acme.${secret}!`,
    ]) {
      expect(callbackTokenAccount(bad)).toBeUndefined();
    }
    expect(callbackTokenAccount(`cb_acme.${secret}`)).toBe("acme");
  });
});
