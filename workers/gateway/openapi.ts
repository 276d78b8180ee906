/**
 * @module
 * The API reference: `GET /openapi.json` (the OpenAPI 3.1 document of src/openapi/, built once per isolate) and
 * `GET /docs` (Scalar's reference page, which loads its script and reads /openapi.json). Both public and cacheable.
 */

import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { buildOpenApiDocument } from "../../src/openapi/document";
import type { GatewayEnv } from "./middleware";

const CACHE = "public, max-age=300";

let document: string | undefined;

const reference = Scalar<GatewayEnv>({ url: "/openapi.json", pageTitle: "Sluice API reference" });

export const openApiRoutes = new Hono<GatewayEnv>()
  .get("/openapi.json", (c) => {
    document ??= JSON.stringify(buildOpenApiDocument());
    return c.body(document, 200, { "content-type": "application/json; charset=utf-8", "cache-control": CACHE });
  })
  .get("/docs", (c, next) => {
    c.header("cache-control", CACHE);
    return reference(c, next);
  });
