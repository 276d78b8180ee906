// Fails when the domain in src/ imports the runtime, the web framework or the shells around it, so the pure core
// stays testable without workerd (STYLE.md: "Pure core, thin shells").
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const forbidden = [/^cloudflare:/, /^hono(\/|$)/, /^@hono\//, /\/workers\//, /\/durable-objects\//];
const offences = [];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith(".ts")) {
      for (const match of readFileSync(path, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
        if (forbidden.some((pattern) => pattern.test(match[1]))) offences.push(`${path}: imports ${match[1]}`);
      }
    }
  }
}

walk("src");
if (offences.length > 0) {
  console.error(`src/ must not import the runtime or the shells:\n${offences.join("\n")}`);
  process.exit(1);
}
console.log("src/ is free of runtime imports");
