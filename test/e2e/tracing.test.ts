import { createServer, type Server } from "node:http";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { TestReceiver } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string | number>;
  status?: { code?: number };
  links: { traceId: string; spanId: string }[];
}

/** A small OTLP/HTTP collector on 127.0.0.1: keeps the spans of every JSON export it receives. */
class OtlpReceiver {
  readonly spans: ExportedSpan[] = [];
  readonly contentTypes: string[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const r = new OtlpReceiver(server);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        r.contentTypes.push(String(req.headers["content-type"]));
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              const attributes: Record<string, string | number> = {};
              for (const a of s.attributes ?? []) attributes[a.key] = a.value.stringValue ?? Number(a.value.intValue);
              attributes["service.name"] = rs.resource.attributes.find((a: any) => a.key === "service.name")?.value.stringValue;
              r.spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, attributes, status: s.status, links: s.links ?? [] });
            }
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/v1/traces`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

async function tracedSluice(otlp: OtlpReceiver): Promise<TestSluice> {
  const base = loadConfig("dev", { memory: true }, {});
  return startSluice({ observability: { ...base.observability, tracesEndpoint: otlp.url, serviceName: "sluice-under-test" } });
}

describe("OpenTelemetry traces", () => {
  it("a publish continues the caller's trace, each attempt is its child, and the destination gets the attempt's traceparent", async () => {
    const otlp = await OtlpReceiver.start();
    const dest = await TestReceiver.start();
    dest.respond = (_req, i) => (i === 0 ? { status: 500, body: "once" } : { status: 200, body: "ok" });
    const sluice = await tracedSluice(otlp);
    try {
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/traced")}`, {
        body: "x",
        headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, "Upstash-Retries": "1", "Upstash-Retry-Delay": "0" },
      });
      expect(res.status).toBe(200);
      await dest.waitFor(2);
    } finally {
      // Closing flushes the batch of spans to the collector.
      await sluice.close();
      await dest.close();
      await otlp.close();
    }
    expect(otlp.contentTypes.every((t) => t.startsWith("application/json"))).toBe(true);
    const publish = otlp.spans.filter((s) => s.name === "publish");
    expect(publish).toHaveLength(1);
    expect(publish[0]).toMatchObject({ traceId: TRACE_ID, parentSpanId: CALLER_SPAN });
    expect(publish[0].attributes).toMatchObject({ "http.route": "/v2/publish/*", "http.response.status_code": 200, "service.name": "sluice-under-test" });

    const attempts = otlp.spans.filter((s) => s.name === "attempt").sort((a, b) => Number(a.attributes["sluice.retry"]) - Number(b.attributes["sluice.retry"]));
    expect(attempts).toHaveLength(2);
    for (const a of attempts) expect(a).toMatchObject({ traceId: TRACE_ID, parentSpanId: publish[0].spanId });
    expect(attempts.map((a) => [a.attributes["sluice.retry"], a.attributes["http.response.status_code"], a.attributes["server.address"]])).toEqual([
      [0, 500, `127.0.0.1:${dest.port}`],
      [1, 200, `127.0.0.1:${dest.port}`],
    ]);
    expect(attempts.map((a) => a.status?.code ?? 0)).toEqual([2, 0]); // ERROR, then UNSET
    // Each delivery names its own attempt span as parent, so the receiver's framework continues the trace.
    expect(dest.requests.map((r) => r.headers.traceparent)).toEqual(attempts.map((a) => `00-${TRACE_ID}-${a.spanId}-01`));
  });

  it("a workflow run's steps are spans of one trace, one per step", async () => {
    const otlp = await OtlpReceiver.start();
    const sluice = await tracedSluice(otlp);
    const host = await WorkflowHost.start(sluice);
    let runId = "";
    try {
      const url = host.add("/traced-run", async (ctx) => {
        const a = await ctx.run("first", () => 1);
        await ctx.run("second", () => a + 1);
      });
      runId = (await host.client().trigger({ url, body: {} })).workflowRunId;
      await waitForRun(host.client(), runId);
    } finally {
      await host.close();
      await sluice.close();
      await otlp.close();
    }
    const steps = otlp.spans.filter((s) => s.name === "workflow step" && s.attributes["workflow.run_id"] === runId);
    // init, first, second: one delivery each.
    expect(steps).toHaveLength(3);
    expect(new Set(steps.map((s) => s.traceId)).size).toBe(1);
    expect(new Set(steps.map((s) => s.parentSpanId)).size).toBe(1);
    // Each step links to the publish (the SDK's batch) that created its message.
    const publishes = new Map(otlp.spans.filter((s) => s.name === "publish").map((s) => [s.spanId, s]));
    for (const s of steps) {
      expect(s.links).toHaveLength(1);
      expect(publishes.get(s.links[0].spanId)?.traceId).toBe(s.links[0].traceId);
    }
  });

  it("off by default: nothing is traced, and a caller's traceparent still reaches the destination as sent", async () => {
    const dest = await TestReceiver.start();
    const sluice = await startSluice();
    try {
      expect(sluice.engine.tracing).toBeUndefined();
      const sent = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
      await sluice.api("POST", `/v2/publish/${dest.url("/carried")}`, { body: "x", headers: { traceparent: sent } });
      await sluice.api("POST", `/v2/publish/${dest.url("/plain")}`, { body: "y" });
      await sluice.api("POST", `/v2/publish/${dest.url("/bad")}`, { body: "z", headers: { traceparent: "00-not-a-trace-01" } });
      await dest.waitFor(3);
      expect(dest.at("/carried")[0].headers.traceparent).toBe(sent);
      expect(dest.at("/plain")[0].headers.traceparent).toBeUndefined();
      expect(dest.at("/bad")[0].headers.traceparent).toBeUndefined();
    } finally {
      await sluice.close();
      await dest.close();
    }
  });

  it("is configured by the standard OTEL_* variables, and refuses what it cannot honour by name", () => {
    const on = (env: Record<string, string>) => loadConfig("dev", { memory: true }, env).observability;
    expect(on({}).tracesEndpoint).toBeUndefined();
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracesEndpoint).toBe("http://collector:4318/v1/traces");
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9/t" }).tracesEndpoint).toBe("http://b:9/t");
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_TRACES_EXPORTER: "none" }).tracesEndpoint).toBeUndefined();
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_SDK_DISABLED: "true" }).tracesEndpoint).toBeUndefined();
    expect(on({ OTEL_SERVICE_NAME: "queue" }).serviceName).toBe("queue");
    expect(on({ OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=a%20b,tenant=t1" }).tracesHeaders).toEqual({ "x-api-key": "a b", tenant: "t1" });
    expect(() => on({ OTEL_TRACES_EXPORTER: "jaeger" })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => on({ OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://a:4317" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
  });
});
