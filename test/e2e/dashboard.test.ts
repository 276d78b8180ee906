/**
 * End-to-end: GET /dashboard in a real browser (Debian's chromium driven by playwright-core) against the platform
 * under `wrangler dev`. A tenant pastes its key, sees its function with live figures and uPlot charts, opens a task's
 * waterfall, pauses the function from the page (checked through the API), and the key never shows up in the URL or
 * the page. Tenant-controlled text (an error body full of markup) is shown as text. Screenshots at a desktop and a
 * phone size land in test/artifacts/ (git-ignored).
 */

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  call,
  createAccount,
  type Platform,
  putFunction,
  startPlatform,
  startRecordingServer,
  waitFor,
  waitForTask,
} from "./harness";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = "test/artifacts";
const MARKUP = '<img id="injected" src="x"><b id="bold">boom</b>';

let platform: Platform;
let tenant: Awaited<ReturnType<typeof startRecordingServer>>;
let account: Account;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium`);
  tenant = await startRecordingServer((request, res) => {
    if (request.path.startsWith("/bad")) {
      res.writeHead(400, { "content-type": "text/html" }).end(MARKUP);
      return;
    }
    setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'), 30);
  });
  platform = await startPlatform();
  account = await createAccount(platform.url, platform.adminToken, `e2e-dash-${randomBytes(4).toString("hex")}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
  await tenant?.close();
});

async function openWithKey(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
  const response = await page.goto(`${platform.url}/dashboard`);
  expect(response?.status()).toBe(200);
  await page.fill("#key-input", account.apiKey);
  await page.click("#key-use");
  await page.waitForSelector('#function-rows tr[data-function="resize"]');
  return page;
}

