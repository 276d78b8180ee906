/**
 * @module
 * The executable behind `npx sluice` (bundled to dist/cli.mjs by scripts/build-cli.mjs; bin/sluice.mjs loads it).
 */

import { run } from "./main";

process.exitCode = await run(process.argv, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  interactive: process.stderr.isTTY === true,
});
