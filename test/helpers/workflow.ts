import { createServer, type Server } from "node:http";
import { Client as QStashClient, Receiver } from "@upstash/qstash";
import { Client as WorkflowClient, serve } from "@upstash/workflow";
import type { TestSluice } from "./sluice.js";
import { DEV_KEYS } from "./sluice.js";

type ServeArgs = Parameters<typeof serve>;
export type RouteFunction = ServeArgs[0];
export type ServeOptions = NonNullable<ServeArgs[1]>;

/** Where the workflows' Sluice is and how to sign in: a TestSluice, or one node of a cluster. */
export type SluiceAddress = Pick<TestSluice, "url" | "token">;

/** One request the endpoint received, for assertions on what Sluice delivered. */
export interface EndpointHit {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

/**
 * Workflows served by the unmodified `@upstash/workflow` SDK (its web-standard `serve`) from a plain Node HTTP
 * server on 127.0.0.1, pointed at a test Sluice with the dev user's token and signing keys; deliveries are verified
 * with the SDK's own Receiver.
 */
export class WorkflowHost {
  readonly hits: EndpointHit[] = [];
  private readonly handlers = new Map<string, (req: Request) => Promise<Response>>();
  private server!: Server;
  port = 0;

  private constructor(
    readonly sluice: SluiceAddress,
    private readonly token: string,
  ) {}

  static async start(sluice: SluiceAddress, userIndex = 0): Promise<WorkflowHost> {
    const host = new WorkflowHost(sluice, sluice.token(userIndex));
    host.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const path = (req.url ?? "/").split("?")[0];
      const headers = new Headers();
      for (const [k, vs] of Object.entries(req.headersDistinct)) for (const v of vs ?? []) headers.append(k, v);
      const handler = host.handlers.get(path);
      let response: Response;
      if (!handler) {
        response = new Response("no such workflow", { status: 404 });
      } else {
        try {
          response = await handler(
            new Request(`http://127.0.0.1:${host.port}${req.url}`, {
              method: req.method,
              headers,
              body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
            }),
          );
        } catch (err) {
          response = new Response(String(err), { status: 500 });
        }
      }
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
      host.hits.push({ path, method: req.method ?? "", headers: flat, body: body.toString("utf8"), status: response.status });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    });
    await new Promise<void>((resolve) => host.server.listen(0, "127.0.0.1", resolve));
    host.port = (host.server.address() as { port: number }).port;
    return host;
  }

  /** Serves `fn` at `path`; returns the workflow's URL. */
  add(path: string, fn: RouteFunction, options: Partial<ServeOptions> = {}): string {
    const { handler } = serve(fn, {
      qstashClient: new QStashClient({ baseUrl: this.sluice.url, token: this.token }),
      receiver: new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next }),
      disableTelemetry: true,
      ...options,
    } as ServeOptions);
    this.handlers.set(path, handler as (req: Request) => Promise<Response>);
    return this.url(path);
  }

  /** Serves any web-standard handler at `path` (e.g. one from an SDK adapter's `serveMany`). */
  route(path: string, handler: (req: Request) => Promise<Response>): string {
    this.handlers.set(path, handler);
    return this.url(path);
  }

  /** What the SDK's adapters read from their environment to reach this Sluice. */
  env(): Record<string, string> {
    return {
      QSTASH_URL: this.sluice.url,
      QSTASH_TOKEN: this.token,
      QSTASH_CURRENT_SIGNING_KEY: DEV_KEYS.current,
      QSTASH_NEXT_SIGNING_KEY: DEV_KEYS.next,
    };
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The SDK's workflow client, talking to the test Sluice. */
  client(): WorkflowClient {
    return new WorkflowClient({ baseUrl: this.sluice.url, token: this.token });
  }

  hitsTo(path: string): EndpointHit[] {
    return this.hits.filter((h) => h.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls `client.logs` until the run reaches one of `states`; fails after `timeoutMs`. */
export async function waitForRun(
  client: WorkflowClient,
  workflowRunId: string,
  states: string[] = ["RUN_SUCCESS"],
  timeoutMs = 10_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const { runs } = await client.logs({ workflowRunId });
    last = runs[0];
    if (last && states.includes(last.workflowState)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${workflowRunId} did not reach ${states.join("/")} in ${timeoutMs}ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}
