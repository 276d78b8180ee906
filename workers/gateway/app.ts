/**
 * @module
 * The Hono gateway: stateless, scales out, and on the submit path touches only isolate caches, R2 (large payloads)
 * and one ingest queue.
 */

import { Hono } from "hono";
import { Problem } from "../../src/problem";
import { adminRoutes } from "./admin";
import { functionRoutes } from "./functions";
import { onError, problemResponse, type GatewayEnv } from "./middleware";
import { submitRoutes, taskRoutes } from "./tasks";

export const app = new Hono<GatewayEnv>()
  .get("/", (c) =>
    c.json({
      name: "sluice",
      description: "Asynchronous task platform: POST to a function URL, Sluice queues, runs, retries and tracks it.",
      docs: "https://github.com/sluice/sluice#readme",
    }),
  )
  .route("/v1/accounts", adminRoutes)
  .route("/v1/functions", submitRoutes)
  .route("/v1/functions", functionRoutes)
  .route("/v1/tasks", taskRoutes)
  .notFound(() => problemResponse(new Problem("not-found", "No such route.")))
  .onError(onError);
