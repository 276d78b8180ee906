/**
 * The request model and the fast-check arbitraries of the gateway fuzz suite (test/workers/fuzz.test.ts).
 *
 * A generated request is a plain, printable description: which route shape, which method, references to fixtures
 * (by index, resolved against the live fixtures when the request is sent), headers, body and transport. Large values
 * (long headers, long path segments, bodies around a size limit) are kept as `{ rep, n }` / `{ k: "sized" }`
 * descriptions so that a counterexample printed by fast-check stays readable and still reproduces exactly.
 */
import fc from "fast-check";

export const MiB = 1024 * 1024;
/** Body limits of API.md "Errors": a task payload 1 MiB, a batch request 10 MiB, other JSON 1 MiB, `/complete` 10 MiB. */
export const LIMIT = { payload: MiB, json: MiB, batch: 10 * MiB, complete: 10 * MiB } as const;
export const CONTENT_TYPE_MAX = 256;

/** The fuzz account's own functions (created in beforeAll, restored before each run if a request changed them). */
export const FIXTURE_FNS = ["fz-one", "fz-two", "fz-async"] as const;
/** The foreign account's function. */
export const FOREIGN_FN = "fz-foreign";
/** Names a fuzzed PUT may create (kept few so that snapshots stay cheap). */
export const POOL_FNS = ["fz-new-0", "fz-new-1", FOREIGN_FN] as const;

export type Who = "A" | "B";
export type AcctWho = "A" | "B" | "V";
export type TaskOp = "cancel" | "pause" | "resume" | "retry" | "redeliver";

/** A long string without spelling it out: `pre` then `rep` repeated up to `n` characters in all. */
export type Long = { rep: string; n: number; pre?: string };
export type Text = string | Long;

export type FnRef =
  | { k: "fixture"; i: number }
  | { k: "pool"; i: number }
  | { k: "unknown"; name: string }
  | { k: "invalid"; raw: Text }
  | { k: "encoded"; i: number }
  | { k: "seg"; seg: Text };
export type TaskRef =
  | { k: "pool"; who: Who; i: number }
  | { k: "tamper"; i: number; pos: number; ch: string }
  | { k: "truncate"; i: number; n: number }
  | { k: "extend"; i: number; s: string }
  | { k: "reshard"; i: number; shard: string }
  | { k: "garbage"; s: Text }
  | { k: "seg"; seg: Text };
export type AcctRef =
  | { k: "known"; who: AcctWho }
  | { k: "unknown"; id: string }
  | { k: "invalid"; raw: Text }
  | { k: "seg"; seg: Text };
export type PrefixRef =
  | { k: "pool"; who: AcctWho; i: number }
  | { k: "tamper"; who: AcctWho; i: number; pos: number; ch: string }
  | { k: "garbage"; s: Text };

export type Shape =
  | { s: "root" }
  | { s: "accounts" }
  | { s: "account"; a: AcctRef }
  | { s: "keys"; a: AcctRef }
  | { s: "key"; a: AcctRef; p: PrefixRef }
  | { s: "functions" }
  | { s: "function"; f: FnRef }
  | { s: "fn-action"; f: FnRef; action: "pause" | "resume" }
  | { s: "fn-tasks"; f: FnRef }
  | { s: "batch"; f: FnRef }
  | { s: "bulk"; f: FnRef; op: "cancel" | "pause" | "resume" }
  | { s: "task"; t: TaskRef }
  | { s: "result"; t: TaskRef }
  | { s: "task-op"; t: TaskRef; op: TaskOp }
  | { s: "callback"; t: TaskRef; op: "complete" | "heartbeat" }
  | { s: "rotate" }
  | { s: "fn-stats"; f: FnRef }
  | { s: "account-stats" }
  | { s: "metrics" }
  | { s: "unknown"; prefix: string; segs: Text[] };

export type ShapeName = Shape["s"];

/** The methods each route shape answers (HEAD is served like GET). Anything else is a wrong method. */
export const NATURAL_METHODS: Record<ShapeName, readonly string[]> = {
  root: ["GET"],
  accounts: ["POST", "GET"],
  account: ["GET", "PATCH"],
  keys: ["POST"],
  key: ["DELETE"],
  functions: ["GET"],
  function: ["PUT", "GET", "DELETE"],
  "fn-action": ["POST"],
  "fn-tasks": ["POST", "GET"],
  batch: ["POST"],
  bulk: ["POST"],
  task: ["GET", "DELETE"],
  result: ["GET"],
  "task-op": ["POST"],
  callback: ["POST"],
  rotate: ["POST"],
  "fn-stats": ["GET"],
  "account-stats": ["GET"],
  metrics: ["GET"],
  unknown: ["GET", "POST", "PUT", "DELETE"],
};
/** Methods workerd's fetch accepts (CONNECT and the like throw before anything is sent). */
export const ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "QUERY", "patch"];

/** Valid spellings of a good credential (RFC 7235: the scheme is case-insensitive; RFC 6750: `Bearer 1*SP token`). */
export type GoodForm = "plain" | "lower" | "upper" | "spaces" | "trailing";
export type AuthSpec =
  | { k: "none" }
  | { k: "key"; who: Who; form: GoodForm }
  | { k: "admin"; form: GoodForm }
  | { k: "revoked" }
  | { k: "near"; base: "A" | "admin"; how: NearMiss }
  | { k: "raw"; v: Text };
