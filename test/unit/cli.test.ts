/**
 * Unit tests of the CLI's pure parts: JSON Lines parsing, tables and durations, option values, how a task and stats
 * read, error lines (the API key scrubbed), and argument validation run in-process (usage errors exit 2 before
 * any request: the URL points nowhere, so a request would fail differently).
 */

import { describe, expect, it } from "vitest";
import { formatSchedule, schedulePayload } from "../../cli/commands/schedules";
import { Context, describeError } from "../../cli/context";
import { formatStats, formatTask, formatTimeline } from "../../cli/format";
import { MAX_LINES, parseJsonl } from "../../cli/jsonl";
import { run } from "../../cli/main";
import { guessContentType, parseBaseUrl, parseLimit, parseState } from "../../cli/options";
import { formatDuration, formatInstant, formatTable } from "../../cli/table";
import { SluiceError, type Task } from "../../src/client";

describe("parseJsonl", () => {
  it("takes each line as a payload by default, skipping blank lines and a BOM, with 1-based line numbers", () => {
    const { lines, errors } = parseJsonl('\uFEFF{"a":1}\r\n\n"text"\n[1,2]\n');
    expect(errors).toEqual([]);
    expect(lines).toEqual([
      { line: 1, item: { payload: { a: 1 } } },
      { line: 3, item: { payload: "text" } },
      { line: 4, item: { payload: [1, 2] } },
    ]);
  });

  it("names every bad line", () => {
    const { lines, errors } = parseJsonl('{"a":1}\n{"a":\n\nnope\n{"b":2}');
    expect(lines.map((l) => l.line)).toEqual([1, 5]);
    expect(errors.map((e) => e.line)).toEqual([2, 4]);
    expect(errors[0]?.message).toMatch(/^not JSON/);
  });

  it("with items, checks each line with the gateway's batch item schema", () => {
    const text = [
      '{"payload":{"x":1},"idempotencyKey":"k1","delaySeconds":5,"fairnessKey":"c7"}',
      '{"payload":1,"delaySeconds":604801}',
      '{"idempotencyKey":"no payload"}',
      '{"payload":1,"extra":true}',
    ].join("\n");
    const { lines, errors } = parseJsonl(text, { items: true });
    expect(lines).toEqual([
      { line: 1, item: { payload: { x: 1 }, idempotencyKey: "k1", delaySeconds: 5, fairnessKey: "c7" } },
    ]);
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4]);
    expect(errors[0]?.message).toContain("delaySeconds");
    expect(errors[1]?.message).toContain("payload");
  });

  it("is bounded: a file of more than MAX_LINES tasks is refused", () => {
    const { errors } = parseJsonl("1\n".repeat(MAX_LINES + 5));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line: MAX_LINES + 1, message: expect.stringContaining("split it") });
  });
});

describe("tables", () => {
  it("aligns columns, right-aligns numbers, shows empty cells as - and cuts long ones", () => {
    const table = formatTable(
      ["NAME", "N", "NOTE"],
      [
        ["a", 1, null],
        ["bbbb", 220, "x".repeat(20)],
      ],
      { maxWidth: 8 },
    );
    expect(table.split("\n")).toEqual(["NAME    N  NOTE", "a       1  -", "bbbb  220  xxxxxxx…"]);
  });

  it("formats durations and instants", () => {
    expect([0, 850, 1234, 12_500, 185_000, 7_800_000].map(formatDuration)).toEqual([
      "0ms",
      "850ms",
      "1.2s",
      "13s",
      "3m05s",
      "2h10m",
    ]);
    expect(formatDuration(null)).toBe("-");
    expect(formatInstant("2026-11-23T19:15:24.918Z")).toBe("2026-11-23 19:15:24Z");
    expect(formatInstant(null)).toBe("-");
  });
});

describe("option values", () => {
  it("accepts whole numbers in range and refuses the rest", () => {
    expect(parseLimit("250")).toBe(250);
    for (const bad of ["0", "-1", "1.5", "abc", "100001", ""]) expect(() => parseLimit(bad)).toThrow();
  });

  it("accepts only task states", () => {
    expect(parseState("queued")).toBe("queued");
    expect(() => parseState("done")).toThrow(/one of accepted, queued/);
  });

  it("accepts http(s) base URLs without credentials, query or trailing slash", () => {
    expect(parseBaseUrl("http://localhost:8787/")).toBe("http://localhost:8787");
    expect(parseBaseUrl("https://x.example.com/sluice/")).toBe("https://x.example.com/sluice");
    for (const bad of ["localhost:8787", "ftp://x.example.com", "https://u:p@x.example.com", "https://x.dev/?a=1"]) {
      expect(() => parseBaseUrl(bad)).toThrow();
    }
  });

  it("guesses a payload's content type from its extension, else JSON if it parses", () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(guessContentType("a.json", bytes("not json"))).toBe("application/json");
    expect(guessContentType("a.txt", bytes("{}"))).toBe("text/plain; charset=utf-8");
    expect(guessContentType("-", bytes('{"a":1}'))).toBe("application/json");
    expect(guessContentType("blob.bin", new Uint8Array([0xff, 0xfe, 0]))).toBe("application/octet-stream");
    expect(guessContentType("-", bytes(""))).toBe("application/octet-stream");
  });
});

