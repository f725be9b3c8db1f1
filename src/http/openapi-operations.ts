import { PARAMS, type EndpointParams } from "./endpoint-params.js";

/** What the route table cannot tell about an operation: what it is for, and what its query and body are. */
export interface OperationNote {
  summary: string;
  tag: string;
  /** The query parameters the route reads (from endpoint-params.ts, the list the route itself enforces). */
  query?: EndpointParams;
  body?: "json" | "bytes";
  /** Served without a token. */
  public?: true;
}

const op = (tag: string, summary: string, extra: Omit<OperationNote, "tag" | "summary"> = {}): OperationNote => ({ tag, summary, ...extra });

/**
 * Sluice's own words for each route, keyed `METHOD path` as fastify registered it. A route missing here is still
 * listed in /openapi.json (its path and method come from the router); an entry for a route that is not served
 * is caught by the OpenAPI test.
 */
export const OPERATION_NOTES: Record<string, OperationNote> = {
  "GET /health": op("Server", "Liveness check", { public: true }),
  "GET /health/ready": op("Server", "Readiness: 200 while this node holds its lease (in a cluster: and whether it leads), else 503", { public: true }),
  "GET /metrics": op("Server", "Prometheus metrics (text exposition format); token per the metrics settings", { public: true }),
  "GET /openapi.json": op("Server", "This description of the API", { public: true }),

  "GET /console": op("Console", "The web console (a page; signs in with a token)", { public: true }),
  "GET /console/:name": op("Console", "A file of the web console", { public: true }),
  "GET /console/vendor/:name": op("Console", "A front-end library file of the web console", { public: true }),
  "GET /console/api/dev-users": op("Console", "The dev users and their tokens, for the console's sign-in (dev mode only)", { public: true }),
  "GET /v2/console/overview": op("Console", "The console's overview: recent counts, attempts in flight, backlog, DLQ size, active runs"),
  "GET /v2/console/schedules/:id/ticks": op("Console", "A schedule's next ticks"),

  "POST /v2/publish/*": op("Messages", "Publish a message to a URL or a URL group (destination in the path, options in Upstash-* headers)", { body: "bytes" }),
  "POST /v2/enqueue/:queue/*": op("Messages", "Publish a message into a FIFO queue", { body: "bytes" }),
  "POST /v2/batch": op("Messages", "Publish many messages in one call; each item succeeds or fails on its own", { body: "json" }),
  "GET /v2/messages/:id": op("Messages", "Read a message"),
  "DELETE /v2/messages/:id": op("Messages", "Cancel a message"),
  "DELETE /v2/messages": op("Messages", "Cancel messages by ids, by filter or all", { query: PARAMS.messageCancel }),
  "GET /v2/events": op("Logs", "Message log: state changes, newest first", { query: PARAMS.logs }),
  "GET /v2/logs": op("Logs", "Message log (same as /v2/events, answered under `logs`)", { query: PARAMS.logs }),

  "GET /v2/dlq": op("DLQ", "List dead-letter entries", { query: PARAMS.dlqList }),
  "DELETE /v2/dlq": op("DLQ", "Delete dead-letter entries by ids, by filter or all", { query: PARAMS.dlqBulk }),
  "GET /v2/dlq/:id": op("DLQ", "Read one dead-letter entry"),
  "DELETE /v2/dlq/:id": op("DLQ", "Delete one dead-letter entry"),
  "POST /v2/dlq/retry": op("DLQ", "Retry dead-letter entries as fresh messages", { query: PARAMS.dlqBulk }),
  "POST /v2/dlq/retry/:id": op("DLQ", "Retry one dead-letter entry, with optional header overrides"),

  "GET /v2/keys": op("Keys", "Read the signing keys"),
  "POST /v2/keys/rotate": op("Keys", "Rotate the signing keys: next becomes current, a new next is made"),

  "POST /v2/queues": op("Queues", "Create or update a queue", { body: "json" }),
  "GET /v2/queues": op("Queues", "List queues"),
  "GET /v2/queues/:name": op("Queues", "Read a queue"),
  "DELETE /v2/queues/:name": op("Queues", "Delete a queue"),
  "POST /v2/queues/:name/pause": op("Queues", "Pause a queue"),
  "POST /v2/queues/:name/resume": op("Queues", "Resume a queue"),

  "GET /v2/flowControl": op("Flow control", "List flow-control keys with their live counts", { query: PARAMS.flowControlList }),
  "GET /v2/flowControl/:key": op("Flow control", "Read one flow-control key"),
  "POST /v2/flowControl/:key/pause": op("Flow control", "Pause deliveries of a key"),
  "POST /v2/flowControl/:key/resume": op("Flow control", "Resume deliveries of a key"),
  "POST /v2/flowControl/:key/pin": op("Flow control", "Pin a key's parallelism or rate", { body: "json" }),
  "POST /v2/flowControl/:key/unpin": op("Flow control", "Remove a key's pins", { body: "json" }),
  "POST /v2/flowControl/:key/resetRate": op("Flow control", "Open a fresh rate window for a key"),
  "POST /v2/flowControl/:key/reset": op("Flow control", "Reset a key: unpause, unpin and open a fresh rate window"),
  "GET /v2/globalParallelism": op("Flow control", "Read the user's global parallelism and how much of it is in use"),

  "POST /v2/topics/:name/endpoints": op("URL groups", "Add or update endpoints of a URL group", { body: "json" }),
  "DELETE /v2/topics/:name/endpoints": op("URL groups", "Remove endpoints from a URL group", { body: "json" }),
  "GET /v2/topics": op("URL groups", "List URL groups"),
  "GET /v2/topics/:name": op("URL groups", "Read a URL group"),
  "DELETE /v2/topics/:name": op("URL groups", "Delete a URL group"),
  "PATCH /v2/topics/:name": op("URL groups", "Not supported: answers 405 naming the calls that change a URL group"),

  "POST /v2/schedules/*": op("Schedules", "Create or replace a cron schedule (destination in the path)", { body: "bytes" }),
  "GET /v2/schedules": op("Schedules", "List schedules"),
  "GET /v2/schedules/:id": op("Schedules", "Read a schedule"),
  "DELETE /v2/schedules/:id": op("Schedules", "Delete a schedule"),
  "POST /v2/schedules/:id/pause": op("Schedules", "Pause a schedule"),
  "PATCH /v2/schedules/:id/pause": op("Schedules", "Pause a schedule"),
  "POST /v2/schedules/:id/resume": op("Schedules", "Resume a schedule"),
  "PATCH /v2/schedules/:id/resume": op("Schedules", "Resume a schedule"),

  "POST /v2/trigger/*": op("Workflows", "Start a workflow run", { body: "bytes" }),
  "POST /v2/batch/trigger": op("Workflows", "Start many workflow runs", { body: "json" }),
  "GET /v2/workflows/runs/:runId": op("Workflows", "Read a run with its steps (the SDK's LazyFetch)"),
  "DELETE /v2/workflows/runs/:runId": op("Workflows", "Cancel a run"),
  "DELETE /v2/workflows/runs": op("Workflows", "Cancel runs by ids, by filter or all", { query: PARAMS.runCancel }),
  "GET /v2/workflows/logs": op("Workflows", "Runs with their steps", { query: PARAMS.runLogs }),
  "GET /v2/workflows/events": op("Workflows", "Workflow message log, or runs with `groupBy=workflowRunId`", { query: PARAMS.workflowEvents }),
  "GET /v2/workflows/dlq": op("Workflow DLQ", "List failed runs", { query: PARAMS.workflowDlqList }),
  "DELETE /v2/workflows/dlq": op("Workflow DLQ", "Delete failed-run entries", { query: PARAMS.workflowDlqBulk }),
  "GET /v2/workflows/dlq/:dlqId": op("Workflow DLQ", "Read one failed run"),
  "DELETE /v2/workflows/dlq/:dlqId": op("Workflow DLQ", "Delete one failed-run entry"),
  "POST /v2/workflows/dlq/resume": op("Workflow DLQ", "Resume failed runs from their failed step", { query: PARAMS.workflowDlqBulk }),
  "POST /v2/workflows/dlq/restart": op("Workflow DLQ", "Restart failed runs from the beginning", { query: PARAMS.workflowDlqBulk }),
  "POST /v2/workflows/dlq/resume/:dlqId": op("Workflow DLQ", "Resume one failed run"),
  "POST /v2/workflows/dlq/restart/:dlqId": op("Workflow DLQ", "Restart one failed run"),
  "POST /v2/workflows/dlq/callback/:dlqId": op("Workflow DLQ", "Retry a failed run's failure callback"),
  "DELETE /v2/workflows/dlq/callback/:dlqId": op("Workflow DLQ", "Drop a failed run's failure callback"),
  "POST /v2/wait/:eventId": op("Workflow waits", "Register a run's wait for an event", { body: "json" }),
  "POST /v2/notify/:eventId": op("Workflow waits", "Notify every run waiting for an event", { body: "bytes" }),
  "POST /v2/notify/:runId/:eventId": op("Workflow waits", "Notify one run of an event", { body: "bytes" }),
  "GET /v2/waiters/:eventId": op("Workflow waits", "List the runs waiting for an event"),
  // Any method: a third party calls it as its webhook would.
  "ANY /v2/workflows/hooks/:userId/:runId/:eventId": op("Workflow waits", "Workflow webhook: the request becomes the event a run waits for (no token; the path is the secret)", { body: "bytes", public: true }),
};
