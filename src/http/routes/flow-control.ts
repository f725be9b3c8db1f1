import type { FastifyInstance } from "fastify";
import { badRequest, HttpError } from "../../errors.js";
import type { AppDeps } from "../request.js";
import { one, type Query } from "../query.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { MAX_PARALLELISM, MAX_RATE } from "../../protocol/publish-headers.js";
import { FlowLimiter, type FlowInfo } from "../../engine/flow-limiter.js";
import { answeredByLeader } from "../leader-reads.js";

function positiveInt(q: Query, name: string, max: number): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw badRequest(`invalid ${name} "${v}": expected an integer from 1 to ${max}`);
  return Number(v);
}

function flag(q: Query, name: string): boolean {
  const v = one(q, name);
  if (v === undefined) return false;
  if (v !== "true" && v !== "false") throw badRequest(`invalid ${name} "${v}": expected true or false`);
  return v === "true";
}

/** At most this many keys a list adds from the store (two counts each), so one read stays bounded. */
const STORE_KEYS_MAX = 500;

/** How long a read on a node that has just begun to lead waits for its first due load (see `lanesSettled`). */
const LANES_WAIT_MS = 2000;

/** Flow-control keys at run time (SPEC §2.9) and the user's global parallelism. */
export function flowControlRoutes(deps: AppDeps) {
  const { engine, settings, config } = deps;
  /** A key's deliveries in flight and messages due and waiting, as the store counts them (exact, cluster-wide). */
  const storeCounts = async (userId: string, key: string, now: number): Promise<Pick<FlowInfo, "parallelismCount" | "waitListSize">> => {
    const [active, waiting] = await Promise.all([deps.reads.countActive(userId, key), deps.reads.countWaiting(userId, key, now)]);
    return { parallelismCount: active, waitListSize: waiting };
  };
  /**
   * On a node of a cluster that does not lead, the lanes are the leader's, and on one that has just begun to lead
   * they are not yet read in: the counts come from the store (exact), the settings (pause, pins) from this node's
   * copy, kept in step with the others.
   */
  const seenHere = async (info: FlowInfo, userId: string): Promise<FlowInfo> => {
    if (engine.lanesLoaded) return info;
    return { ...info, ...(await storeCounts(userId, info.flowControlKey, Date.now())) };
  };
  /**
   * A key this node's view does not know, from the store: messages of it in flight or due and waiting there show it
   * is in use, so it is given with those counts and the limits of a key with no settings (undefined when it has
   * none). A node that does not lead has no lane for a key only the leader has used, and a node that has just begun
   * to lead has none until its due loader has read the key's messages: neither answers "not found" for it.
   */
  const inStoreOnly = async (userId: string, key: string, now: number): Promise<FlowInfo | undefined> => {
    const counts = await storeCounts(userId, key, now);
    if (counts.parallelismCount + counts.waitListSize === 0) return undefined;
    return { ...new FlowLimiter(key, now).info(now, 0), ...counts };
  };
  /**
   * On a node that has just begun to lead, its lanes are read in within moments: a read waits for that (bounded),
   * so it gives the key's own limits and rate window from the lanes rather than the store's counts alone.
   */
  const lanesSettled = async (): Promise<void> => {
    if (!engine.leading || engine.lanesLoaded) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([engine.lanesReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, LANES_WAIT_MS)))]);
    clearTimeout(timer);
  };
  /** One key as this node sees it, or as the store shows it when this node's view does not know it. */
  const keyHere = async (userId: string, key: string): Promise<FlowInfo> => {
    await lanesSettled();
    try {
      return await seenHere(await settings.flowInfo(userId, key), userId);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 404)) throw err;
      const fromStore = await inStoreOnly(userId, key, Date.now());
      if (!fromStore) throw err;
      return fromStore;
    }
  };
  /** The keys this node's view knows, and those in use in the store that it does not (see `inStoreOnly`), by name. */
  const listHere = async (userId: string, search: string | undefined): Promise<FlowInfo[]> => {
    await lanesSettled();
    const known = await Promise.all((await settings.listFlow(userId, search)).map((info) => seenHere(info, userId)));
    // A leader whose lanes are read in knows every key in use: the store's list (a walk of the user's keyed
    // messages) is asked only where this node's view may lack some.
    if (engine.lanesLoaded) return known;
    const names = new Set(known.map((info) => info.flowControlKey));
    const now = Date.now();
    const unknown = (await deps.reads.listFlowKeysInUse(userId, now, search ?? "", STORE_KEYS_MAX)).filter((key) => !names.has(key));
    const fromStore = (await Promise.all(unknown.map((key) => inStoreOnly(userId, key, now)))).filter((info) => info !== undefined);
    // The order of `listFlow` (by UTF-16 code unit), which the store's collation need not share.
    return [...known, ...fromStore].sort((x, y) => (x.flowControlKey < y.flowControlKey ? -1 : x.flowControlKey > y.flowControlKey ? 1 : 0));
  };
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/flowControl", async (req, reply) => {
      const search = one(knownQuery(req, PARAMS.flowControlList), "search");
      if (await answeredByLeader(req, reply, deps.leader)) return reply;
      return listHere(req.userId, search);
    });

    app.get<{ Params: { key: string } }>("/v2/flowControl/:key", async (req, reply) => {
      if (await answeredByLeader(req, reply, deps.leader)) return reply;
      return keyHere(req.userId, req.params.key);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/pause", async (req) => {
      await settings.steerFlow(req.userId, req.params.key, { kind: "pause" });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/resume", async (req) => {
      await settings.steerFlow(req.userId, req.params.key, { kind: "resume" });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/pin", async (req) => {
      const q = req.query as Query;
      const parallelism = positiveInt(q, "parallelism", MAX_PARALLELISM);
      const rate = positiveInt(q, "rate", MAX_RATE);
      const periodSec = positiveInt(q, "period", 7 * 86_400);
      if (parallelism === undefined && rate === undefined && periodSec === undefined) {
        throw badRequest("pin needs at least one of parallelism, rate or period");
      }
      await settings.steerFlow(req.userId, req.params.key, { kind: "pin", parallelism, rate, periodSec });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/unpin", async (req) => {
      const q = req.query as Query;
      await settings.steerFlow(req.userId, req.params.key, { kind: "unpin", parallelism: flag(q, "parallelism"), rate: flag(q, "rate") });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/resetRate", async (req) => {
      await settings.steerFlow(req.userId, req.params.key, { kind: "resetRate" });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    // Back to the messages' own configuration: unpinned, resumed, a fresh rate window.
    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/reset", async (req) => {
      await settings.steerFlow(req.userId, req.params.key, { kind: "reset" });
      return seenHere(await settings.flowInfo(req.userId, req.params.key), req.userId);
    });

    app.get("/v2/globalParallelism", async (req) => ({
      // What actually bounds this user: global parallelism, or their share of the process's slots when lower.
      parallelismMax: engine.userLimit,
      // In a cluster, attempts run on every node: the store counts them all.
      parallelismCount: engine.role.nodeId === undefined ? engine.userInFlight(req.userId) : await deps.reads.countActive(req.userId),
    }));
  };
}
