/**
 * @module
 * The shape of one documented route (src/openapi/routes.ts, task-routes.ts) and the words they share.
 */

import type { z } from "zod";
import type { ProblemKind } from "../problem";

export type HttpMethod = "get" | "put" | "post" | "delete" | "patch";

/** Who may call: the admin token, a tenant's API key, an invocation's callback token, or anyone. */
export type Auth = "admin" | "apiKey" | "callbackToken" | "none";

export type Tag = "Service" | "Accounts" | "Functions" | "Submitting" | "Tasks" | "Schedules" | "Observability";

export interface RouteResponse {
  readonly description: string;
  /** A zod schema of a JSON body, a media type with a plain schema, or no body. */
  readonly json?: z.ZodType;
  readonly content?: Readonly<Record<string, { schema: Record<string, unknown> }>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteDoc {
  readonly method: HttpMethod;
  /** OpenAPI form: `/v1/functions/{name}/tasks`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  readonly auth: Auth;
  /** Path parameters, by name, with a description each (all are strings). */
  readonly pathParams?: Readonly<Record<string, string>>;
  /** A zod object whose keys are the query parameters. */
  readonly query?: z.ZodObject;
  /**
   * Request headers the route reads, each with a description; a header of `headerSchema` (the zod object the gateway
   * parses the headers with) takes its schema from there, any other gives its own.
   */
  readonly headers?: Readonly<Record<string, { description: string; schema?: Record<string, unknown> }>>;
  readonly headerSchema?: z.ZodObject;
  /** A JSON body parsed with this schema (`io: "input"`), or any bytes (`raw`). */
  readonly body?: { readonly json: z.ZodType; readonly maxBytes?: number } | { readonly raw: string };
  /** Success answers by status. */
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /** Problems the route itself raises (auth, content-type and internal problems are added for every route). */
  readonly problems: readonly ProblemKind[];
}

export const NAME = "The function's name (`^[a-z0-9][a-z0-9-]{0,62}$`).";
export const TASK_ID = "A task id as returned on submit (`tsk_…`); another account's id is not found.";
export const str = { type: "string" } as const;
