/**
 * @module
 * The one log style of every shell: one JSON object per line (`level`, `message`, fields, `error`), which Workers Logs
 * and `wrangler tail` index by field. Details that must not reach a tenant (hosts, ports, runtime internals) go here.
 */

type Fields = Readonly<Record<string, string | number | boolean | undefined>>;

function line(level: "error" | "warn" | "info", message: string, error: unknown, fields: Fields): string {
  return JSON.stringify({
    level,
    message,
    ...fields,
    ...(error === undefined
      ? {}
      : { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  });
}

export function logError(message: string, error?: unknown, fields: Fields = {}): void {
  console.error(line("error", message, error, fields));
}

export function logWarn(message: string, error?: unknown, fields: Fields = {}): void {
  console.warn(line("warn", message, error, fields));
}

/** A structured event (a task transition, a delivery attempt): one JSON line at level info, its fields as given. */
export function logEvent(fields: Fields): void {
  console.log(JSON.stringify({ level: "info", ...fields }));
}
