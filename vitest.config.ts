import { defineConfig } from "vitest/config";

/**
 * The end-to-end files that also run against a server on PostgreSQL (SLUICE_TEST_STORE=postgres makes
 * test/helpers/sluice.ts open one): core publish and delivery, retries, callbacks, DLQ, logs, flow control,
 * queues, schedules and workflows.
 */
const ON_POSTGRES = [
  "publish", "batch", "messages", "delays", "dedup", "retries", "callbacks", "dlq", "logs", "forwarding", "url-groups",
  "flow-control", "flow-control-api", "flow-control-backlog", "flow-control-global", "flow-control-restart",
  "crash", "queues", "queues-restart", "schedules", "schedules-restart", "schedules-late", "retention", "bulk-guards",
  "workflow-basic", "workflow-steps", "workflow-triggers", "workflow-failures", "workflow-dlq", "workflow-wait", "workflow-durability",
  "cluster-caches", "cluster-races",
  "workflow-ended-log",
].map((name) => `test/e2e/${name}.test.ts`);

/** The end-to-end files that need two nodes on one database, so run on PostgreSQL only. */
const POSTGRES_ONLY = ["test/e2e/cluster-caches.test.ts", "test/e2e/cluster-races.test.ts"];

const shared = { testTimeout: 20_000, hookTimeout: 20_000, pool: "forks" as const };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: "sqlite",
          include: ["test/**/*.test.ts"],
          exclude: ["test/store/postgres.*.test.ts", "test/cluster/**", ...POSTGRES_ONLY],
          // Installs what the suite needs and a fresh machine may lack (Debian's Chromium), where it can.
          globalSetup: ["test/setup/chromium.ts"],
        },
      },
      {
        test: {
          ...shared,
          name: "postgres",
          include: ["test/store/postgres.*.test.ts", ...ON_POSTGRES],
          env: { SLUICE_TEST_STORE: "postgres" },
          // Finds (or starts) the PostgreSQL once for the whole run, and drops the run's schemas at the end.
          globalSetup: ["test/helpers/postgres.ts"],
        },
      },
      {
        test: {
          ...shared,
          name: "cluster",
          include: ["test/cluster/*.test.ts"],
          // Several `sluice` processes each, timed against a 2 s lease: one file at a time, after the other
          // projects (a later group), so the box's cores are not shared with the rest of the suite.
          testTimeout: 90_000,
          hookTimeout: 60_000,
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 1 },
          globalSetup: ["test/helpers/postgres.ts"],
        },
      },
    ],
  },
});