const task: Task = {
  id: "tsk_1",
  function: "echo",
  state: "failed",
  attempts: 2,
  run: 1,
  createdAt: "2026-11-23T19:15:24.000Z",
  updatedAt: "2026-11-23T19:15:26.000Z",
  timeline: {
    acceptedAt: "2026-11-23T19:15:24.000Z",
    queuedAt: "2026-11-23T19:15:24.012Z",
    firstDispatchedAt: "2026-11-23T19:15:24.030Z",
    lastDispatchedAt: "2026-11-23T19:15:25.030Z",
    finishedAt: "2026-11-23T19:15:26.500Z",
    deliveredAt: null,
  },
  attemptLog: [{ run: 1, attempt: 2, startedAt: "2026-11-23T19:15:25.030Z", durationMs: 40, status: 500 }],
  error: { kind: "http", status: 500, message: "demo failure" },
};

describe("how a task and stats read", () => {
  it("shows the timeline as stages after acceptance", () => {
    expect(formatTimeline(task.timeline)).toBe("accepted → queued +12ms → dispatched +30ms → finished +2.5s");
  });

  it("shows a task as labelled lines", () => {
    const text = formatTask({ ...task, result: { ok: true } });
    expect(text).toContain("state         failed");
    expect(text).toContain("error         http 500: demo failure");
    expect(text).toContain("last attempt  #2 40ms 500");
    expect(text).toContain('result        {"ok":true}');
  });

  it("shows stats as a compact table, latencies only where the server reports them", () => {
    const base = {
      counts: { succeeded: 41, queued: 7, running: 2 },
      inFlight: 2,
      concurrencyLimit: 70.4,
      maxConcurrency: 100,
      placement: { tier: "shared", partitions: 1 },
    };
    const text = formatStats("echo", base);
    expect(text).toContain("window     70.4 of max 100");
    expect(text).toContain("placement  shared, 1 partition(s)");
    const moved = formatStats("flood", {
      ...base,
      placement: { tier: "dedicated", partitions: 3, reason: "backlog", since: "2026-12-02T13:00:00.000Z" },
    });
    expect(moved).toContain("placement  dedicated, 3 partition(s) (backlog since 2026-12-02T13:00:00.000Z)");
    expect(text).toMatch(/ACCEPTED\s+QUEUED\s+PAUSED\s+RUNNING\s+SUCCEEDED/);
    expect(text).toMatch(/\n\s+0\s+7\s+0\s+2\s+41\s+0\s+0\s+0$/);
    expect(text).not.toContain("LATENCY");
    const withLatency = formatStats("echo", {
      ...base,
      latencyMs: { queueWait: { p50: 3, p95: 40, p99: 1200 }, execution: { p50: 10, p95: 20, p99: 30 } },
      throughputPerMinute: 120,
    });
    expect(withLatency).toMatch(
      /LATENCY\s+P50\s+P95\s+P99\nqueue wait\s+3ms\s+40ms\s+1.2s\nexecution\s+10ms\s+20ms\s+30ms\nend to end\s+-\s+-\s+-/,
    );
    expect(withLatency).toMatch(/^throughput\s+120\/min$/m);
  });
});

describe("errors", () => {
  it("show the problem's detail, status and kind, and each bad field", () => {
    const error = new SluiceError({
      status: 400,
      type: "https://sluice.dev/problems/validation",
      title: "Request failed validation",
      detail: "The request does not match the schema.",
      errors: [{ path: "0.payload", message: "payload is required" }],
    });
    expect(describeError(error, false)).toBe(
      "sluice: The request does not match the schema. (400 validation)\n  0.payload: payload is required",
    );
    expect(JSON.parse(describeError(error, true))).toEqual({
      error: {
        status: 400,
        type: "https://sluice.dev/problems/validation",
        title: "Request failed validation",
        detail: "The request does not match the schema.",
        errors: [{ path: "0.payload", message: "payload is required" }],
      },
    });
  });

  it("never print the API key", () => {
    const written: string[] = [];
    const ctx = new Context(
      { key: "sk_secret_123" },
      { out: (t) => written.push(t), err: (t) => written.push(t), env: {}, interactive: false },
    );
    ctx.err("sent sk_secret_123 twice: sk_secret_123");
    expect(written).toEqual(["sent [api key] twice: [api key]\n"]);
    expect(ctx.url).toBe("http://localhost:8787");
  });
});

