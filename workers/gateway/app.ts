/**
 * @module
 * The Hono gateway: stateless, scales out, and on the plain submit path touches only isolate caches, R2 (large
 * payloads) and one ingest queue.
 */

import { Hono } from "hono";
import { Problem } from "../../src/problem";
import { accountRoutes } from "./account";
import { adminRoutes } from "./admin";
import { callbackRoutes } from "./callbacks";
import { functionTaskRoutes } from "./function-tasks";
import { functionRoutes } from "./functions";
import { metricsRoutes } from "./metrics";
import { type GatewayEnv, limitContentType, onError, problemResponse, requireTenant } from "./middleware";
import { openApiRoutes } from "./openapi";
import { scheduleRoutes } from "./schedules";
import { accountStatsRoutes, statsRoutes } from "./stats";
import { submitRoutes } from "./submit";
import { taskRoutes } from "./tasks";

/** Everything under the tenant's API key. */
const tenantRoutes = new Hono<GatewayEnv>()
  .use(requireTenant())
  .route("/functions", submitRoutes)
  .route("/functions", functionTaskRoutes)
  .route("/functions", statsRoutes)
  .route("/functions", scheduleRoutes)
  .route("/functions", functionRoutes)
  .route("/tasks", taskRoutes)
  .route("/account", accountRoutes)
  .route("/account", accountStatsRoutes)
  .route("/metrics", metricsRoutes);

export const app = new Hono<GatewayEnv>()
  .use(limitContentType())
  .get("/", (c) =>
    c.json({
      name: "sluice",
      description: "Asynchronous task platform: POST to a function URL, Sluice queues, runs, retries and tracks it.",
    }),
  )
  .route("/", openApiRoutes)
  .route("/v1/accounts", adminRoutes)
  // Before the tenant routes: callbacks authenticate with the invocation's token, not an API key.
  .route("/v1/tasks", callbackRoutes)
  .route("/v1", tenantRoutes)
  .notFound(() => problemResponse(new Problem("not-found", "No such route.")))
  .onError(onError);
