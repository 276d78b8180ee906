#!/usr/bin/env node
// `npx sluice`: runs the CLI bundled by `npm install` (the `prepare` script, scripts/build-cli.mjs) into dist/cli.mjs.
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli.mjs", import.meta.url);
if (!existsSync(entry)) {
  console.error("sluice: the CLI is not built yet; run `npm install` (or `npm run build`) in the repository first");
  process.exit(1);
}
await import(entry.href);
