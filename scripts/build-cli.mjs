// Builds the command line and the client library into dist/ (git-ignored). Runs as the `prepare` script, so a plain
// `npm install` leaves `npx sluice` and `import "sluice/client"` ready on Node 20 and 22 alike: both are TypeScript
// (typed with the gateway's zod schemas), and Node 20 cannot run TypeScript itself.
//   dist/cli.mjs             the CLI, one bundle with its dependencies (commander, cli-progress, zod): starts fast
//   dist/client/index.js     the client as ESM for any runtime (Node, browsers, Workers); zod stays a dependency
//   dist/types/…             declarations of the client, for `sluice/client` users on TypeScript
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

export async function buildCli({ declarations = true } = {}) {
  rmSync(`${root}/dist`, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: ["cli/bin.ts"],
    outfile: "dist/cli.mjs",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    // commander and cli-progress are CommonJS and require() Node built-ins; an ESM bundle needs a require for them.
    banner: {
      js: "import { createRequire as __sluiceRequire } from 'node:module'; const require = __sluiceRequire(import.meta.url);",
    },
  });
  await build({
    absWorkingDir: root,
    entryPoints: ["src/client/index.ts"],
    outfile: "dist/client/index.js",
    bundle: true,
    platform: "neutral",
    format: "esm",
    target: "es2022",
    external: ["zod"],
    logLevel: "warning",
  });
  if (declarations) {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.client.json"], { cwd: root, stdio: "inherit" });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