export type NearMiss =
  | "suffix"
  | "truncate"
  | "noscheme"
  | "twice"
  | "quoted"
  | "flip"
  | "tab"
  | "basic"
  | "comma"
  | "other-scheme";

/** Header values; `cb` is a well-formed but wrong `Sluice-Callback-Token` (`cb_<account>.<32 chars>`). */
export type HeaderValue = Text | { cb: AcctWho | "nobody"; secret: string };
export type HeaderSpec = [name: string, value: HeaderValue];

export type QueryPart = { n: string; v: string; raw?: boolean };
export type PathMut =
  | "none"
  | "trailing-slash"
  | "double-slash"
  | "upper"
  | "dot"
  | "suffix"
  | "glue"
  | "encoded-slash";

/** Structural mutations of a valid JSON body (node indexes wrap around the node count). */
export type Mut =
  | { m: "del"; at: number }
  | { m: "set"; at: number; v: unknown }
  | { m: "add"; at: number; key: string; v: unknown }
  | { m: "wrap" }
  | { m: "null" };
/** Textual mutations of the serialized body. */
export type TextMut =
  | { t: "truncate"; at: number }
  | { t: "append"; s: string }
  | { t: "insert"; at: number; s: string }
  | { t: "ws"; n: number }
  | { t: "bom" }
  | { t: "ctl"; at: number };

export type JsonBase =
  | { j: "value"; v: unknown }
  | { j: "account"; suffix: string; limits?: Record<string, number> }
  | { j: "bulk"; ids?: TaskRef[]; state?: string };

export type SizedShape =
  | "payload" // {"echo":"xxx…"}: any task payload
  | "junk" // n bytes of x: never JSON
  | "items-batch" // a valid batch whose items carry large string payloads
  | "ws-batch" // [{"payload":1}] padded with whitespace
  | "ws-account" // a valid account body padded with whitespace
  | "ws-spec" // a valid function spec padded with whitespace
  | "ws-bulk" // a valid bulk filter padded with whitespace
  | "complete"; // {"ok":true,"result":"xxx…"}

export type BodySpec =
  | { k: "none" }
  | { k: "json"; base: JsonBase; muts: Mut[]; text?: TextMut }
  | { k: "random-json"; v: unknown }
  | { k: "text"; s: string }
  | { k: "bytes"; b: number[] }
  | { k: "sized"; shape: SizedShape; n: number };

export type Transport =
  | { k: "fixed" }
  | { k: "chunked"; chunk: number; empties: boolean }
  | { k: "known-stream"; chunk: number };

export interface FuzzRequest {
  shape: Shape;
  method: string;
  pathMut: PathMut;
  query: QueryPart[];
  auth: AuthSpec;
  headers: HeaderSpec[];
  body: BodySpec;
  transport: Transport;
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers shared with the test file.

export function textOf(t: Text): string {
  if (typeof t === "string") return t;
  const pre = t.pre ?? "";
  const fill = Math.max(0, t.n - pre.length);
  return pre + t.rep.repeat(Math.ceil(fill / Math.max(1, t.rep.length))).slice(0, fill);
}

export function textLength(t: Text): number {
  return typeof t === "string" ? t.length : Math.max(t.n, (t.pre ?? "").length);
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
export const BASE64URL_ALPHABET = B64URL;

// ---------------------------------------------------------------------------------------------------------------------
// Building blocks.

const printableAscii = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Header-safe characters: printable ASCII, tab and a few control characters fetch lets through (never NUL, CR, LF). */
const headerChar = fc.oneof(
  { arbitrary: printableAscii, weight: 20 },
  { arbitrary: fc.constantFrom("\t", "\u0001", "\u001f", "\u007f"), weight: 1 },
);
const headerText = (maxLength: number, minLength = 0) => fc.string({ unit: headerChar, minLength, maxLength });
/** Unicode text without lone surrogates (so that it can be percent-encoded). */
const unicodeText = (maxLength: number) => fc.string({ unit: "grapheme", maxLength });
const anyText = (maxLength: number) =>
  fc.oneof(fc.string({ unit: "binary", maxLength }), unicodeText(maxLength), fc.string({ maxLength }));

const longLengths = fc.oneof(
  fc.constantFrom(257, 300, 1000, 4096, 8193, 70_000),
  fc.integer({ min: 300, max: 70_000 }),
);
const long = (rep: string, pre?: string): fc.Arbitrary<Long> =>
  longLengths.map((n) => (pre === undefined ? { rep, n } : { rep, n, pre }));

const smallJson = fc.jsonValue({ maxDepth: 2 });

/** Segments that are hostile to routers and decoders; put verbatim into the URL. */
const NASTY_SEGMENTS = [
  "",
  ".",
  "..",
  "%2e%2e",
  "%2E",
  "%",
  "%Z",
  "%ZZ",
  "%C3%28",
  "%E0%A4%A",
  "%00",
  "%2F",
  "a%2Fb",
  "%252F",
  "%2566z-one",
  "fz-one%20",
  "fz-one;x",
  "%3B",
  "%E2%80%AE",
  "%EF%BB%BF",
  "~",
  "*",
  "'",
  "(",
  "@",
  ":",
  "tasks:batch",
  "%3A",
  "%F0%9F%98%80",
  "é",
  "😀",
  "\\",
  "%5C",
  "fz-one%0A",
  "%09",
  "fz-one%2F..%2Ffz-two",
  "FZ-ONE",
  "fz-one.json",
  "%66%7A%2D%6F%6E%65",
] as const;
const nastySegment: fc.Arbitrary<Text> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_SEGMENTS), weight: 6 },
  { arbitrary: unicodeText(12).map((s) => encodeURIComponent(s)), weight: 2 },
  {
    arbitrary: fc.constantFrom<Long>(
      { rep: "a", n: 1000 },
      { rep: "a", n: 10_000 },
      { rep: "%41", n: 30_000 },
      { rep: "é", n: 5000 },
    ),
    weight: 1,
  },
);

