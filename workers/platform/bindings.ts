/**
 * @module
 * The one dynamic binding lookup: tenants name a service target (`{"type":"service","service":"DEMO_FN"}`) or a queue
 * destination by its binding name, so the name is checked against the configured allow-list (SERVICE_TARGETS,
 * RESULT_QUEUES) and the binding against its kind before anyone calls it.
 */

export function isFetcher(value: unknown): value is Fetcher {
  return typeof (value as Fetcher | undefined)?.fetch === "function";
}

export function isQueue(value: unknown): value is Queue {
  return typeof (value as Queue | undefined)?.send === "function";
}

/** The binding `name` of `env` if the allow-list names it and it is of the wanted kind; undefined otherwise. */
export function namedBinding<T>(
  env: Env,
  name: string,
  allowed: readonly string[],
  isKind: (value: unknown) => value is T,
): T | undefined {
  if (!allowed.includes(name)) return undefined;
  const value: unknown = (env as unknown as Record<string, unknown>)[name];
  return isKind(value) ? value : undefined;
}
