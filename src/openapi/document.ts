/**
 * @module
 * The OpenAPI 3.1 document of the gateway (served at `GET /openapi.json`), built from the route table
 * (./routes.ts) and the zod schemas the gateway parses with, converted by zod's own JSON Schema generator
 * (draft 2020-12, the dialect of OpenAPI 3.1; request bodies as the schema's input, answers as its output).
 */

import { z } from "zod";
import { MAX_JSON_BODY_BYTES } from "../limits";
import { PROBLEM_BASE, PROBLEM_KINDS, type ProblemKind } from "../problem";
import { scheduleSpecSchema } from "../schedules";
import {
  batchSubmitSchema,
  bulkFilterSchema,
  completionSchema,
  createAccountSchema,
  functionSpecSchema,
  updateAccountSchema,
} from "../schemas";
import * as responses from "./responses";
import { type Auth, ROUTES, type RouteDoc, type RouteResponse } from "./routes";

export type JsonObject = Record<string, unknown>;

const SECURITY: Record<Exclude<Auth, "none">, JsonObject> = {
  admin: {
    type: "http",
    scheme: "bearer",
    description: "`Authorization: Bearer $ADMIN_TOKEN` (the ADMIN_TOKEN secret; the admin API answers 503 without it).",
  },
  apiKey: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "sk_<prefix>_<secret>",
    description: "An account's API key: `Authorization: Bearer sk_…`.",
  },
  callbackToken: {
    type: "apiKey",
    in: "header",
    name: "Sluice-Callback-Token",
    description: "The token a long-running invocation received with its call.",
  },
};

/** Problems every route can answer besides its own: a bad `Content-Type` header, and an internal error. */
const COMMON_PROBLEMS: readonly ProblemKind[] = ["validation", "internal"];
const AUTH_PROBLEMS: Record<Auth, readonly ProblemKind[]> = {
  admin: ["unauthorized", "admin-disabled"],
  apiKey: ["unauthorized"],
  callbackToken: [],
  none: [],
};

/** Request bodies, as components: converted as the schema's input (defaults optional, before transforms). */
const REQUEST_SCHEMAS: Record<string, z.ZodType> = {
  CreateAccount: createAccountSchema,
  UpdateAccount: updateAccountSchema,
  FunctionSpec: functionSpecSchema,
  BatchSubmit: batchSubmitSchema,
  BulkFilter: bulkFilterSchema,
  Completion: completionSchema,
  ScheduleSpec: scheduleSpecSchema,
  /** Any JSON value (a schedule's payload): recursive, so a component of its own that refers to itself. */
  JsonValue: scheduleSpecSchema.shape.payload.unwrap(),
};

/** Answers, as components named after their export (`taskSchema` is `Task`), converted as the schema's output. */
const RESPONSE_SCHEMAS: Record<string, z.ZodType> = Object.fromEntries(
  Object.entries(responses).map(([name, schema]) => [
    `${name[0]?.toUpperCase()}${name.slice(1).replace(/Schema$/, "")}`,
    schema,
  ]),
);

const REF_BASE = "#/components/schemas/";

interface Components {
  readonly schemas: Record<string, JsonObject>;
  readonly names: Map<z.ZodType, string>;
}

const PARAMS = { target: "draft-2020-12", unrepresentable: "throw", uri: (id: string) => REF_BASE + id } as const;

/** Without `$schema` (the document's `jsonSchemaDialect` says it) and `$id` (a component is named by its key). */
function withoutDialect(schema: JsonObject): JsonObject {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/**
 * zod's registry conversion: each named schema becomes a component, and a named schema inside another is a `$ref`
 * to it. A schema used both ways would need two shapes, so the names must not overlap.
 */
function buildComponents(): Components {
  const schemas: Record<string, JsonObject> = {};
  const names = new Map<z.ZodType, string>();
  for (const [io, table] of [
    ["input", REQUEST_SCHEMAS],
    ["output", RESPONSE_SCHEMAS],
  ] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(table)) {
      if (names.has(schema) || schemas[id]) throw new Error(`schema ${id} is named twice`);
      registry.add(schema, { id });
      names.set(schema, id);
    }
    // Schemas shared by several components (a recursive one such as `z.json()`) land in `__shared.$defs`, behind
    // refs of the form `…/__shared#/$defs/schema0`: each becomes a component of its own, named for this pass.
    const prefix = io === "input" ? "SharedInput" : "SharedOutput";
    const text = JSON.stringify(z.toJSONSchema(registry, { ...PARAMS, io }).schemas).replaceAll(
      `${REF_BASE}__shared#/$defs/`,
      `${REF_BASE}${prefix}_`,
    );
    const { __shared, ...converted } = JSON.parse(text) as Record<string, JsonObject>;
    for (const [id, schema] of Object.entries(converted)) schemas[id] = withoutDialect(schema);
    for (const [id, schema] of Object.entries((__shared?.$defs ?? {}) as Record<string, JsonObject>)) {
      schemas[`${prefix}_${id}`] = schema;
    }
  }
  return { schemas, names };
}

let components: Components | undefined;