// ---------------------------------------------------------------------------------------------------------------------
// References to fixtures.

const INVALID_NAMES = [
  "Fz-One",
  "-lead",
  "_under",
  "has space",
  "ünï",
  "emoji😀",
  "under_score",
  "a.b",
  "fz-one!",
  "x".repeat(64),
  "UPPER",
  "tab\tname",
  "semi;colon",
  "q?uery",
  "hash#",
  "slash/inside",
  "nul\u0000",
  "fz-one ",
  "ǅ",
  "١٢٣",
] as const;
export const fnRefArb = (forCreate: boolean): fc.Arbitrary<FnRef> =>
  fc.oneof(
    { arbitrary: fc.nat({ max: FIXTURE_FNS.length - 1 }).map((i) => ({ k: "fixture" as const, i })), weight: 8 },
    {
      arbitrary: fc.nat({ max: POOL_FNS.length - 1 }).map((i) => ({ k: "pool" as const, i })),
      weight: forCreate ? 4 : 2,
    },
    {
      arbitrary: fc
        .stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/)
        .map((s) => ({ k: "unknown" as const, name: `zz${s}`.slice(0, 63) })),
      weight: forCreate ? 0 : 2,
    },
    {
      arbitrary: fc
        .oneof(
          fc.constantFrom<Text>(...INVALID_NAMES),
          fc.constantFrom<Text>({ rep: "a", n: 64 }, { rep: "a", n: 5000 }, { rep: "é", n: 300 }),
          unicodeText(10).filter(
            (s) => s.length > 0 && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(s) && s !== "." && s !== "..",
          ),
        )
        .map((raw) => ({ k: "invalid" as const, raw })),
      weight: 3,
    },
    { arbitrary: fc.nat({ max: FIXTURE_FNS.length - 1 }).map((i) => ({ k: "encoded" as const, i })), weight: 1 },
    { arbitrary: nastySegment.map((seg) => ({ k: "seg" as const, seg })), weight: 1 },
  );

/** Setup creates this many tasks of the fuzz account (A) and of the foreign account (B); see fuzz.test.ts. */
export const TASK_POOL = { A: 9, B: 2 } as const;
const taskIndex = fc.nat({ max: TASK_POOL.A - 1 });
const b64urlChar = fc.constantFrom(...B64URL.split(""));
export const taskRefArb: fc.Arbitrary<TaskRef> = fc.oneof(
  { arbitrary: taskIndex.map((i) => ({ k: "pool" as const, who: "A" as const, i })), weight: 8 },
  { arbitrary: fc.nat({ max: TASK_POOL.B - 1 }).map((i) => ({ k: "pool" as const, who: "B" as const, i })), weight: 2 },
  {
    arbitrary: fc.record({ k: fc.constant("tamper" as const), i: taskIndex, pos: fc.nat(), ch: b64urlChar }),
    weight: 3,
  },
  { arbitrary: fc.record({ k: fc.constant("truncate" as const), i: taskIndex, n: fc.nat({ max: 60 }) }), weight: 1 },
  {
    arbitrary: fc.record({
      k: fc.constant("extend" as const),
      i: taskIndex,
      s: fc.string({ unit: b64urlChar, minLength: 1, maxLength: 8 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      k: fc.constant("reshard" as const),
      i: taskIndex,
      shard: fc.oneof(fc.constantFrom("shared:0", "shared:15", "dedicated:zz/x", "account:zz", "x"), unicodeText(8)),
    }),
    weight: 1,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom<Text>(
          "tsk_",
          "tsk_..",
          "tsk_a.b.c",
          "tsk_AAAA.AAAA.AAAA",
          "TSK_x",
          "tsk",
          "anything",
          "0",
          "-1",
          "null",
        ),
        fc.constantFrom<Text>(
          { rep: "A", n: 400, pre: "tsk_" },
          { rep: "A", n: 401, pre: "tsk_" },
          { rep: "A", n: 20_000, pre: "tsk_" },
        ),
        fc.string({ unit: b64urlChar, maxLength: 40 }).map((s) => `tsk_${s}`),
        unicodeText(16).map((s) => encodeURIComponent(s)),
      )
      .map((s) => ({ k: "garbage" as const, s })),
    weight: 2,
  },
  { arbitrary: nastySegment.map((seg) => ({ k: "seg" as const, seg })), weight: 1 },
);

const acctWho = fc.constantFrom<AcctWho>("A", "B", "V");
export const acctRefArb: fc.Arbitrary<AcctRef> = fc.oneof(
  { arbitrary: acctWho.map((who) => ({ k: "known" as const, who })), weight: 6 },
  {
    arbitrary: fc.stringMatching(/^[a-z0-9-]{1,20}$/).map((s) => ({ k: "unknown" as const, id: `zz${s}` })),
    weight: 2,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom<Text>("A", "a", "Upper-Case", "_x", "-x", "has space", "ünï", "x_y", "a.b"),
        fc.constantFrom<Text>({ rep: "a", n: 64 }, { rep: "a", n: 3000 }),
      )
      .map((raw) => ({ k: "invalid" as const, raw })),
    weight: 2,
  },
  { arbitrary: nastySegment.map((seg) => ({ k: "seg" as const, seg })), weight: 1 },
);
/** Key prefixes per account in the fixtures: A and B have 2 (the first is the key the suite uses), V has 3. */
export const PREFIX_POOL = { A: 2, B: 2, V: 3 } as const;
export const prefixRefArb: fc.Arbitrary<PrefixRef> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant("pool" as const), who: acctWho, i: fc.nat({ max: 2 }) }), weight: 5 },
  {
    arbitrary: fc.record({
      k: fc.constant("tamper" as const),
      who: acctWho,
      i: fc.nat({ max: 2 }),
      pos: fc.nat(),
      ch: b64urlChar,
    }),
    weight: 2,
  },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom<Text>("sk_", "sk_00000000", "x", "%", "..", { rep: "f", n: 5000 }),
        fc.string({ unit: b64urlChar, maxLength: 20 }),
      )
      .map((s) => ({ k: "garbage" as const, s })),
    weight: 2,
  },
);

