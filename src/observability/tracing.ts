import { createHash } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { ObservabilitySettings } from "../config.js";
import type { AttemptResult } from "../engine/deliverer.js";
import type { MessageRecord } from "../engine/message.js";
import { packageVersion } from "../package-version.js";
import { formatTraceparent, parseTraceparent, storedTraceparent, type TraceIds } from "./traceparent.js";

/** One attempt's span, as the engine sees it: the traceparent to send, and where to report the outcome. */
export interface AttemptSpan {
  traceparent: string;
  end(result: AttemptResult): void;
}

/** A started publish span; its traceparent is what the published messages carry to their deliveries. */
export interface PublishSpan {
  traceparent: string;
  end(statusCode: number): void;
}

/**
 * OpenTelemetry spans for publishes and attempts, exported over OTLP/HTTP (JSON) in batches. Parents are passed
 * explicitly (no global context manager, no async hooks): a publish continues the caller's `traceparent`; each
 * attempt is a child of the traceparent stored with its message, and the destination receives the attempt's own.
 * A workflow run is one trace, its id derived from the run id; each step's span links to the publish behind it.
 */
export class Tracing {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;

  constructor(settings: ObservabilitySettings & { tracesEndpoint: string }) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": settings.serviceName, "service.version": packageVersion() }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.tracesEndpoint, headers: settings.tracesHeaders }) })],
    });
    this.tracer = this.provider.getTracer("sluice", packageVersion());
  }

  /** A span for one publish request (publish, enqueue, batch), child of the caller's traceparent if valid. */
  startPublish(route: string, userId: string, incoming: string | undefined, workflowRunId: string | undefined): PublishSpan {
    const parent = contextOf(incoming) ?? (workflowRunId ? runContext(userId, workflowRunId) : ROOT_CONTEXT);
    const span = this.tracer.startSpan(
      "publish",
      { kind: SpanKind.SERVER, attributes: { "http.route": route, "sluice.user": userId, ...(workflowRunId ? { "workflow.run_id": workflowRunId } : {}) } },
      parent,
    );
    return {
      traceparent: traceparentOf(span),
      end(statusCode) {
        span.setAttribute("http.response.status_code", statusCode);
        if (statusCode >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  startAttempt(msg: MessageRecord): AttemptSpan {
    const stored = parseStored(msg.header);
    const run = msg.workflow?.runId;
    // A run is one trace whoever published its steps (the SDK's step publishes carry no trace of their own): its
    // steps hang off the run, each linked to the publish that created it.
    const parent = run ? runContext(msg.userId, run) : stored ? remote(stored) : ROOT_CONTEXT;
    let host = "";
    try {
      host = new URL(msg.url).host;
    } catch {
      // An invalid URL fails the attempt itself; the span just has no host.
    }
    const span = this.tracer.startSpan(
      run ? "workflow step" : "attempt",
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "sluice.message_id": msg.id,
          "sluice.user": msg.userId,
          "sluice.retry": msg.retried,
          "server.address": host,
          "http.request.method": msg.method,
          ...(run ? { "workflow.run_id": run, "workflow.call_type": msg.workflow!.callType } : {}),
        },
        links: run && stored ? [{ context: { ...stored, isRemote: true } }] : undefined,
      },
      parent,
    );
    return {
      traceparent: traceparentOf(span),
      end(result) {
        if (result.kind === "response") {
          span.setAttribute("http.response.status_code", result.status);
          if (result.status >= 300) span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${result.status}` });
        } else {
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.error });
        }
        span.end();
      },
    };
  }

  /** Sends what is still buffered, then stops. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** Tracing when an OTLP endpoint is configured; undefined (nothing created, nothing per message) otherwise. */
export function tracingFrom(settings: ObservabilitySettings): Tracing | undefined {
  const { tracesEndpoint } = settings;
  return tracesEndpoint === undefined ? undefined : new Tracing({ ...settings, tracesEndpoint });
}

function contextOf(traceparent: string | undefined): Context | undefined {
  const parsed = traceparent === undefined ? undefined : parseTraceparent(traceparent);
  return parsed && remote(parsed);
}

function remote(ids: TraceIds): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { ...ids, isRemote: true });
}

function parseStored(header: Record<string, string[]>): TraceIds | undefined {
  const stored = storedTraceparent(header);
  return stored === undefined ? undefined : parseTraceparent(stored);
}

/** A fixed parent for a run's steps, so a run is one trace even when the endpoint's publishes carry none. */
function runContext(userId: string, runId: string): Context {
  const h = createHash("sha256").update(userId).update("\0").update(runId).digest("hex");
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: h.slice(0, 32), spanId: h.slice(32, 48), traceFlags: 1, isRemote: true });
}

function traceparentOf(span: Span): string {
  return formatTraceparent(span.spanContext());
}
