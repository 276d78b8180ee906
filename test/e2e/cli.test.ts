/**
 * End-to-end: the `sluice` command line, run as the real executable (bin/sluice.mjs, built by the prepare script) in
 * a child process, and the `sluice/client` library, both against the real platform under `wrangler dev` with the
 * demo function bound as DEMO_FN. Nothing is mocked: every answer comes from the Worker.
 */

import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM build script, not part of the type-checked project
import { buildCli } from "../../scripts/build-cli.mjs";
import { isProblem, SluiceClient, SluiceError, TaskWaitTimeoutError } from "../../src/client";
import { type Account, call, createAccount, type Platform, putFunction, startPlatform, waitFor } from "./harness";

const ROOT = new URL("../..", import.meta.url).pathname;
const BIN = join(ROOT, "bin/sluice.mjs");
const run = promisify(execFile);

let platform: Platform;
let account: Account;
let other: Account;
let dir: string;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `node bin/sluice.mjs …args` with SLUICE_URL/SLUICE_API_KEY of the test account (unless overridden). */
function sluice(
  args: string[],
  options: { env?: Record<string, string>; input?: string; node?: string } = {},
): Promise<Ran> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.SLUICE_URL;
  delete env.SLUICE_API_KEY;
  Object.assign(env, { SLUICE_URL: platform.url, SLUICE_API_KEY: account.apiKey, ...options.env });
  return new Promise((resolve, reject) => {
    const child = spawn(options.node ?? process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function client(apiKey = account.apiKey): SluiceClient {
  return new SluiceClient({ url: platform.url, apiKey });
}

beforeAll(async () => {
  // The test runs what `npm install` leaves behind: the bundle of the current sources.
  await buildCli({ declarations: false });
  dir = mkdtempSync(join(tmpdir(), "sluice-cli-"));
  platform = await startPlatform();
  const suffix = randomBytes(4).toString("hex");
  account = await createAccount(platform.url, platform.adminToken, `cli-${suffix}`);
  other = await createAccount(platform.url, platform.adminToken, `cli-other-${suffix}`);
  const fast = { maxAttempts: 2, initialBackoffMs: 100, maxBackoffMs: 200 };
  for (const name of ["echo", "bulk", "lines", "lib"]) {
    await putFunction(platform.url, account.apiKey, name, {
      target: { type: "service", service: "DEMO_FN" },
      retry: fast,
    });
  }
});

afterAll(async () => {
  await platform?.stop();
});

describe("sluice CLI", () => {
  it("runs through npx from the repository (the package's bin)", async () => {
    const { stdout } = await run("npx", ["--no-install", "sluice", "--version"], { cwd: ROOT });
    expect(stdout.trim()).toBe("0.1.0");
  });

  it("submit prints the task id; status --wait waits for it to end; --json is the task object", async () => {
    const submitted = await sluice(["submit", "echo", file("one.json", '{"echo":{"hello":"cli"}}')]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^tsk_[A-Za-z0-9_.-]+$/);

    const waited = await sluice(["status", id, "--wait", "60"]);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/state\s+succeeded/);
    expect(waited.stdout).toContain('"hello":"cli"');
    expect(waited.stdout).toMatch(/timeline\s+accepted → queued/);

    const json = await sluice(["--json", "status", id]);
    expect(json.code, json.stderr).toBe(0);
    const task = JSON.parse(json.stdout);
    expect(task).toMatchObject({ id, function: "echo", state: "succeeded", attempts: 1 });
    expect(task.result.echo).toEqual({ hello: "cli" });
  });

  it("submit - reads the payload from standard input; --wait holds the answer (Prefer: wait)", async () => {
    const ran = await sluice(["submit", "echo", "-", "--wait", "20", "--json"], { input: '{"echo":"piped"}' });
    expect(ran.code, ran.stderr).toBe(0);
    const task = JSON.parse(ran.stdout);
    expect(task.state).toBe("succeeded");
    expect(task.result.echo).toBe("piped");
    expect(task.resultContentType).toBe("application/json");
  });

  it("an idempotency key answers the first task's id, marked deduplicated", async () => {
    const path = file("dedup.json", '{"echo":1}');
    const first = await sluice(["submit", "echo", path, "--idempotency-key", "cli-dedup-1", "--json"]);
    const second = await sluice(["submit", "echo", path, "--idempotency-key", "cli-dedup-1", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ id: JSON.parse(first.stdout).id, deduplicated: true });
  });

  it("submit --batch sends 250 lines in chunks of 100, prints every id in order, and ls lists them", async () => {
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ echo: i }));
    const ran = await sluice(["submit", "bulk", "--batch", file("bulk.jsonl", `${lines.join("\n")}\n`)]);
    expect(ran.code, ran.stderr).toBe(0);
    const ids = ran.stdout.trim().split("\n");
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(ran.stderr).toContain("submitted 250 of 250 task(s)");

    // Every task runs; listing them all pages through the cursor (3 pages of 100).
    const listed = await waitFor(
      async () => {
        const ls = await sluice(["ls", "bulk", "--state", "succeeded", "--limit", "300", "--json"]);
        expect(ls.code, ls.stderr).toBe(0);
        const page = JSON.parse(ls.stdout) as { tasks: { id: string; state: string }[]; nextCursor: string | null };
        return page.tasks.length === 250 ? page : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: "250 succeeded tasks" },
    );
    expect(new Set(listed.tasks.map((t) => t.id))).toEqual(new Set(ids));
    expect(listed.nextCursor).toBeNull();

    // The text listing is a table; --limit stops early and says how to go on.
    const table = await sluice(["ls", "bulk", "--limit", "5"]);
    expect(table.code, table.stderr).toBe(0);
    const rows = table.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^ID\s+STATE\s+ATTEMPTS\s+CREATED\s+UPDATED\s+ERROR$/);
    expect(rows).toHaveLength(6);
    expect(ids).toContain(rows[1]?.split(/\s+/)[0]);
    const more = /--cursor (\S+)/.exec(table.stderr)?.[1];
    expect(more).toBeTruthy();
    const next = await sluice(["ls", "bulk", "--limit", "5", "--cursor", more ?? "", "--json"]);
    const nextIds = (JSON.parse(next.stdout).tasks as { id: string }[]).map((t) => t.id);
    expect(nextIds).toHaveLength(5);
    for (const row of rows.slice(1)) expect(nextIds).not.toContain(row.split(/\s+/)[0]);
  });

  it("a batch file with bad lines names each line and submits nothing", async () => {
    const path = file("bad.jsonl", '{"echo":1}\n\n{"echo":\nnot json\n{"echo":5}\n');
    const ran = await sluice(["submit", "lines", "--batch", path]);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe("");
    expect(ran.stderr).toContain(`${path}:3: not JSON`);
    expect(ran.stderr).toContain(`${path}:4: not JSON`);
    expect(ran.stderr).toContain("2 bad line(s)");
    const page = await call(platform.url, "GET", "/v1/functions/lines/tasks", { token: account.apiKey });
    expect(page.body.tasks).toEqual([]);
  });

  it("a line the server refuses fails alone, with its line number, and the exit code is 1", async () => {
    // A JSON string payload just over 1 MiB: fine locally, refused by the gateway (MAX_PAYLOAD_BYTES).
    const big = JSON.stringify("x".repeat(1024 * 1024));
    const path = file("mixed.jsonl", ['{"echo":"a"}', '{"echo":"b"}', big, '{"echo":"d"}'].join("\n"));
    const ran = await sluice(["submit", "lines", "--batch", path, "--json"]);
    expect(ran.code).toBe(1);
    const report = JSON.parse(ran.stdout);
    expect(report).toMatchObject({ submitted: 3, failed: 1 });
    expect(report.tasks.map((t: { line: number }) => t.line)).toEqual([1, 2, 4]);
    expect(report.failures).toEqual([{ line: 3, status: 400, detail: expect.stringContaining("larger than 1048576") }]);
  });

  it("cancel and retry change a task, and say its new state", async () => {
    const delayed = await sluice(["submit", "echo", file("later.json", '{"echo":"later"}'), "--delay", "600"]);
    const id = delayed.stdout.trim();
    const cancelled = await waitFor(
      async () => {
        const ran = await sluice(["cancel", id]);
        return ran.code === 0 ? ran : undefined;
      },
      { timeoutMs: 20_000, what: "the cancel" },
    );
    expect(cancelled.stdout.trim()).toBe(`${id} cancelled`);
    const again = await sluice(["cancel", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cancelled/);
    expect(again.stderr).toContain("409 invalid-transition");

    // {"fail":400} is a permanent failure: status --wait exits 1, then retry runs it again.
    const failing = await sluice(["submit", "echo", file("fail.json", '{"fail":400}')]);
    const failedId = failing.stdout.trim();
    const waited = await sluice(["status", failedId, "--wait", "60"]);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(/state\s+failed/);
    expect(waited.stderr).toContain(`task ${failedId} ended failed`);
    const retried = await sluice(["retry", failedId, "--json"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ id: failedId, state: "queued", run: 2 });
  });

  it("stats is a compact table, functions lists the account's functions", async () => {
    const stats = await sluice(["stats", "bulk"]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/^function\s+bulk$/m);
    expect(stats.stdout).toMatch(/^ACCEPTED\s+QUEUED\s+PAUSED\s+RUNNING\s+SUCCEEDED\s+FAILED\s+CANCELLED\s+EXPIRED$/m);
    expect(stats.stdout).toMatch(/^\s*0\s+0\s+0\s+0\s+250\s+0\s+0\s+0$/m);
    const json = await sluice(["stats", "bulk", "--json"]);
    expect(JSON.parse(json.stdout).counts.succeeded).toBe(250);

    const functions = await sluice(["functions"]);
    expect(functions.code, functions.stderr).toBe(0);
    expect(functions.stdout).toMatch(/^NAME\s+TARGET\s+MAX CONCURRENCY/);
    expect(functions.stdout).toMatch(/^echo\s+service:DEMO_FN\s+100\s+30s\s+auto\s+no/m);
    const names = JSON.parse((await sluice(["--json", "functions"])).stdout).functions.map(
      (f: { name: string }) => f.name,
    );
    expect(names).toEqual(["bulk", "echo", "lib", "lines"]);
  });

  it("schedules lists a function's schedules as a table", async () => {
    const empty = await sluice(["schedules", "echo"]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout.trim()).toBe("no schedules");
    const put = await call(platform.url, "PUT", "/v1/functions/echo/schedules/weekday-9", {
      token: account.apiKey,
      json: { cron: "0 9 * * 1-5", timezone: "Asia/Shanghai", payload: { echo: "tick" }, paused: true },
    });
    expect(put.status, put.text).toBe(201);
    const ran = await sluice(["schedules", "echo"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/^ID\s+CRON\s+TIMEZONE\s+NEXT RUN\s+LAST RUN\s+PAUSED$/m);
    expect(ran.stdout).toMatch(/^weekday-9\s+0 9 \* \* 1-5\s+Asia\/Shanghai\s+-\s+-\s+yes$/m);
    const json = JSON.parse((await sluice(["schedules", "echo", "--json"])).stdout);
    expect(json.schedules).toEqual([expect.objectContaining({ id: "weekday-9", cron: "0 9 * * 1-5", paused: true })]);
    const missing = await sluice(["schedules", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^sluice: .+ \(404 not-found\)\n$/);
  });

  it("schedule set, show, pause, resume and delete edit one schedule; the payload file is the task body", async () => {
    const payload = file("tick.json", '{"echo":"from a file"}');
    const created = await sluice([
      "schedule",
      "set",
      "lines",
      "every-2s",
      "--cron",
      "*/2 * * * * *",
      "--payload",
      payload,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created\nid\s+every-2s$/m);
    expect(created.stdout).toMatch(/^payload\s+\{"echo":"from a file"\}$/m);

    // It fires: a task of the function whose body is the payload file, marked with the schedule.
    const fired = await waitFor(
      async () => {
        const shown = JSON.parse((await sluice(["schedule", "show", "lines", "every-2s", "--json"])).stdout);
        return typeof shown.lastTaskId === "string" ? shown : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: "the schedule's first run" },
    );
    const task = await client().waitForTask(fired.lastTaskId, { timeoutMs: 20_000 });
    expect(task).toMatchObject({ state: "succeeded", scheduleId: "every-2s", result: { echo: "from a file" } });

    // Pause keeps the timetable and the payload; resume starts it again.
    const paused = await sluice(["schedule", "pause", "lines", "every-2s", "--json"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({
      cron: "*/2 * * * * *",
      paused: true,
      nextRunAt: null,
      payload: { echo: "from a file" },
    });
    const resumed = await sluice(["schedule", "resume", "lines", "every-2s"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^paused\s+no$/m);
    expect(resumed.stdout).toMatch(/^payload\s+\{"echo":"from a file"\}$/m);

    // set again replaces the whole schedule: a text payload with its own content type, paused.
    const text = file("tick.txt", "a,b");
    const replaced = await sluice([
      "schedule",
      "set",
      "lines",
      "every-2s",
      "--cron",
      "0 9 * * 1-5",
      "--timezone",
      "Europe/Berlin",
      "--payload",
      text,
      "--content-type",
      "text/csv",
      "--paused",
      "--json",
    ]);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({
      created: false,
      cron: "0 9 * * 1-5",
      timezone: "Europe/Berlin",
      contentType: "text/csv",
      payload: "a,b",
      paused: true,
    });

    // The server's refusals come through as they are: a bad expression names the field.
    const bad = await sluice(["schedule", "set", "lines", "every-2s", "--cron", "61 * * * *"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cron/);
    // A payload file that is not JSON, for a JSON content type, is refused before any request.
    const notJson = await sluice(["schedule", "set", "lines", "x", "--cron", "* * * * *", "--payload", text]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/is not JSON/);

    const deleted = await sluice(["schedule", "delete", "lines", "every-2s"]);
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted every-2s\n" });
    const gone = await sluice(["schedule", "show", "lines", "every-2s"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/404 not-found/);
    // Another account's key sees none of it.
    const stranger = await sluice(["schedule", "delete", "lines", "x"], { env: { SLUICE_API_KEY: other.apiKey } });
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toMatch(/404 not-found/);
  });

  it("a wrong key exits 1 with the problem's detail on stderr, and the key is never printed", async () => {
    const bogus = `sk_deadbeef_${randomBytes(16).toString("hex")}`;
    for (const args of [["functions"], ["--key", bogus, "functions"], ["--key", bogus, "--json", "ls", "echo"]]) {
      const ran = await sluice(args, { env: { SLUICE_API_KEY: bogus } });
      expect(ran.code).toBe(1);
      expect(ran.stdout).toBe("");
      expect(ran.stderr).not.toContain(bogus);
      expect(ran.stderr).not.toContain(bogus.slice(12));
      if (args.includes("--json")) {
        expect(JSON.parse(ran.stderr).error).toMatchObject({
          status: 401,
          type: "https://sluice.dev/problems/unauthorized",
        });
      } else {
        expect(ran.stderr).toMatch(/^sluice: .+ \(401 unauthorized\)\n$/);
      }
    }
    // Another account's task answers exactly like a missing one.
    const mine = (await sluice(["submit", "echo", file("mine.json", '{"echo":1}')])).stdout.trim();
    const stranger = await sluice(["status", mine], { env: { SLUICE_API_KEY: other.apiKey } });
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toBe("sluice: No such task. (404 not-found)\n");
    const unknown = await sluice(["ls", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(404 not-found\)/);
    // Usage errors exit 2 before any request.
    expect((await sluice(["ls", "echo", "--state", "done"])).code).toBe(2);
    expect((await sluice(["submit", "echo"])).stderr).toContain("give a payload file");
  });

  const node20 = ["/usr/bin/node", "/usr/local/bin/node"].find(
    (path) => existsSync(path) && /^v20\./.test(spawnVersion(path)),
  );
  it.skipIf(!node20)("runs on Node 20 too", async () => {
    const ran = await sluice(["submit", "echo", "-", "--wait", "20", "--json"], { input: '{"echo":20}', node: node20 });
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout).result.echo).toBe(20);
  });
});

function spawnVersion(node: string): string {
  try {
    return execFileSync(node, ["--version"]).toString().trim();
  } catch {
    return "";
  }
}

describe("sluice/client", () => {
  it("is importable by package name as plain Node ESM (the exports map and the built bundle)", async () => {
    const script = `import { SluiceClient, SluiceError } from "sluice/client";
const c = new SluiceClient({ url: process.env.U, apiKey: process.env.K });
const f = await c.getFunction("echo");
try { await c.getTask("tsk_nope"); } catch (e) { console.log(JSON.stringify({ name: f.name, err: e instanceof SluiceError, status: e.status })); }`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      env: { ...process.env, U: platform.url, K: account.apiKey },
    });
    expect(JSON.parse(stdout)).toEqual({ name: "echo", err: true, status: 404 });
  });

  it("submits, waits and reads a task; deduplicates on an idempotency key; waits with Prefer: wait", async () => {
    const sluice = client();
    const { id, state, deduplicated } = await sluice.submit("lib", { echo: "from the client" });
    expect(state).toBe("accepted");
    expect(deduplicated).toBe(false);
    const seen: string[] = [];
    const task = await sluice.waitForTask(id, { timeoutMs: 30_000, onUpdate: (t) => seen.push(t.state) });
    expect(task).toMatchObject({ id, function: "lib", state: "succeeded" });
    expect((task.result as { echo: string }).echo).toBe("from the client");
    expect(seen.at(-1)).toBe("succeeded");

    const first = await sluice.submit("lib", { echo: 1 }, { idempotencyKey: "lib-key" });
    const second = await sluice.submit("lib", { echo: 2 }, { idempotencyKey: "lib-key" });
    expect(second).toMatchObject({ id: first.id, deduplicated: true });

    const waited = await sluice.submit("lib", "plain text", { waitSeconds: 20, contentType: "text/plain" });
    expect(waited.task).toMatchObject({ state: "succeeded", resultContentType: "application/json" });
  });

  it("raises problems as SluiceError with status, type, title and detail", async () => {
    const sluice = client();
    const missing = await sluice.getTask("tsk_missing").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SluiceError);
    expect(missing).toMatchObject({ status: 404, type: "https://sluice.dev/problems/not-found", title: "Not found" });
    expect(isProblem(missing, "not-found")).toBe(true);

    const { id } = await sluice.submit("lib", { echo: "done" }, { waitSeconds: 20 });
    const refused = await sluice.cancel(id).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 409, type: "https://sluice.dev/problems/invalid-transition" });
    expect((refused as SluiceError).body.state).toBe("succeeded");

    const tooMany = Array.from({ length: 101 }, (_, i) => ({ payload: i }));
    const batch = await sluice.submitBatch("lib", tooMany).catch((e: unknown) => e);
    expect(batch).toMatchObject({ status: 400, type: "https://sluice.dev/problems/validation" });
    expect((batch as SluiceError).errors.length).toBeGreaterThan(0);

    const stranger = await client(other.apiKey)
      .getFunction("lib")
      .catch((e: unknown) => e);
    expect(stranger).toMatchObject({ status: 404 });
    const badKey = await client("sk_nope_nope")
      .listFunctions()
      .catch((e: unknown) => e);
    expect(badKey).toMatchObject({ status: 401, type: "https://sluice.dev/problems/unauthorized" });
    expect((badKey as Error).message).not.toContain("sk_nope_nope");
  });

  it("submitMany chunks 230 tasks into batches; iterateTasks pages through all of them once", async () => {
    const sluice = client();
    const progress: number[] = [];
    const outcomes = await sluice.submitMany(
      "lib",
      Array.from({ length: 230 }, (_, i) => ({ payload: { echo: i }, fairnessKey: `k${i % 3}` })),
      { onProgress: (settled) => progress.push(settled) },
    );
    expect(progress).toEqual([100, 200, 230]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const ids = new Set(outcomes.map((o) => (o.ok ? o.id : "")));
    const listed: string[] = [];
    await waitFor(
      async () => {
        listed.length = 0;
        for await (const t of sluice.iterateTasks("lib", { state: "succeeded", limit: 70 })) listed.push(t.id);
        return [...ids].every((id) => listed.includes(id)) || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: "all 230 succeeded" },
    );
    expect(new Set(listed).size).toBe(listed.length);
  });

  it("waitForTask is bounded: a task that cannot end in time raises TaskWaitTimeoutError with its last state", async () => {
    const sluice = client();
    const { id } = await sluice.submit("lib", { echo: "later" }, { delaySeconds: 600 });
    const error = await sluice.waitForTask(id, { timeoutMs: 400 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskWaitTimeoutError);
    expect(["accepted", "queued"]).toContain((error as TaskWaitTimeoutError).task.state);
  });

  it("lists functions and schedules; an unknown function is a 404 problem", async () => {
    const sluice = client();
    const page = await sluice.listFunctions({ limit: 2 });
    expect(page.functions.map((f) => f.name)).toEqual(["bulk", "echo"]);
    expect(page.nextCursor).toBeTruthy();
    const all: string[] = [];
    for await (const f of sluice.iterateFunctions({ limit: 1 })) all.push(f.name);
    expect(all).toEqual(["bulk", "echo", "lib", "lines"]);
    expect((await sluice.getFunction("echo")).target).toEqual({ type: "service", service: "DEMO_FN" });

    expect(await sluice.listSchedules("lib")).toEqual([]);
    const put = await call(platform.url, "PUT", "/v1/functions/lib/schedules/nightly", {
      token: account.apiKey,
      json: { cron: "0 2 * * *" },
    });
    expect(put.status, put.text).toBe(201);
    const [schedule] = await sluice.listSchedules("lib");
    expect(schedule).toMatchObject({ id: "nightly", cron: "0 2 * * *", timezone: "UTC", paused: false });
    expect(Date.parse(schedule?.nextRunAt ?? "")).toBeGreaterThan(Date.now());
    const unknown = await sluice.listSchedules("nope").catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 404, type: "https://sluice.dev/problems/not-found" });

    const stats = await sluice.stats("lib");
    expect(stats.counts.succeeded).toBeGreaterThan(0);
  });
});