describe("dashboard in chromium", () => {
  it("serves the page with a strict Content-Security-Policy and no inline script", async () => {
    const page = await call(platform.url, "GET", "/dashboard");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.text).not.toMatch(/<script>/);
    const script = await call(platform.url, "GET", "/dashboard-assets/app.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/javascript/);
    // The headers file configures the assets and is not one of them.
    expect((await call(platform.url, "GET", "/_headers")).status).toBe(404);
    // The API is still the Worker's: no asset shadows it.
    expect((await call(platform.url, "GET", "/v1/functions")).status).toBe(401);
  });

  it("shows functions, stats, a task waterfall, pauses from the page, and keeps the key out of URL and HTML", async () => {
    await putFunction(platform.url, account.apiKey, "resize", { target: { type: "url", url: `${tenant.url}/ok` } });
    // A 4xx answer is a permanent failure: one attempt, whose error carries the body.
    await putFunction(platform.url, account.apiKey, "broken", { target: { type: "url", url: `${tenant.url}/bad` } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const submitted = await call(platform.url, "POST", "/v1/functions/resize/tasks", {
        token: account.apiKey,
        json: { n: i },
      });
      expect(submitted.status, submitted.text).toBe(202);
      ids.push(submitted.body.id);
    }
    const bad = await call(platform.url, "POST", "/v1/functions/broken/tasks", { token: account.apiKey, json: {} });
    expect(bad.status).toBe(202);
    for (const id of ids) expect((await waitForTask(platform.url, account.apiKey, id)).state).toBe("succeeded");
    const failed = await waitForTask(platform.url, account.apiKey, bad.body.id);
    expect(failed.state).toBe("failed");
    await call(platform.url, "PUT", "/v1/functions/resize/schedules/nightly", {
      token: account.apiKey,
      json: { cron: "0 3 * * *", paused: true },
    });

    // The history has 10 s slots; wait for the first one so the charts have something to draw.
    await waitFor(
      async () => {
        const stats = await call(platform.url, "GET", "/v1/functions/resize/stats", { token: account.apiKey });
        return stats.body.history.length > 0 ? stats.body.history : undefined;
      },
      { timeoutMs: 30_000, what: "a history slot" },
    );

    const page = await openWithKey(1400, 900);
    // The key is in sessionStorage only: not in the URL, the HTML, the input, or localStorage.
    expect(page.url()).toBe(`${platform.url}/dashboard`);
    expect(await page.content()).not.toContain(account.apiKey);
    expect(await page.inputValue("#key-input")).toBe("");
    expect(await page.evaluate(() => sessionStorage.getItem("sluice.apiKey"))).toBe(account.apiKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // One function's figures, charts, tasks and schedules.
    await page.click('#function-rows tr[data-function="resize"]');
    await page.waitForSelector('#fn-cards [data-field="counts"]');
    await page.waitForFunction(() => document.querySelector("#fn-cards")?.textContent?.includes("succeeded 5"));
    expect(await page.textContent("#fn-title")).toBe("resize");
    expect(await page.textContent('#fn-cards [data-field="placement"]')).toContain("shared");
    expect(await page.locator("#chart-window canvas").count()).toBe(1);
    expect(await page.locator("#chart-queue canvas").count()).toBe(1);
    expect(await page.isHidden("#chart-empty")).toBe(true);
    expect(await page.locator("#latency-rows tr").count()).toBe(3);
    expect(await page.locator("#task-rows tr[data-task]").count()).toBe(5);
    expect(await page.textContent("#schedule-rows")).toContain("nightly");

    // A task's waterfall: every stage up to finished has a bar, and its attempt is listed.
    await page.click(`#task-rows tr[data-task="${ids[0]}"]`);
    await page.waitForSelector('#waterfall [data-stage="run"]');
    expect(await page.textContent("#task-title")).toContain(ids[0] ?? "none");
    for (const stage of ["ingest", "wait", "run"]) {
      const bar = page.locator(`#waterfall [data-stage="${stage}"] .bar`);
      expect(await bar.evaluate((node) => node.classList.contains("missing")), stage).toBe(false);
      expect((await bar.boundingBox())?.width ?? 0, stage).toBeGreaterThan(0);
    }
    expect(await page.locator("#attempt-rows tr").count()).toBe(1);
    expect(await page.isDisabled("#task-cancel")).toBe(true);
    await page.screenshot({ path: `${SHOTS}/dashboard-1400x900.png`, fullPage: true });

    // Schedules from the page: create one, pause it (its payload kept), resume another, a refusal shown, delete.
    const schedule = (id: string) =>
      call(platform.url, "GET", `/v1/functions/resize/schedules/${id}`, { token: account.apiKey });
    await page.fill("#schedule-id", "hourly");
    await page.fill("#schedule-cron", "0 * * * *");
    await page.fill("#schedule-timezone", "Europe/Berlin");
    await page.fill("#schedule-payload", '{"n": 1}');
    await page.click('#schedule-form button[type="submit"]');
    await page.waitForSelector('#schedule-rows tr[data-schedule="hourly"] [data-action="pause"]');
    expect((await schedule("hourly")).body).toMatchObject({
      cron: "0 * * * *",
      timezone: "Europe/Berlin",
      paused: false,
      payload: { n: 1 },
    });
    expect(await page.inputValue("#schedule-id")).toBe("");
    await page.click('#schedule-rows tr[data-schedule="hourly"] [data-action="pause"]');
    await page.waitForSelector('#schedule-rows tr[data-schedule="hourly"] [data-action="resume"]');
    expect((await schedule("hourly")).body).toMatchObject({ paused: true, nextRunAt: null, payload: { n: 1 } });
    await page.click('#schedule-rows tr[data-schedule="nightly"] [data-action="resume"]');
    await page.waitForSelector('#schedule-rows tr[data-schedule="nightly"] [data-action="pause"]');
    expect((await schedule("nightly")).body).toMatchObject({ cron: "0 3 * * *", paused: false });
    await page.fill("#schedule-id", "bad");
    await page.fill("#schedule-cron", "61 * * * *");
    await page.click('#schedule-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("cron"));
    expect(await page.getAttribute("#status", "class")).toContain("error");
    expect((await schedule("bad")).status).toBe(404);
    // The browser logs the refused PUT itself ("Failed to load resource: … 400"): that one is expected.
    const refused = pageErrors.findIndex((text) => /status of 400/.test(text));
    expect(refused).toBeGreaterThanOrEqual(0);
    pageErrors.splice(refused, 1);
    // A payload box that is not JSON is refused in the page: nothing is sent.
    await page.fill("#schedule-id", "bad-json");
    await page.fill("#schedule-cron", "0 * * * *");
    await page.fill("#schedule-payload", "{nope");
    await page.click('#schedule-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("not JSON"));
    expect((await schedule("bad-json")).status).toBe(404);
    page.once("dialog", (dialog) => dialog.accept());
    await page.click('#schedule-rows tr[data-schedule="hourly"] [data-action="delete"]');
    await page.waitForFunction(() => !document.querySelector('#schedule-rows tr[data-schedule="hourly"]'));
    expect((await schedule("hourly")).status).toBe(404);

    // Pause from the page, then see it through the API and in the list.
    expect(await page.textContent("#fn-toggle")).toBe("Pause");
    await page.click("#fn-toggle");
    await page.waitForFunction(() => document.querySelector("#fn-toggle")?.textContent === "Resume");
    const fn = await call(platform.url, "GET", "/v1/functions/resize", { token: account.apiKey });
    expect(fn.body.paused).toBe(true);
    expect(await page.textContent('#function-rows tr[data-function="resize"]')).toContain("paused");

    // Tenant-controlled markup in an error is text, not elements.
    await page.click('#function-rows tr[data-function="broken"]');
    await page.waitForSelector(`#task-rows tr[data-task="${bad.body.id}"]`);
    await page.click(`#task-rows tr[data-task="${bad.body.id}"]`);
    await page.waitForFunction(() => document.querySelector("#attempt-rows")?.textContent?.includes("boom"));
    expect(await page.textContent("#attempt-rows")).toContain('<b id="bold">boom</b>');
    expect(await page.locator("#injected, #bold").count()).toBe(0);
    expect(await page.isDisabled("#task-retry")).toBe(false);
    expect(await page.content()).not.toContain(account.apiKey);
    expect(page.url()).toBe(`${platform.url}/dashboard`);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it("forgets a key the API refuses", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${platform.url}/dashboard`);
    await page.fill("#key-input", "sk_00000000_not-a-real-key");
    await page.click("#key-use");
    await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("not accepted"));
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.isHidden("#main")).toBe(true);
    await page.close();
  });

  it("fits a phone viewport without horizontal scrolling", async () => {
    const page = await openWithKey(390, 844);
    await page.click('#function-rows tr[data-function="resize"]');
    await page.waitForSelector("#chart-window canvas");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SHOTS}/dashboard-390x844.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