/** A `$ref` to the schema's component, or (a schema with no name) the schema inline. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonObject {
  components ??= buildComponents();
  const name = components.names.get(schema);
  if (name) return { $ref: REF_BASE + name };
  return withoutDialect(z.toJSONSchema(schema, { ...PARAMS, io }) as JsonObject);
}

function problemSchema(): JsonObject {
  return {
    type: "object",
    description: "RFC 9457 problem details; switch on `type`.",
    required: ["type", "title", "status", "detail"],
    properties: {
      type: { type: "string", enum: Object.keys(PROBLEM_KINDS).map((kind) => PROBLEM_BASE + kind) },
      title: { type: "string" },
      status: { type: "integer" },
      detail: { type: "string" },
      errors: {
        type: "array",
        description: "With `validation`: one entry per bad field.",
        items: {
          type: "object",
          required: ["path", "message"],
          properties: { path: { type: "string" }, message: { type: "string" } },
        },
      },
    },
    additionalProperties: true,
  };
}

/**
 * The route's problem answers, by status: each a `$ref` to a response component naming the problem types it may
 * carry (so the document says each combination once).
 */
function problemResponses(route: RouteDoc, shared: Record<string, JsonObject>): Record<string, JsonObject> {
  const kinds = new Set([...route.problems, ...AUTH_PROBLEMS[route.auth], ...COMMON_PROBLEMS]);
  const byStatus = new Map<number, ProblemKind[]>();
  for (const kind of kinds) {
    const { status } = PROBLEM_KINDS[kind];
    byStatus.set(status, [...(byStatus.get(status) ?? []), kind]);
  }
  const out: Record<string, JsonObject> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    list.sort();
    const name = `Problem_${list.join("_")}`;
    shared[name] ??= {
      description: list.map((kind) => `\`${PROBLEM_BASE}${kind}\`: ${PROBLEM_KINDS[kind].title}`).join("; "),
      content: {
        "application/problem+json": {
          schema: {
            allOf: [
              { $ref: `${REF_BASE}Problem` },
              { properties: { type: { enum: list.map((kind) => PROBLEM_BASE + kind) } } },
            ],
          },
        },
      },
    };
    out[String(status)] = { $ref: `#/components/responses/${name}` };
  }
  return out;
}

function successResponse(answer: RouteResponse): JsonObject {
  const out: JsonObject = { description: answer.description };
  if (answer.json) out.content = { "application/json": { schema: jsonSchema(answer.json, "output") } };
  else if (answer.content) out.content = answer.content;
  if (answer.headers) {
    out.headers = Object.fromEntries(
      Object.entries(answer.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
    );
  }
  return out;
}

function parameters(route: RouteDoc): JsonObject[] {
  const out: JsonObject[] = [];
  for (const [name, description] of Object.entries(route.pathParams ?? {})) {
    out.push({ name, in: "path", required: true, description, schema: { type: "string" } });
  }
  if (route.query) {
    const schema = jsonSchema(route.query, "input") as { properties?: Record<string, JsonObject>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      out.push({ name, in: "query", required: schema.required?.includes(name) ?? false, schema: property });
    }
  }
  const parsed = route.headerSchema
    ? ((jsonSchema(route.headerSchema, "input") as { properties?: Record<string, JsonObject> }).properties ?? {})
    : {};
  for (const name of Object.keys(parsed)) {
    if (!route.headers?.[name]) throw new Error(`header ${name} of ${route.method} ${route.path} has no description`);
  }
  for (const [name, header] of Object.entries(route.headers ?? {})) {
    const schema = parsed[name] ?? header.schema;
    if (!schema) throw new Error(`header ${name} of ${route.method} ${route.path} has no schema`);
    out.push({ name, in: "header", required: false, description: header.description, schema });
  }
  return out;
}

function requestBody(route: RouteDoc): JsonObject | undefined {
  if (!route.body) return undefined;
  if ("raw" in route.body) {
    return {
      required: false,
      description: "The task's payload: any bytes, any content type, kept as sent.",
      content: { [route.body.raw]: { schema: {} } },
    };
  }
  const limit = route.body.maxBytes ?? MAX_JSON_BODY_BYTES;
  return {
    required: true,
    description: `JSON, at most ${limit} bytes (413 beyond).`,
    content: { "application/json": { schema: jsonSchema(route.body.json, "input") } },
  };
}

function operation(route: RouteDoc, shared: Record<string, JsonObject>): JsonObject {
  const op: JsonObject = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: route.auth === "none" ? [] : [{ [route.auth]: [] }],
  };
  if (route.description) op.description = route.description;
  const params = parameters(route);
  if (params.length > 0) op.parameters = params;
  const body = requestBody(route);
  if (body) op.requestBody = body;
  const responses: Record<string, JsonObject> = {};
  for (const [status, answer] of Object.entries(route.responses)) responses[status] = successResponse(answer);
  op.responses = { ...responses, ...problemResponses(route, shared) };
  return op;
}

/** The whole document. Pure: the same every call, so the gateway may build it once per isolate. */
export function buildOpenApiDocument(routes: readonly RouteDoc[] = ROUTES): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  const problemAnswers: Record<string, JsonObject> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    if (item[route.method]) throw new Error(`route ${route.method} ${route.path} is described twice`);
    item[route.method] = operation(route, problemAnswers);
    paths[route.path] = item;
  }
  return {
    openapi: "3.1.1",
    info: {
      title: "Sluice",
      version: "1",
      summary: "Multi-tenant asynchronous task platform on Cloudflare Workers.",
      description:
        "POST to a function URL: Sluice queues, flow-controls, runs, retries and tracks the task, then delivers " +
        "its result. Errors are RFC 9457 problem details with a stable `type`.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: [...new Set(routes.map((route) => route.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: SECURITY,
      schemas: { ...(components ?? buildComponents()).schemas, Problem: problemSchema() },
      responses: problemAnswers,
    },
  };
}
