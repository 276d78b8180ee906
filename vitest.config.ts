import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { buildSync } from "esbuild";
import { defineConfig } from "vitest/config";

// Auxiliary Workers in the workerd test pool cannot read a wrangler.toml, so the demo tenant function is bundled here
// and declared through Miniflare options under the service name wrangler.toml binds as DEMO_FN.
const demoFunctionScript = ".wrangler/test/demo-function.mjs";
buildSync({
  entryPoints: ["workers/demo-function/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: demoFunctionScript,
  logLevel: "warning",
});

/**
 * A project of tests inside workerd against the real Worker and local bindings. `placement` runs with thresholds
 * shrunk so automatic moves happen within a test (every other project keeps the defaults, under which no function
 * younger than PLACEMENT_MIN_DWELL_MS ever moves).
 */
function workerdProject(name: string, include: string[], extraBindings: Record<string, string> = {}) {
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ADMIN_TOKEN: "test-admin-token",
            ALLOW_PRIVATE_TARGETS: "true",
            LEASE_GRACE_MS: "1000",
            CACHE_TTL_MS: "1000",
            // Eight delivery attempts a second apart instead of hours, and quick receiver timeouts.
            DELIVERY_SCHEDULE_SECONDS: "0,1,1,1,1,1,1,1",
            DELIVERY_TIMEOUT_MS: "2000",
            WEBHOOK_SECRET_GRACE_SECONDS: "3600",
            MAX_CHAIN_DEPTH: "3",
            EVENT_SOURCES: JSON.stringify({ "sluice-events": { account: "events-acct", function: "events" } }),
            ...extraBindings,
          },
          workers: [
            {
              name: "sluice-demo-function",
              modules: true,
              scriptPath: demoFunctionScript,
              compatibilityDate: "2026-11-01",
            },
            {
              name: "results-consumer",
              modules: true,
              scriptPath: "test/workers/results-consumer.mjs",
              compatibilityDate: "2026-11-01",
              queueConsumers: { "sluice-results": { maxBatchTimeout: 0 } },
              r2Buckets: { SINK: "sluice-results" },
            },
          ],
        },
      }),
    ],
    test: {
      name,
      include,
      // Tests wait for events with vi.waitFor; the bound only has to survive a loaded CI machine.
      testTimeout: 20_000,
      globalSetup: ["test/workers/webhook-receiver.global.ts"],
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" },
      },
      workerdProject("workers", ["test/workers/**/*.test.ts"]),
      workerdProject("placement", ["test/placement/**/*.test.ts"], {
        PLACEMENT_REVIEW_MS: "100",
        PLACEMENT_PROMOTE_BACKLOG: "40",
        PLACEMENT_PROMOTE_RATE: "100000",
        PLACEMENT_SHARD_CALLS_PER_SEC: "100000",
        PLACEMENT_PARTITION_BACKLOG: "60",
        PLACEMENT_PARTITION_RATE: "100000",
        PLACEMENT_MAX_PARTITIONS: "3",
        PLACEMENT_RECLAIM_IDLE_MS: "2000",
        PLACEMENT_MIN_DWELL_MS: "1000",
      }),
      // Only a surge brings a review sooner than every 10 minutes here (src/placement/review-timing.ts).
      workerdProject("placement-surge", ["test/placement-surge/**/*.test.ts"], {
        PLACEMENT_REVIEW_MS: "600000",
        PLACEMENT_PROMOTE_BACKLOG: "40",
        PLACEMENT_PROMOTE_RATE: "100000",
        PLACEMENT_SHARD_CALLS_PER_SEC: "100000",
        PLACEMENT_MIN_DWELL_MS: "1000",
        // A gateway holds a record for a minute: only a busy auto function's is asked for sooner (src/route-refresh.ts).
        CACHE_TTL_MS: "60000",
      }),
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