// ---------------------------------------------------------------------------------------------------------------------
// Shapes.

const unknownPrefixes = [
  "/",
  "/v1/",
  "/v2/",
  "/v1/functions/fz-one/",
  // A schedule of a real function: routes the model leaves unjudged, still held to every property of the suite.
  "/v1/functions/fz-one/schedules/",
  "/v1/tasks/",
  "/v1/accounts/",
  "/v1/account/",
  "/V1/",
  "//",
];
export const shapeArbs = {
  root: fc.constant<Shape>({ s: "root" }),
  unknown: fc
    .record({
      prefix: fc.constantFrom(...unknownPrefixes),
      segs: fc.array(
        fc.oneof(
          nastySegment,
          unicodeText(10).map((s) => encodeURIComponent(s)),
          // Real routes the model leaves unjudged (schedules, the API docs, the dashboard) come up too: their answers
          // must still keep every property of the suite.
          fc.constantFrom("tasks", "x", "keys", "stats", "schedules", "docs", "openapi.json", "dashboard"),
        ),
        {
          minLength: 0,
          maxLength: 3,
        },
      ),
    })
    .map((r): Shape => ({ s: "unknown", prefix: r.prefix, segs: r.segs })),
  accounts: fc.constant<Shape>({ s: "accounts" }),
  account: acctRefArb.map((a): Shape => ({ s: "account", a })),
  keys: acctRefArb.map((a): Shape => ({ s: "keys", a })),
  key: fc.record({ a: acctRefArb, p: prefixRefArb }).map(({ a, p }): Shape => ({ s: "key", a, p })),
  functions: fc.constant<Shape>({ s: "functions" }),
  function: fnRefArb(false).map((f): Shape => ({ s: "function", f })),
  "function-put": fnRefArb(true).map((f): Shape => ({ s: "function", f })),
  "fn-action": fc
    .record({ f: fnRefArb(false), action: fc.constantFrom("pause" as const, "resume" as const) })
    .map((r): Shape => ({ s: "fn-action", ...r })),
  "fn-tasks": fnRefArb(false).map((f): Shape => ({ s: "fn-tasks", f })),
  batch: fnRefArb(false).map((f): Shape => ({ s: "batch", f })),
  bulk: fc
    .record({ f: fnRefArb(false), op: fc.constantFrom("cancel" as const, "pause" as const, "resume" as const) })
    .map((r): Shape => ({ s: "bulk", ...r })),
  task: taskRefArb.map((t): Shape => ({ s: "task", t })),
  result: taskRefArb.map((t): Shape => ({ s: "result", t })),
  "task-op": fc
    .record({ t: taskRefArb, op: fc.constantFrom<TaskOp>("cancel", "pause", "resume", "retry", "redeliver") })
    .map((r): Shape => ({ s: "task-op", ...r })),
  callback: fc
    .record({ t: taskRefArb, op: fc.constantFrom("complete" as const, "heartbeat" as const) })
    .map((r): Shape => ({ s: "callback", ...r })),
  rotate: fc.constant<Shape>({ s: "rotate" }),
  "fn-stats": fnRefArb(false).map((f): Shape => ({ s: "fn-stats", f })),
  "account-stats": fc.constant<Shape>({ s: "account-stats" }),
  metrics: fc.constant<Shape>({ s: "metrics" }),
} satisfies Record<string, fc.Arbitrary<Shape>>;

// ---------------------------------------------------------------------------------------------------------------------
// Auth.

