import SwaggerParser from "@apidevtools/swagger-parser";
import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../../src/openapi/document";
import { ROUTES } from "../../src/openapi/routes";
import { PROBLEM_BASE, PROBLEM_KINDS } from "../../src/problem";

type Json = Record<string, unknown>;
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

const doc = buildOpenApiDocument() as Json & { paths: Record<string, Record<string, Json>>; components: Json };

function operations(): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
}

/** Every `$ref` anywhere in the document, with where it was found. */
function refs(value: unknown, at = "#"): { at: string; ref: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => refs(item, `${at}/${i}`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "$ref" && typeof inner === "string" ? [{ at, ref: inner }] : refs(inner, `${at}/${key}`),
  );
}

/** A local JSON pointer (RFC 6901) followed through the document, or undefined where it leads nowhere. */
function resolve(ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

describe("the OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document (the 3.1 schema, and every $ref resolves)", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    // validate() dereferences and checks against the OpenAPI 3.1 JSON Schema; it changes its argument, so a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it("the validator is not vacuous: it refuses a dangling $ref and a response without its required description", async () => {
    const broken = structuredClone(doc) as typeof doc;
    (broken.components.schemas as Json).Task = { $ref: "#/components/schemas/NoSuchSchema" };
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow();
    const wrong = structuredClone(doc) as typeof doc;
    (wrong.paths["/v1/tasks/{id}"] as Json).get = { responses: { 200: {} } };
    await expect(SwaggerParser.validate(wrong as never)).rejects.toThrow();
  });

  it("leaves no $ref dangling, and uses only local ones", () => {
    const found = refs(doc);
    expect(found.length).toBeGreaterThan(50);
    const dangling = found.filter(({ ref }) => resolve(ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it("declares every path template's parameters as required path parameters, and no others", () => {
    for (const { path, method, op } of operations()) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = ((op.parameters ?? []) as Json[]).filter((p) => p.in === "path");
      expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual(inPath);
      for (const p of declared) expect(p.required, `${method} ${path} ${String(p.name)}`).toBe(true);
      // No parameter twice (name + location is the key).
      const keys = ((op.parameters ?? []) as Json[]).map((p) => `${String(p.in)}:${String(p.name)}`);
      expect(new Set(keys).size, `${method} ${path}`).toBe(keys.length);
    }
  });

  it("names every operation once, and tags and secures each", () => {
    const ops = operations();
    const ids = ops.map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ops).toHaveLength(ROUTES.length);
    const schemes = Object.keys(doc.components.securitySchemes as Json);
    for (const { op } of ops) {
      expect((op.tags as string[]).length).toBe(1);
      for (const requirement of op.security as Json[]) {
        for (const name of Object.keys(requirement)) expect(schemes).toContain(name);
      }
    }
  });

  it("answers problems as application/problem+json with Sluice's stable types, 500 on every route", () => {
    const types = new Set(Object.keys(PROBLEM_KINDS).map((kind) => PROBLEM_BASE + kind));
    for (const { path, method, op } of operations()) {
      const answers = op.responses as Record<string, Json>;
      expect(Object.keys(answers), `${method} ${path}`).toContain("500");
      for (const [status, answer] of Object.entries(answers)) {
        if (Number(status) < 400) continue;
        const target = resolve(answer.$ref as string) as Json;
        const media = (target.content as Record<string, { schema: { allOf: Json[] } }>)["application/problem+json"];
        expect(media, `${method} ${path} ${status}`).toBeDefined();
        const narrowed = media?.schema.allOf[1]?.properties as { type: { enum: string[] } } | undefined;
        const listed = narrowed?.type.enum ?? [];
        expect(listed.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
        for (const type of listed) {
          expect(types.has(type)).toBe(true);
          const kind = type.slice(PROBLEM_BASE.length) as keyof typeof PROBLEM_KINDS;
          expect(PROBLEM_KINDS[kind].status, `${method} ${path}: ${type}`).toBe(Number(status));
        }
      }
      const security = op.security as Json[];
      if (security.some((r) => "apiKey" in r || "admin" in r)) expect(Object.keys(answers)).toContain("401");
    }
  });

  it("describes request bodies with the zod schemas the gateway parses with", () => {
    const schemas = doc.components.schemas as Record<string, Json & { properties?: Record<string, Json> }>;
    const put = doc.paths["/v1/functions/{name}"]?.put as Json;
    expect(JSON.stringify(put.requestBody)).toContain('"$ref":"#/components/schemas/FunctionSpec"');
    // Input shapes: defaults are shown and optional (a request may leave them out), strict objects refuse extras.
    expect(schemas.FunctionSpec?.properties?.timeoutMs).toMatchObject({ default: 30000, minimum: 100 });
    expect(schemas.FunctionSpec?.required).toEqual(["target"]);
    expect(schemas.FunctionSpec?.additionalProperties).toBe(false);
    expect(schemas.BatchSubmit).toMatchObject({ type: "array", minItems: 1, maxItems: 100 });
    expect(schemas.ScheduleSpec?.required).toEqual(["cron"]);
    const submit = doc.paths["/v1/functions/{name}/tasks"]?.post as Json;
    const delay = (submit.parameters as Json[]).find((p) => p.name === "sluice-delay");
    expect(delay).toMatchObject({ in: "header", schema: { type: "string", pattern: "^\\d{1,7}$" } });
    const list = doc.paths["/v1/functions/{name}/tasks"]?.get as Json;
    const state = (list.parameters as Json[]).find((p) => p.name === "state");
    expect(state).toMatchObject({ in: "query", required: false, schema: { enum: expect.arrayContaining(["queued"]) } });
  });

  it("is the same document every time", () => {
    expect(JSON.stringify(buildOpenApiDocument())).toBe(JSON.stringify(doc));
  });
});
