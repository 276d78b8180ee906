/**
 * @module
 * The task object of API.md as the gateway presents it: inline results decoded per content type, large ones only as
 * a `resultUrl`.
 */

import type { Context } from "hono";
import type { StoredTaskView } from "../../src/records";
import { viewResult } from "../../src/result-view";

export function taskUrl(c: Context, id: string): string {
  return new URL(`/v1/tasks/${id}`, c.req.url).toString();
}

export function presentTask(c: Context, stored: StoredTaskView) {
  const { resultBody, ...rest } = stored;
  if (!resultBody) return rest;
  if (resultBody.inline) return { ...rest, ...viewResult(resultBody.inline, resultBody.contentType) };
  return { ...rest, resultUrl: `${taskUrl(c, stored.id)}/result`, resultContentType: resultBody.contentType };
}