const goodForm = fc.oneof(
  { arbitrary: fc.constant<GoodForm>("plain"), weight: 12 },
  { arbitrary: fc.constantFrom<GoodForm>("lower", "upper", "spaces", "trailing"), weight: 1 },
);
const nearMiss = fc.constantFrom<NearMiss>(
  "suffix",
  "truncate",
  "noscheme",
  "twice",
  "quoted",
  "flip",
  "tab",
  "basic",
  "comma",
  "other-scheme",
);
const rawBadAuth: fc.Arbitrary<Text> = fc.oneof(
  fc.constantFrom<Text>(
    "",
    "Bearer",
    "Bearer ",
    "Bearer sk_bogus",
    "Bearer sk_00000000_0000000000000000000000000000000000000000000",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "Bearer null",
    "Bearer undefined",
    "Bearer sk_",
    "sk_bogus",
    "Bearer %00",
    { rep: "x", n: 5000, pre: "Bearer " },
    { rep: "sk_", n: 70_000, pre: "Bearer " },
  ),
  headerText(60),
  headerText(40).map((s) => `Bearer ${s}`),
);
export type AuthMix = "admin" | "tenant" | "callback" | "any";
export function authArb(mix: AuthMix): fc.Arbitrary<AuthSpec> {
  const key = (who: Who) => goodForm.map((form): AuthSpec => ({ k: "key", who, form }));
  const adminA = goodForm.map((form): AuthSpec => ({ k: "admin", form }));
  const none = fc.constant<AuthSpec>({ k: "none" });
  const revoked = fc.constant<AuthSpec>({ k: "revoked" });
  const near = fc
    .record({ base: fc.constantFrom("A" as const, "admin" as const), how: nearMiss })
    .map((r): AuthSpec => ({ k: "near", ...r }));
  const raw = rawBadAuth.map((v): AuthSpec => ({ k: "raw", v }));
  const w = {
    admin: { a: 10, A: 2, B: 1, none: 2, revoked: 1, near: 2, raw: 2 },
    tenant: { a: 1, A: 12, B: 2, none: 2, revoked: 1, near: 2, raw: 2 },
    callback: { a: 1, A: 2, B: 1, none: 8, revoked: 0, near: 0, raw: 1 },
    any: { a: 3, A: 6, B: 1, none: 3, revoked: 1, near: 2, raw: 2 },
  }[mix];
  return fc.oneof(
    { arbitrary: adminA, weight: w.a },
    { arbitrary: key("A"), weight: w.A },
    { arbitrary: key("B"), weight: w.B },
    { arbitrary: none, weight: w.none },
    { arbitrary: revoked, weight: w.revoked },
    { arbitrary: near, weight: w.near },
    { arbitrary: raw, weight: w.raw },
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// Headers.

const contentTypeArb: fc.Arbitrary<Text> = fc.oneof(
  { arbitrary: fc.constantFrom<Text>("application/json", "application/json; charset=utf-8"), weight: 8 },
  {
    arbitrary: fc.constantFrom<Text>(
      "text/plain",
      "application/octet-stream",
      "application/problem+json",
      "application/vnd.fz+json",
      "text/csv; charset=latin1",
      "multipart/form-data; boundary=x",
      "image/png",
      "",
      " ",
      "application/json;;;",
      "*/*",
      "json",
      'a/b; c="d"',
      { rep: "x", n: 256, pre: "application/" },
      { rep: "x", n: 255, pre: "text/" },
    ),
    weight: 4,
  },
  { arbitrary: headerText(80), weight: 2 },
  { arbitrary: long("x", "application/"), weight: 2 },
  { arbitrary: long("; a=b", "application/json"), weight: 1 },
);
const idempotencyKeyArb: fc.Arbitrary<Text> = fc.oneof(
  { arbitrary: headerText(64, 1), weight: 6 },
  {
    arbitrary: fc.constantFrom<Text>("", " ", "\t", "same-key", "same-key", { rep: "k", n: 256 }, { rep: "k", n: 257 }),
    weight: 3,
  },
  { arbitrary: long("k"), weight: 1 },
);
const delayArb: fc.Arbitrary<Text> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 5 }).map(String), weight: 4 },
  {
    arbitrary: fc.constantFrom<Text>(
      "604800",
      "604801",
      "-1",
      "1.5",
      "1e3",
      "abc",
      "",
      " 3 ",
      "+5",
      "99999999999999999999",
      "0x10",
      "5s",
      "NaN",
      "Infinity",
      "00000007",
      "3600",
      "1,2",
      { rep: "9", n: 300 },
    ),
    weight: 4,
  },
  { arbitrary: headerText(12), weight: 1 },
);
const fairnessArb: fc.Arbitrary<Text> = fc.oneof(
  { arbitrary: headerText(40, 1), weight: 4 },
  { arbitrary: fc.constantFrom<Text>("", " ", { rep: "f", n: 256 }, { rep: "f", n: 257 }), weight: 1 },
  { arbitrary: long("f"), weight: 1 },
);
/** `Prefer` values: the number after `wait=` never exceeds 2, so a held answer cannot outlast the hang bound. */
const preferArb: fc.Arbitrary<Text> = fc.oneof(
  fc.constantFrom<Text>(
    "wait=0",
    "wait=1",
    "wait=2",
    "wait=abc",
    "wait=-1",
    "wait=",
    "respond-async",
    "return=minimal",
    "wait=1, respond-async",
    "respond-async; wait=1",
    "wait=1.5",
    "WAIT=1",
    "handling=strict",
    { rep: "x", n: 9000, pre: "wait=0;" },
  ),
  headerText(30).filter((s) => !/wait=\d*[3-9]|wait=\d{2,}/i.test(s)),
);
const callbackTokenArb: fc.Arbitrary<HeaderValue> = fc.oneof(
  {
    arbitrary: fc.record({
      cb: fc.constantFrom<AcctWho | "nobody">("A", "B", "V", "nobody"),
      secret: fc.string({ unit: b64urlChar, minLength: 32, maxLength: 32 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.constantFrom<Text>("", "cb_", "cb_x.y", "Bearer x", { rep: "t", n: 5000 }), weight: 2 },
  { arbitrary: headerText(60), weight: 1 },
);
const extraHeaderArb: fc.Arbitrary<HeaderSpec> = fc.tuple(
  fc.constantFrom(
    "x-fuzz",
    "accept",
    "accept-encoding",
    "traceparent",
    "sluice-task-id",
    "sluice-attempt",
    "origin",
    "cookie",
    "range",
    "content-encoding",
    "if-match",
    "x-forwarded-for",
  ),
  fc.oneof(
    headerText(60),
    fc.constantFrom<Text>("gzip", "*/*", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "bytes=0-1", {
      rep: "h",
      n: 9000,
    }),
  ),
);
export const headersArb = (forSubmit: boolean, forCallback: boolean): fc.Arbitrary<HeaderSpec[]> =>
  fc.array(
    fc.oneof(
      { arbitrary: contentTypeArb.map((v): HeaderSpec => ["content-type", v]), weight: 6 },
      { arbitrary: idempotencyKeyArb.map((v): HeaderSpec => ["idempotency-key", v]), weight: forSubmit ? 4 : 1 },
      { arbitrary: delayArb.map((v): HeaderSpec => ["sluice-delay", v]), weight: forSubmit ? 4 : 1 },
      { arbitrary: fairnessArb.map((v): HeaderSpec => ["sluice-fairness-key", v]), weight: forSubmit ? 2 : 1 },
      { arbitrary: preferArb.map((v): HeaderSpec => ["prefer", v]), weight: forSubmit ? 2 : 1 },
      { arbitrary: callbackTokenArb.map((v): HeaderSpec => ["sluice-callback-token", v]), weight: forCallback ? 8 : 1 },
      { arbitrary: extraHeaderArb, weight: 1 },
    ),
    { maxLength: 4 },
  );

// ---------------------------------------------------------------------------------------------------------------------
// Query strings.

const stateValues = ["accepted", "queued", "paused", "running", "succeeded", "failed", "cancelled", "expired"];
const queryValueArb = (n: string): fc.Arbitrary<QueryPart> => {
  const values: Record<string, fc.Arbitrary<string>> = {
    state: fc.oneof(
      fc.constantFrom(...stateValues),
      fc.constantFrom("QUEUED", "bogus", "", "queued,failed", " queued"),
      unicodeText(6),
    ),
    limit: fc.oneof(
      fc.integer({ min: 1, max: 1000 }).map(String),
      fc.constantFrom("0", "-1", "1001", "abc", "1.5", "", "1e2", "99999999999999999999", " 5", "0x10", "NaN"),
    ),
    cursor: fc.oneof(
      fc.constantFrom("", "%ZZ", "eyJzIjowfQ", "eyJzIjo5OTl9", "eyJhZnRlciI6Inp6In0", "bnVsbA", "e30", "x".repeat(300)),
      fc.string({ unit: b64urlChar, maxLength: 40 }),
    ),
  };
  const value = values[n] ?? headerText(20);
  return fc.tuple(value, fc.boolean()).map(([v, raw]) => (raw && /%/.test(v) ? { n, v, raw } : { n, v }));
};
export const listQueryArb: fc.Arbitrary<QueryPart[]> = fc
  .record({
    state: fc.option(queryValueArb("state")),
    limit: fc.option(queryValueArb("limit")),
    cursor: fc.option(queryValueArb("cursor")),
  })
  .map((r) => [r.state, r.limit, r.cursor].filter((q): q is QueryPart => q !== null));
export const noiseQueryArb: fc.Arbitrary<QueryPart[]> = fc.oneof(
  { arbitrary: fc.constant<QueryPart[]>([]), weight: 12 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom("x", "limit", "state", "", "a[]", "%ZZ"), headerText(12))
      .map(([n, v]) => [{ n, v }]),
    weight: 1,
  },
);

// ---------------------------------------------------------------------------------------------------------------------
// Bodies.

const mutArb: fc.Arbitrary<Mut> = fc.oneof(
  fc.record({ m: fc.constant("del" as const), at: fc.nat() }),
  fc.record({ m: fc.constant("set" as const), at: fc.nat(), v: smallJson }),
  fc.record({ m: fc.constant("add" as const), at: fc.nat(), key: unicodeText(8), v: smallJson }),
  fc.constant<Mut>({ m: "wrap" }),
  fc.constant<Mut>({ m: "null" }),
);
const textMutArb: fc.Arbitrary<TextMut> = fc.oneof(
  fc.record({ t: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ t: fc.constant("append" as const), s: anyText(8) }),
  fc.record({ t: fc.constant("insert" as const), at: fc.nat(), s: anyText(4) }),
  fc.record({ t: fc.constant("ws" as const), n: fc.nat({ max: 64 }) }),
  fc.constant<TextMut>({ t: "bom" }),
  fc.record({ t: fc.constant("ctl" as const), at: fc.nat() }),
);

export type BodyKind = "account" | "patch" | "spec" | "payload" | "batch" | "bulk" | "complete" | "none";

const destinationArb = fc.oneof(
  fc.constant({ type: "r2", prefix: "fz" }),
  fc.constant({ type: "r2" }),
  fc.constant({ type: "queue", queue: "RESULTS" }),
  fc.constant({ type: "webhook", url: "http://127.0.0.1:9/fz-hook" }),
);
/** Function specs that API.md says are valid (values chosen well inside any sane range; never a chained destination). */
const validSpecArb = fc
  .record(
    {
      timeoutMs: fc.integer({ min: 1000, max: 60_000 }),
      maxConcurrency: fc.integer({ min: 1, max: 100 }),
      retry: fc
        .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 10, max: 5000 }), fc.integer({ min: 0, max: 5000 }))
        .map(([maxAttempts, a, b]) => ({ maxAttempts, initialBackoffMs: a, maxBackoffMs: a + b })),
      maxEventAgeSeconds: fc.integer({ min: 60, max: 86_400 }),
      dedupWindowSeconds: fc.integer({ min: 0, max: 86_400 }),
      retentionSeconds: fc.integer({ min: 86_400, max: 7_776_000 }),
      destinations: fc.record({ onSuccess: destinationArb, onFailure: destinationArb }, { requiredKeys: [] }),
      isolation: fc.constantFrom("auto", "shared", "account", "dedicated"),
    },
    { requiredKeys: [] },
  )
  .map((spec) => ({ target: { type: "service", service: "DEMO_FN" }, ...spec }));
