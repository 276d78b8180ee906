/**
 * @module
 * The `sluice` command line: one commander program, one command module per area (cli/commands/), and one place
 * that turns errors into a line on stderr and an exit code (0 ok, 1 failed, 2 usage). `run` takes its I/O as an
 * argument, so it can be driven in-process; cli/bin.ts is the executable.
 */

import { Command, CommanderError } from "commander";
import { registerFunctions } from "./commands/functions";
import { registerSchedules } from "./commands/schedules";
import { registerStatus } from "./commands/status";
import { registerSubmit } from "./commands/submit";
import { registerTasks } from "./commands/tasks";
import { DEFAULT_URL, describeError, exitCodeOf, type Io } from "./context";
import { parseBaseUrl } from "./options";

export const VERSION = "0.1.0";

export function program(io: Io): Command {
  const root = new Command("sluice")
    .description("Command line for the Sluice task platform (tenant API)")
    .version(VERSION)
    .option("--url <url>", `base URL of the platform (env SLUICE_URL, default ${DEFAULT_URL})`, parseBaseUrl)
    .option("--key <apiKey>", "tenant API key (env SLUICE_API_KEY; prefer the variable: arguments show in ps)")
    .option("--json", "machine-readable output: one JSON document on stdout")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerSubmit(root, io);
  registerStatus(root, io);
  registerTasks(root, io);
  registerFunctions(root, io);
  registerSchedules(root, io);
  // Subcommands (and theirs: `schedule set`) inherit the error handling and output of the root.
  const inherit = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput(root.configureOutput());
      inherit(sub);
    }
  };
  inherit(root);
  return root;
}

/** Run the CLI on `argv` (as `process.argv`: node, script, args…); resolves to the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const root = program(io);
  try {
    await root.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; commander already printed usage errors.
      return error.exitCode === 0 ? 0 : 2;
    }
    const json = root.opts<{ json?: boolean }>().json === true;
    const key = root.opts<{ key?: string }>().key ?? io.env.SLUICE_API_KEY;
    const line = describeError(error, json);
    io.err(`${key ? line.split(key).join("[api key]") : line}\n`);
    return exitCodeOf(error);
  }
}
