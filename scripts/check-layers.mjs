// The layering rules of the code base, checked on every `npm test` (docs/architecture.md, "Layers"):
//   src/             the pure domain: no runtime (cloudflare:*), no web framework, no shell, no tests
//   durable-objects/ may use src/ and workers/platform/, never the gateway or the consumers
//   workers/platform/ is shared by every shell: it uses src/ only (and other platform files)
//   workers/gateway/  is reached only from workers/index.ts
//   sim/             the placement simulation: src/ only (no runtime, no shell)
//   nothing outside test/ imports a test
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = process.cwd();

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(ts|mjs|js)$/.test(path)) out.push(path);
  }
  return out;
}

/** Every import specifier of a file, resolved to a repository path when it is relative. */
function imports(path) {
  const text = readFileSync(path, "utf8");
  const found = [];
  for (const match of text.matchAll(
    /(?:^|\n)\s*(?:import|export)[^"'`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)/g,
  )) {
    const spec = match[1] ?? match[2];
    const resolved = spec.startsWith(".") ? relative(ROOT, normalize(join(dirname(path), spec))) : spec;
    found.push({ spec, resolved });
  }
  return found;
}

const rules = [
  {
    where: "src/",
    forbid: (r) =>
      /^cloudflare:/.test(r) ||
      /^hono(\/|$)/.test(r) ||
      /^@hono\//.test(r) ||
      /^(workers|durable-objects|test)\//.test(r),
    why: "src/ is the pure domain: no runtime, framework, shell or test imports",
  },
  {
    where: "durable-objects/",
    forbid: (r) => /^workers\/(?!platform\/)/.test(r) || /^test\//.test(r),
    why: "a Durable Object may use src/ and workers/platform/ only",
  },
  {
    where: "workers/platform/",
    forbid: (r) => /^workers\/(?!platform\/)/.test(r) || /^durable-objects\//.test(r) || /^test\//.test(r),
    why: "workers/platform/ is shared by every shell and depends on none",
  },
  {
    where: "workers/consumers/",
    forbid: (r) => /^workers\/gateway\//.test(r) || /^test\//.test(r),
    why: "queue consumers do not depend on the HTTP gateway",
  },
  {
    where: "workers/gateway/",
    forbid: (r) => /^workers\/consumers\//.test(r) || /^durable-objects\//.test(r) || /^test\//.test(r),
    why: "the gateway talks to Durable Objects through their bindings, never by importing them",
  },
  {
    where: "cli/",
    forbid: (r) => /^cloudflare:/.test(r) || /^(workers|durable-objects|test)\//.test(r) || /^hono(\/|$)/.test(r),
    why: "the CLI is a client of the public API: it uses src/client (and pure src/), never the Worker's code",
  },
  {
    where: "src/client/",
    forbid: (r) => /^src\/(shard|invoker|registry|delivery-lane)\//.test(r),
    why: "the client library runs anywhere: it uses only the pure schemas and vocabularies of src/",
  },
  {
    where: "sim/",
    forbid: (r) => /^cloudflare:/.test(r) || /^(workers|durable-objects|test)\//.test(r),
    why: "the simulation runs the pure policy and scheduler of src/ only, with no runtime",
  },
  {
    where: "bench/",
    forbid: (r) => /^test\//.test(r),
    why: "nothing outside test/ imports a test",
  },
];

const offences = [];
for (const dir of ["src", "durable-objects", "workers", "bench", "scripts", "cli", "sim"]) {
  for (const path of files(dir)) {
    const rel = relative(ROOT, path);
    for (const { resolved } of imports(path)) {
      for (const rule of rules) {
        if (rel.startsWith(rule.where) && rule.forbid(resolved))
          offences.push(`${rel}: imports ${resolved} (${rule.why})`);
      }
    }
  }
}

if (offences.length > 0) {
  console.error(`layering check failed:\n${offences.join("\n")}`);
  process.exit(1);
}
console.log("layering check passed");