const batchItemArb = fc.record(
  {
    payload: fc.oneof(smallJson, fc.record({ echo: unicodeText(20) })),
    idempotencyKey: unicodeText(32).filter((s) => s.length > 0),
    delaySeconds: fc.integer({ min: 0, max: 3600 }),
    fairnessKey: unicodeText(32).filter((s) => s.length > 0),
  },
  { requiredKeys: ["payload"] },
);
const completionArb = fc.oneof(
  fc.constant({ ok: true }),
  fc.record({ ok: fc.constant(true), result: smallJson }),
  fc.record({ ok: fc.constant(false), error: unicodeText(40) }),
  fc.record({ ok: fc.constant(false), error: fc.record({ message: unicodeText(40) }), retryable: fc.boolean() }),
);
export function validJsonArb(kind: Exclude<BodyKind, "none">): fc.Arbitrary<JsonBase> {
  switch (kind) {
    case "account":
      return fc
        .record(
          {
            suffix: fc.stringMatching(/^[a-z0-9]{8,12}$/),
            limits: fc.record(
              { submitPerSecond: fc.integer({ min: 1, max: 1000 }), maxConcurrency: fc.integer({ min: 1, max: 1000 }) },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: ["suffix"] },
        )
        .map((r): JsonBase => ({ j: "account", ...r }));
    case "patch":
      // Generous limits only: PATCH may hit an account the suite submits with.
      return fc
        .record({
          limits: fc.record(
            {
              submitPerSecond: fc.integer({ min: 100_000, max: 1_000_000 }),
              maxConcurrency: fc.integer({ min: 1000, max: 100_000 }),
            },
            { requiredKeys: [] },
          ),
        })
        .map((v): JsonBase => ({ j: "value", v }));
    case "spec":
      return validSpecArb.map((v): JsonBase => ({ j: "value", v }));
    case "payload":
      return fc.oneof(fc.record({ echo: smallJson }), smallJson).map((v): JsonBase => ({ j: "value", v }));
    case "batch":
      return fc.array(batchItemArb, { minLength: 1, maxLength: 5 }).map((v): JsonBase => ({ j: "value", v }));
    case "bulk":
      return fc
        .record(
          { ids: fc.array(taskRefArb, { minLength: 1, maxLength: 3 }), state: fc.constantFrom("queued", "paused") },
          { requiredKeys: [] },
        )
        .filter((r) => r.ids !== undefined || r.state !== undefined)
        .map((r): JsonBase => ({ j: "bulk", ...r }));
    case "complete":
      return completionArb.map((v): JsonBase => ({ j: "value", v }));
  }
}

const mediumSize = fc.oneof(fc.constantFrom(65_535, 65_536, 65_537), fc.integer({ min: 60_000, max: 200_000 }));
const MEDIUM_SHAPE: Record<Exclude<BodyKind, "none">, SizedShape> = {
  account: "ws-account",
  patch: "junk",
  spec: "ws-spec",
  payload: "payload",
  batch: "items-batch",
  bulk: "ws-bulk",
  complete: "complete",
};

/** Bodies for an endpoint: mostly valid or mutated-valid JSON, and the odd random value, text, bytes or empty body. */
export function bodyArb(kind: BodyKind): fc.Arbitrary<BodySpec> {
  const none = fc.constant<BodySpec>({ k: "none" });
  const randomJson = fc.jsonValue({ maxDepth: 3 }).map((v): BodySpec => ({ k: "random-json", v }));
  const text = anyText(60).map((s): BodySpec => ({ k: "text", s }));
  const bytes = fc.uint8Array({ maxLength: 200 }).map((b): BodySpec => ({ k: "bytes", b: [...b] }));
  if (kind === "none") {
    return fc.oneof(
      { arbitrary: none, weight: 10 },
      { arbitrary: text, weight: 1 },
      { arbitrary: randomJson, weight: 1 },
      { arbitrary: bytes, weight: 1 },
    );
  }
  const valid = validJsonArb(kind);
  return fc.oneof(
    { arbitrary: valid.map((base): BodySpec => ({ k: "json", base, muts: [] })), weight: 6 },
    {
      arbitrary: fc
        .record({
          base: valid,
          muts: fc.array(mutArb, { minLength: 0, maxLength: 2 }),
          text: fc.option(textMutArb, { nil: undefined }),
        })
        .filter((r) => r.muts.length > 0 || r.text !== undefined)
        .map(
          (r): BodySpec =>
            r.text === undefined
              ? { k: "json", base: r.base, muts: r.muts }
              : { k: "json", base: r.base, muts: r.muts, text: r.text },
        ),
      weight: 5,
    },
    { arbitrary: randomJson, weight: 1 },
    { arbitrary: text, weight: 1 },
    { arbitrary: bytes, weight: 1 },
    { arbitrary: none, weight: 1 },
    { arbitrary: mediumSize.map((n): BodySpec => ({ k: "sized", shape: MEDIUM_SHAPE[kind], n })), weight: 1 },
  );
}

export const transportArb: fc.Arbitrary<Transport> = fc.oneof(
  { arbitrary: fc.constant<Transport>({ k: "fixed" }), weight: 6 },
  {
    arbitrary: fc.record({
      k: fc.constant("chunked" as const),
      chunk: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.constant(65_536)),
      empties: fc.boolean(),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ k: fc.constant("known-stream" as const), chunk: fc.constantFrom(1024, 65_536) }),
    weight: 1,
  },
);

