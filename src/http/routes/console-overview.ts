import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../request.js";
import { knownQuery, type EndpointParams } from "../endpoint-params.js";
import type { LogState } from "../../model/log.js";
import { answeredByLeader } from "../leader-reads.js";

const OVERVIEW_PARAMS: EndpointParams = { ids: [], filters: [], options: [] };

const HOUR_MS = 3_600_000;
const BUCKET_MS = 60_000;
/** The log states the chart counts, under the names it shows. */
const CHARTED: Record<string, LogState> = { published: "CREATED", delivered: "DELIVERED", retried: "RETRY", failed: "FAILED" };
/**
 * How much one overview call may read. Counting stops there and the answer says so (`capped`), so a user with a
 * huge backlog gets a quick "at least" instead of a request that reads their whole history every few seconds.
 */
const MAX_EVENTS = 50_000;
const MAX_UNFINISHED = 100_000;
const MAX_DLQ = 10_000;
const MAX_ACTIVE_RUNS = 10_000;

/** Pages through a listing until it ends or `max` items were seen; counts them (with `capped` when cut short). */
async function countAll<T>(
  max: number,
  pageSize: number,
  page: (cursor: string | undefined, count: number) => Promise<{ items: T[]; cursor?: string }>,
  each: (item: T) => void = () => {},
): Promise<{ count: number; capped: boolean }> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const p = await page(cursor, Math.min(pageSize, max - count));
    p.items.forEach(each);
    count += p.items.length;
    cursor = p.cursor;
  } while (cursor && count < max);
  return { count, capped: cursor !== undefined };
}

/**
 * GET /v2/console/overview: the console's first page, for the token's user only. Numbers the rest of the API does
 * not give in one call: the last hour per minute (published, delivered, retried, failed), attempts in flight,
 * messages due and waiting for a slot, messages not yet due, DLQ entries and workflow runs under way.
 */
export function consoleOverviewRoutes(deps: AppDeps) {
  const { engine, reads: store } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/console/overview", async (req, reply) => {
      knownQuery(req, OVERVIEW_PARAMS);
      // The figures of attempts in flight and messages waiting are the leader's (in a cluster).
      if (await answeredByLeader(req, reply, deps.leader)) return reply;
      const userId = req.userId;
      const now = engine.clock.now();
      const fromMs = Math.floor((now - HOUR_MS) / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
      const buckets = Array.from({ length: HOUR_MS / BUCKET_MS }, (_, i) => ({
        at: fromMs + i * BUCKET_MS,
        published: 0,
        delivered: 0,
        retried: 0,
        failed: 0,
      }));
      const nameOf = new Map(Object.entries(CHARTED).map(([name, state]) => [state, name as keyof typeof CHARTED]));
      const events = await countAll(
        MAX_EVENTS,
        1000,
        (cursor, count) => store.listEvents(userId, { fromDate: fromMs, state: Object.values(CHARTED) }, { cursor, count, asc: true }),
        (e) => {
          const bucket = buckets[Math.floor((e.timeMs - fromMs) / BUCKET_MS)];
          const name = nameOf.get(e.state);
          if (bucket && name) bucket[name as "published"]++;
        },
      );

      const unfinished = await store.findUnfinished(userId, {}, MAX_UNFINISHED + 1);
      // In a cluster attempts run on every node: the store counts them all.
      const inFlight = engine.role.nodeId === undefined ? engine.userInFlight(userId) : await store.countActive(userId);
      const dueWaiting = unfinished.filter((id) => engine.isWaiting(id)).length;
      const dlq = await countAll(MAX_DLQ, 1000, (cursor, count) => store.listDlq(userId, {}, { cursor, count }));
      const runs = await countAll(MAX_ACTIVE_RUNS, 100, (cursor, count) => store.listRuns(userId, { state: ["RUN_STARTED"] }, { cursor, count }));

      return {
        now,
        lastHour: { bucketMs: BUCKET_MS, buckets, capped: events.capped },
        inFlight,
        dueWaiting,
        notYetDue: Math.max(0, Math.min(unfinished.length, MAX_UNFINISHED) - inFlight - dueWaiting),
        unfinishedCapped: unfinished.length > MAX_UNFINISHED,
        dlq: dlq.count,
        dlqCapped: dlq.capped,
        activeRuns: runs.count,
        activeRunsCapped: runs.capped,
      };
    });
  };
}
