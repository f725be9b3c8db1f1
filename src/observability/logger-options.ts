import { LogController } from "fastify";
import type { LogLevel } from "../config.js";
import { redactingLoggerOptions } from "../http/log-redaction.js";

/** Request logs are one line per request: shown at `debug` and `trace` only, so `info` keeps to the events that matter. */
export function requestLogController(level: LogLevel): LogController {
  return new LogController({ disableRequestLogging: level !== "debug" && level !== "trace" });
}

/**
 * The server's pino options: JSON lines when stdout is not a terminal (for log collectors), a readable
 * coloured form (pino-pretty) when a person is watching it; tokens are redacted in both.
 */
export function loggerOptions(level: LogLevel, onTerminal = process.stdout.isTTY === true): object | false {
  if (level === "silent") return false;
  return {
    level,
    ...redactingLoggerOptions,
    ...(onTerminal ? { transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } } : {}),
  };
}