const pathMutArb: fc.Arbitrary<PathMut> = fc.oneof(
  { arbitrary: fc.constant<PathMut>("none"), weight: 30 },
  {
    arbitrary: fc.constantFrom<PathMut>(
      "trailing-slash",
      "double-slash",
      "upper",
      "dot",
      "suffix",
      "glue",
      "encoded-slash",
    ),
    weight: 3,
  },
);

/** The body an endpoint takes, by shape and method. */
export function bodyKindOf(shape: Shape, method: string): BodyKind {
  if (method === "GET" || method === "HEAD") return "none";
  switch (shape.s) {
    case "accounts":
      return method === "POST" ? "account" : "none";
    case "account":
      // The accounts the suite works with only ever get bodies that cannot change their limits.
      return method === "PATCH" && !(shape.a.k === "known" && shape.a.who !== "V") ? "patch" : "none";
    case "function":
      return method === "PUT" ? "spec" : "none";
    case "fn-tasks":
      return method === "POST" ? "payload" : "none";
    case "batch":
      return method === "POST" ? "batch" : "none";
    case "bulk":
      return method === "POST" ? "bulk" : "none";
    case "callback":
      return method === "POST" && shape.op === "complete" ? "complete" : "none";
    default:
      return "none";
  }
}

function authMixOf(shape: Shape): AuthMix {
  switch (shape.s) {
    case "accounts":
    case "account":
    case "keys":
    case "key":
      return "admin";
    case "callback":
      return "callback";
    case "root":
    case "unknown":
      return "any";
    default:
      return "tenant";
  }
}

