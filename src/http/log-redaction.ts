import type { FastifyRequest } from "fastify";

const REDACTED = "[redacted]";

/**
 * Logger options that keep tokens out of request logs: the `qstash_token` query parameter is masked in the
 * logged URL, and the Authorization header is masked wherever a header object is logged.
 */
export const redactingLoggerOptions = {
  redact: { paths: ["req.headers.authorization", "headers.authorization"], censor: REDACTED },
  serializers: {
    req: (req: FastifyRequest) => ({
      method: req.method,
      url: withoutToken(req.url),
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket?.remotePort,
    }),
  },
};

/** `url` with the value of every `qstash_token` query parameter masked, however its name is percent-encoded. */
export function withoutToken(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const pieces = url
    .slice(q + 1)
    .split("&")
    .map((piece) => {
      const eq = piece.indexOf("=");
      const rawName = eq < 0 ? piece : piece.slice(0, eq);
      // URLSearchParams decodes a name the way the query parser does ("+" is a space) and never throws.
      const [[name] = [""]] = new URLSearchParams(rawName);
      return name === "qstash_token" ? `${rawName}=${REDACTED}` : piece;
    });
  return `${url.slice(0, q + 1)}${pieces.join("&")}`;
}
