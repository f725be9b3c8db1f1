import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";

/** One request that went through the proxy, with what Sluice answered. */
export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Header names of the items of a `/v2/batch` body (where the SDKs put the headers of batched messages). */
  itemHeaderNames: string[];
  status: number;
  responseHeaders: IncomingHttpHeaders;
}

/**
 * A pass-through HTTP proxy on 127.0.0.1 in front of a real Sluice: clients (the SDKs) talk to it unchanged, and
 * it records every request's headers and the answer's, to see exactly what the SDKs send.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  private server!: Server;
  port = 0;

  private constructor(private readonly target: URL) {}

  static async start(targetUrl: string): Promise<RecordingProxy> {
    const proxy = new RecordingProxy(new URL(targetUrl));
    proxy.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const upstream = request(
        { host: proxy.target.hostname, port: proxy.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: proxy.target.host } },
        (answer) => {
          proxy.requests.push({
            method: req.method ?? "",
            path: req.url ?? "",
            headers: req.headers,
            itemHeaderNames: batchItemHeaderNames(req.url ?? "", body),
            status: answer.statusCode ?? 0,
            responseHeaders: answer.headers,
          });
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", (err) => res.writeHead(502).end(String(err)));
      upstream.end(body);
    });
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function batchItemHeaderNames(path: string, body: Buffer): string[] {
  if (!path.startsWith("/v2/batch")) return [];
  try {
    const items = JSON.parse(body.toString("utf8")) as { headers?: Record<string, string> }[];
    return items.flatMap((item) => Object.keys(item.headers ?? {}).map((n) => n.toLowerCase()));
  } catch {
    return [];
  }
}