/** A whole request for a route shape: mostly its own methods, now and then any other. */
export function requestArb(
  shapeArb: fc.Arbitrary<Shape>,
  methodBias?: string,
  exclude: readonly string[] = [],
): fc.Arbitrary<FuzzRequest> {
  return shapeArb.chain((shape) => {
    const natural = NATURAL_METHODS[shape.s].filter((m) => !exclude.includes(m));
    const naturalArb =
      methodBias && natural.includes(methodBias) ? fc.constant(methodBias) : fc.constantFrom(...natural);
    const methodArb = fc.oneof(
      { arbitrary: naturalArb, weight: 12 },
      { arbitrary: fc.constantFrom(...(natural.includes("GET") ? ["HEAD"] : natural)), weight: 1 },
      { arbitrary: fc.constantFrom(...ALL_METHODS.filter((m) => !exclude.includes(m))), weight: 2 },
    );
    return methodArb.chain((method) => {
      const kind = bodyKindOf(shape, method);
      const isList =
        (shape.s === "fn-tasks" || shape.s === "functions" || shape.s === "accounts") &&
        (method === "GET" || method === "HEAD");
      return fc.record({
        shape: fc.constant(shape),
        method: fc.constant(method),
        pathMut: pathMutArb,
        query: isList ? listQueryArb : noiseQueryArb,
        auth: authArb(authMixOf(shape)),
        headers: headersArb(shape.s === "fn-tasks" && method === "POST", shape.s === "callback"),
        body: method === "GET" || method === "HEAD" ? fc.constant<BodySpec>({ k: "none" }) : bodyArb(kind),
        transport: transportArb,
      });
    });
  });
}

/** Requests whose body sits right at, just under or just over its limit (few: each costs megabytes). */
export interface LimitCase {
  target: "payload" | "batch-ws" | "batch-items" | "spec" | "account" | "bulk" | "complete" | "junk-json";
  delta: -1 | 0 | 1 | 65_536 | 3_145_728;
  transport: Transport;
  auth: "good" | "bad";
}
export const limitCaseArb: fc.Arbitrary<LimitCase> = fc.record({
  target: fc.constantFrom<LimitCase["target"]>(
    "payload",
    "batch-ws",
    "spec",
    "batch-items",
    "account",
    "bulk",
    "complete",
    "junk-json",
  ),
  // 3 MiB over the limit, streamed, is what shows whether reading stops at the limit: it is picked most often.
  delta: fc.oneof(
    { arbitrary: fc.constant<LimitCase["delta"]>(3_145_728), weight: 3 },
    { arbitrary: fc.constantFrom<LimitCase["delta"]>(1, 0, -1, 65_536), weight: 4 },
  ),
  transport: fc.oneof(
    { arbitrary: fc.constant<Transport>({ k: "chunked", chunk: 65_536, empties: false }), weight: 2 },
    { arbitrary: fc.constantFrom<Transport>({ k: "fixed" }, { k: "known-stream", chunk: 65_536 }), weight: 2 },
  ),
  auth: fc.constantFrom<LimitCase["auth"]>("good", "good", "good", "bad"),
});
