// `npm run simulate`: bundle sim/simulate.ts (and the src/ modules it runs) with esbuild, then run it in this Node.

import { pathToFileURL } from "node:url";
import { buildSync } from "esbuild";

const outfile = ".wrangler/sim/simulate.mjs";
buildSync({
  entryPoints: ["sim/simulate.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile,
  logLevel: "warning",
});
await import(pathToFileURL(outfile).href);