describe("schedule payload files", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  it("are a JSON value for a JSON content type, and the file's text for any other", () => {
    expect(schedulePayload("p.json", bytes('{"a":[1,2]}'), "application/json")).toEqual({ a: [1, 2] });
    expect(schedulePayload("p.json", bytes('"s"'), "application/cloudevents+json; charset=utf-8")).toBe("s");
    expect(schedulePayload("p.csv", bytes("a,b\n"), "text/csv")).toBe("a,b\n");
  });

  it("refuse a file that is not JSON for a JSON content type", () => {
    expect(() => schedulePayload("p.txt", bytes("a,b"), "application/json")).toThrow(/p.txt is not JSON/);
  });

  it("show a schedule as labelled lines, its payload as JSON", () => {
    const text = formatSchedule({
      id: "s1",
      cron: "0 9 * * 1-5",
      timezone: "UTC",
      paused: false,
      nextRunAt: null,
      lastRunAt: null,
      lastTaskId: null,
      contentType: "application/json",
      payload: { echo: 1 },
    });
    expect(text.split("\n")).toEqual([
      "id            s1",
      "cron          0 9 * * 1-5",
      "timezone      UTC",
      "paused        no",
      "next run      -",
      "last run      -",
      "last task     -",
      "content type  application/json",
      'payload       {"echo":1}',
    ]);
  });
});

describe("argument validation (in-process, no request made)", () => {
  async function cli(args: string[], env: Record<string, string> = {}) {
    let out = "";
    let err = "";
    const code = await run(["node", "sluice", ...args], {
      out: (t) => (out += t),
      err: (t) => (err += t),
      env: { SLUICE_URL: "http://127.0.0.1:9", SLUICE_API_KEY: "sk_unit_key", ...env },
      interactive: false,
    });
    return { code, out, err };
  }

  it("help and version exit 0", async () => {
    expect(await cli(["--version"])).toMatchObject({ code: 0, out: "0.1.0\n" });
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of [
      "submit",
      "status",
      "ls",
      "cancel",
      "retry",
      "stats",
      "functions",
      "schedules",
      "schedule",
    ]) {
      expect(help.out).toContain(command);
    }
  });

  it("usage errors exit 2 with a reason", async () => {
    const cases: [string[], RegExp][] = [
      [["submit", "echo"], /give a payload file/],
      [["submit", "echo", "a.json", "--batch", "b.jsonl"], /not both/],
      [["submit", "echo", "--batch", "b.jsonl", "--idempotency-key", "k"], /apply to one task/],
      [["submit", "echo", "a.json", "--items"], /need --batch/],
      [["submit", "echo", "/no/such/file.json"], /no such file/],
      [["submit", "echo", "a.json", "--delay", "604801"], /--delay/],
      [["submit", "echo", "a.json", "--wait", "61"], /--wait/],
      [["ls", "echo", "--state", "done"], /--state/],
      [["ls", "echo", "--limit", "0"], /--limit/],
      [["status", "tsk_1", "--wait", "0"], /between 1 and 86400/],
      [["frobnicate"], /unknown command/],
      [["--url", "ftp://x", "functions"], /--url/],
      [["schedule", "set", "echo", "s1"], /--cron/],
      [["schedule", "set", "echo", "s1", "--cron", "* * * * *", "--payload", "/no/such/file.json"], /no such file/],
      [["schedule", "pause", "echo"], /missing required argument 'id'/],
      [["schedule", "frobnicate"], /unknown command/],
    ];
    for (const [args, reason] of cases) {
      const ran = await cli(args);
      expect(ran.code, args.join(" ")).toBe(2);
      expect(ran.err, args.join(" ")).toMatch(reason);
      expect(ran.out).toBe("");
    }
    expect(await cli(["functions"], { SLUICE_API_KEY: "" })).toMatchObject({
      code: 2,
      err: expect.stringMatching(/no API key/),
    });
    expect(await cli(["functions"], { SLUICE_URL: "not a url" })).toMatchObject({
      code: 2,
      err: expect.stringMatching(/SLUICE_URL/),
    });
  });

  it("an unreachable server is an error (exit 1) that names the cause, not the key", async () => {
    const ran = await cli(["functions"]);
    expect(ran.code).toBe(1);
    expect(ran.err).toMatch(/^sluice: fetch failed/);
    expect(ran.err).not.toContain("sk_unit_key");
  });
});
