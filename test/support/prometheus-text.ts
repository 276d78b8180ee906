/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it throws on anything `promtool check
 * metrics` refuses (and on a few things it only lints), and returns the samples. Rules, from the format's
 * description (prometheus.io/docs/instrumenting/exposition_formats):
 * - metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` not starting with `__`;
 * - label values quoted, with only `\\`, `\"` and `\n` as escapes; no label twice in a sample;
 * - at most one `# HELP` and one `# TYPE` per family, the TYPE before the family's first sample, every sample of a
 *   family in one group (a family's name seen again after another family is an error);
 * - no series (name and label set) twice;
 * - counters end in `_total` and are ≥ 0 (promtool's lint);
 * - histograms: per label set, `_bucket` series with `le` ascending and counts not decreasing, an `le="+Inf"` bucket
 *   equal to `_count`, and a `_sum`; `le` only on buckets.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help?: string;
  samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

/** Parse `{a="x",b="y"}` starting at `i`; returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (line[i] !== "}") {
    const nameMatch = /^[^=]*/.exec(line.slice(i));
    const name = nameMatch?.[0] ?? "";
    if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new Error(`bad label name "${name}" in: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    i += name.length;
    if (line[i] !== "=" || line[i + 1] !== '"') throw new Error(`expected ="..." in: ${line}`);
    i += 2;
    let value = "";
    for (;;) {
      const ch = line[i];
      if (ch === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (ch === '"') break;
      if (ch === "\\") {
        const next = line[i + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else throw new Error(`bad escape \\${next} in: ${line}`);
        i += 2;
        continue;
      }
      value += ch;
      i++;
    }
    labels[name] = value;
    i++;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, end: i + 1 };
}

function familyOf(sampleName: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length);
      if (types.get(base) === "histogram" || types.get(base) === "summary") return base;
    }
  }
  return sampleName;
}

export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text !== "" && !text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, ParsedFamily>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let currentFamily: string | undefined;
  const enter = (name: string) => {
    if (currentFamily !== name) {
      if (closed.has(name)) throw new Error(`family ${name} is not in one group`);
      if (currentFamily !== undefined) closed.add(currentFamily);
      currentFamily = name;
    }
  };
  for (const line of text.split("\n").slice(0, -1)) {
    if (line === "") throw new Error("empty line");
    if (line.startsWith("#")) {
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!meta) continue; // a plain comment
      const [, kind, name = "", rest = ""] = meta;
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      enter(name);
      const family = families.get(name) ?? { name, type: "untyped", samples: [] };
      families.set(name, family);
      if (kind === "HELP") {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`);
        helps.add(name);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) throw new Error(`bad escape in HELP: ${line}`);
        family.help = rest;
      } else {
        if (types.has(name)) throw new Error(`second TYPE for ${name}`);
        if (family.samples.length > 0) throw new Error(`TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`unknown type in: ${line}`);
        types.set(name, rest);
        family.type = rest;
      }
      continue;
    }
    const nameMatch = /^[^\s{]+/.exec(line);
    const name = nameMatch?.[0] ?? "";
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      const parsed = parseLabels(line, name.length);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3) throw new Error(`bad sample line: ${line}`);
    const value = parseValue(parts[1] ?? "", line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`bad timestamp in: ${line}`);
    const family = familyOf(name, types);
    enter(family);
    const key = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
    if (series.has(key)) throw new Error(`duplicate series ${key}`);
    series.add(key);
    const entry = families.get(family) ?? { name: family, type: "untyped", samples: [] };
    families.set(family, entry);
    entry.samples.push({ name, labels, value });
  }
  for (const family of families.values()) checkFamily(family);
  return families;
}

function checkFamily(family: ParsedFamily): void {
  if (family.type === "counter") {
    if (!family.name.endsWith("_total")) throw new Error(`counter ${family.name} should end in _total`);
    for (const s of family.samples) if (!(s.value >= 0)) throw new Error(`counter ${family.name} below 0`);
  }
  if (family.type !== "histogram") {
    for (const s of family.samples) if ("le" in s.labels) throw new Error(`le on non-histogram ${s.name}`);
    return;
  }
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const id = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(id) ?? { buckets: [] };
    groups.set(id, group);
    if (s.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`bucket without le in ${family.name}`);
      group.buckets.push([parseValue(le, le), s.value]);
    } else if (le !== undefined) throw new Error(`le on ${s.name}`);
    else if (s.name === `${family.name}_sum`) group.sum = s.value;
    else if (s.name === `${family.name}_count`) group.count = s.value;
    else throw new Error(`unexpected sample ${s.name} in histogram ${family.name}`);
  }
  for (const [id, group] of groups) {
    const last = group.buckets[group.buckets.length - 1];
    if (!last || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${id}: no +Inf bucket`);
    for (let i = 1; i < group.buckets.length; i++) {
      const [lePrev, nPrev] = group.buckets[i - 1] as [number, number];
      const [le, n] = group.buckets[i] as [number, number];
      if (!(le > lePrev)) throw new Error(`${family.name}${id}: le not ascending`);
      if (n < nPrev) throw new Error(`${family.name}${id}: bucket counts decrease`);
    }
    if (group.sum === undefined || group.count === undefined) throw new Error(`${family.name}${id}: no _sum or _count`);
    if (group.count !== last[1]) throw new Error(`${family.name}${id}: _count differs from the +Inf bucket`);
  }
}

/** The value of one series, or undefined. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  family: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const wanted = Object.entries(labels);
  return families
    .get(family)
    ?.samples.find(
      (s) =>
        s.name === name &&
        wanted.every(([k, v]) => s.labels[k] === v) &&
        Object.keys(s.labels).length === wanted.length,
    )?.value;
}
