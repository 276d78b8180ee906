/**
 * @module
 * Schedules from the command line: `sluice schedules <fn>` lists a function's schedules; `sluice schedule set|show|
 * pause|resume|delete <fn> <id>` edits one (API.md "Schedules"). `set` replaces the whole schedule, as the API's PUT
 * does; `pause` and `resume` keep its timetable and payload (a read, then a replacement).
 */

import type { Command } from "commander";
import type { Schedule, ScheduleSpec } from "../../src/client";
import { Context, type Io, UsageError } from "../context";
import { readInput } from "../io";
import { formatInstant, formatTable } from "../table";

/** A schedule's payload is at most 64 KiB as a task body (API.md); a file is read up to a little more. */
const MAX_PAYLOAD_FILE = 68 * 1024;

interface SetFlags {
  cron: string;
  timezone?: string;
  payload?: string;
  contentType?: string;
  paused?: boolean;
}

/** JSON content types: their payload file must parse, and is sent as that JSON value. */
function isJson(contentType: string): boolean {
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || type.endsWith("+json");
}

/** The payload file as the API wants it: a JSON value for a JSON content type, else the file's text. */
export function schedulePayload(path: string, bytes: Uint8Array, contentType: string): unknown {
  const text = new TextDecoder().decode(bytes);
  if (!isJson(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not JSON; give --content-type for another kind of payload`);
  }
}

export function formatSchedule(schedule: Schedule): string {
  const rows: [string, string][] = [
    ["id", schedule.id],
    ["cron", schedule.cron],
    ["timezone", schedule.timezone],
    ["paused", schedule.paused ? "yes" : "no"],
    ["next run", formatInstant(schedule.nextRunAt)],
    ["last run", formatInstant(schedule.lastRunAt)],
    ["last task", schedule.lastTaskId ?? "-"],
    ["content type", schedule.contentType ?? "-"],
  ];
  if (schedule.payload !== undefined) rows.push(["payload", JSON.stringify(schedule.payload)]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n");
}

export function registerSchedules(program: Command, io: Io): void {
  program
    .command("schedules")
    .description("list a function's schedules")
    .argument("<fn>", "function name")
    .action(async (fn: string, _flags: unknown, command: Command) => {
      const ctx = Context.of(command, io);
      const schedules = await ctx.client().listSchedules(fn);
      ctx.print({ schedules }, () =>
        schedules.length === 0
          ? "no schedules"
          : formatTable(
              ["ID", "CRON", "TIMEZONE", "NEXT RUN", "LAST RUN", "PAUSED"],
              schedules.map((s) => [
                s.id,
                s.cron,
                s.timezone,
                formatInstant(s.nextRunAt),
                formatInstant(s.lastRunAt),
                s.paused ? "yes" : "no",
              ]),
            ),
      );
    });

  const schedule = program.command("schedule").description("create, show, pause, resume or delete one schedule");

  schedule
    .command("set")
    .description("create or replace a schedule (the whole schedule: what is not given takes its default)")
    .argument("<fn>", "function name")
    .argument("<id>", "schedule id (lowercase letters, digits and -)")
    .requiredOption("--cron <expr>", "5 fields (minute hour day month weekday), or 6 with seconds first")
    .option("--timezone <tz>", "IANA time zone of the timetable (default UTC)")
    .option("--payload <file>", "the task body: a JSON file, or - for standard input (default: no body)")
    .option("--content-type <type>", "content type of the task body (default application/json)")
    .option("--paused", "create it paused")
    .action(async (fn: string, id: string, flags: SetFlags, command: Command) => {
      const ctx = Context.of(command, io);
      const contentType = flags.contentType ?? "application/json";
      const payload =
        flags.payload === undefined
          ? undefined
          : schedulePayload(flags.payload, await readInput(flags.payload, MAX_PAYLOAD_FILE), contentType);
      const spec: ScheduleSpec = {
        cron: flags.cron,
        ...(flags.timezone !== undefined ? { timezone: flags.timezone } : {}),
        ...(flags.contentType !== undefined ? { contentType: flags.contentType } : {}),
        ...(payload !== undefined ? { payload } : {}),
        ...(flags.paused ? { paused: true } : {}),
      };
      const { schedule: saved, created } = await ctx.client().putSchedule(fn, id, spec);
      ctx.print({ ...saved, created }, () => `${created ? "created" : "replaced"}\n${formatSchedule(saved)}`);
    });

  schedule
    .command("show")
    .description("one schedule, with its payload and its last run")
    .argument("<fn>", "function name")
    .argument("<id>", "schedule id")
    .action(async (fn: string, id: string, _flags: unknown, command: Command) => {
      const ctx = Context.of(command, io);
      const found = await ctx.client().getSchedule(fn, id);
      ctx.print(found, () => formatSchedule(found));
    });

  for (const [verb, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    schedule
      .command(verb)
      .description(
        paused
          ? "stop a schedule's ticks, keeping its timetable and payload"
          : "start a paused schedule again (from its next tick: a pause owes nothing)",
      )
      .argument("<fn>", "function name")
      .argument("<id>", "schedule id")
      .action(async (fn: string, id: string, _flags: unknown, command: Command) => {
        const ctx = Context.of(command, io);
        const saved = await ctx.client().setSchedulePaused(fn, id, paused);
        ctx.print(saved, () => formatSchedule(saved));
      });
  }

  schedule
    .command("delete")
    .description("delete a schedule (tasks it already fired stay)")
    .argument("<fn>", "function name")
    .argument("<id>", "schedule id")
    .action(async (fn: string, id: string, _flags: unknown, command: Command) => {
      const ctx = Context.of(command, io);
      await ctx.client().deleteSchedule(fn, id);
      ctx.print({ deleted: id }, () => `deleted ${id}`);
    });
}
