import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("answers on /", async () => {
  const response = await SELF.fetch("https://sluice.test/");
  expect(response.status).toBe(200);
});
