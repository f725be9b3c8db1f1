import type { FastifyInstance, FastifyRequest } from "fastify";
import type { IncomingMessage } from "node:http";
import { HttpError } from "../errors.js";

/** Seconds a client refused for lack of body memory is told to wait before it tries again. */
const RETRY_AFTER_SECONDS = 1;

/**
 * The bytes of request bodies held in memory across all requests at once. Each request takes what it declares
 * (Content-Length) before a byte is read, or what arrives as it arrives when it declares nothing, and gives it
 * back when its response is done or its connection is gone.
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Bytes currently held by requests in progress. */
  get inUse(): number {
    return this.used;
  }

  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** The 503 of a body that does not fit the budget now; the caller may try again shortly. */
export class BodyBudgetExceededError extends HttpError {
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;

  constructor(limit: number) {
    super(503, `the server is holding too many request bodies (maxInflightBodyBytes, ${limit} bytes): retry shortly`);
  }
}

/** What a request holds of the budget; given back when its response is done or its connection is gone. */
const HELD = Symbol("bodyBytesHeld");
type WithHeld = FastifyRequest & { [HELD]?: { bytes: number } };

/**
 * Reads every request body into one Buffer, counted against `budget` and held to the route's body limit.
 * With a Content-Length the buffer is allocated once and chunks are copied in as they arrive, so a body costs
 * its size once (collecting chunks and concatenating them at the end, as fastify does, costs it twice).
 */
export function registerBudgetedBodyParser(app: FastifyInstance, budget: BodyBudget, tooLarge: () => HttpError): void {
  // onRequest hooks all run before any body is read, so every request that gets parsed has its ledger.
  app.addHook("onRequest", (req: WithHeld, reply, done) => {
    const held = { bytes: 0 };
    req[HELD] = held;
    // `close` follows both a finished response and a client that went away mid-body.
    reply.raw.once("close", () => {
      budget.give(held.bytes);
      held.bytes = 0;
    });
    done();
  });

  app.addContentTypeParser("*", (req: WithHeld, payload: IncomingMessage, done: (err: Error | null, body?: Buffer) => void) => {
    const held = req[HELD]!;
    const limit = req.routeOptions.bodyLimit ?? budget.limit;
    const header = req.headers["content-length"];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > limit) return done(tooLarge());
    const take = (bytes: number): boolean => {
      if (!budget.tryTake(bytes)) return false;
      held.bytes += bytes;
      return true;
    };
    if (declared !== undefined && !take(declared)) return done(new BodyBudgetExceededError(budget.limit));

    const whole = declared !== undefined ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;

    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > limit) return finish(tooLarge());
      if (whole) {
        // Node's parser never delivers more than Content-Length; checked anyway, as a copy past the end would be lost.
        if (received + chunk.length > whole.length) return finish(tooLarge());
        chunk.copy(whole, received);
      } else {
        if (!take(chunk.length)) return finish(new BodyBudgetExceededError(budget.limit));
        chunks.push(chunk);
      }
      received += chunk.length;
    };
    const onEnd = (): void => {
      if (whole && received !== whole.length) {
        return finish(new HttpError(400, `request body has ${received} bytes but Content-Length is ${whole.length}`));
      }
      finish(null, whole ?? Buffer.concat(chunks, received));
    };
    const onError = (err: Error): void => finish(new HttpError(400, `request body could not be read: ${err.message}`));
    function finish(err: Error | null, body?: Buffer): void {
      payload.off("data", onData);
      payload.off("end", onEnd);
      payload.off("error", onError);
      done(err, body);
    }
    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onError);
  });
}
