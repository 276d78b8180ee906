// Builds the dashboard (GET /dashboard) into build/dashboard/, the Workers Static Assets directory wrangler.toml
// names (git-ignored; outside dist/, which build-cli.mjs empties, also from the CLI tests). Runs with `prepare` and `build`.
//   build/dashboard/dashboard.html            the page (served at /dashboard)
//   build/dashboard/_headers                  Content-Security-Policy and other headers for the page
//   build/dashboard/dashboard-assets/app.js   dashboard/app.js bundled with uPlot
//   build/dashboard/dashboard-assets/app.css  uPlot's stylesheet and dashboard/style.css
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}/build/dashboard`;

export async function buildDashboard() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(`${out}/dashboard-assets`, { recursive: true });
  copyFileSync(`${root}/dashboard/dashboard.html`, `${out}/dashboard.html`);
  copyFileSync(`${root}/dashboard/_headers`, `${out}/_headers`);
  await build({
    absWorkingDir: root,
    entryPoints: ["dashboard/app.js"],
    outdir: "build/dashboard/dashboard-assets",
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildDashboard();
