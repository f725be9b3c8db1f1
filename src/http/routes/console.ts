import type { FastifyInstance, FastifyReply } from "fastify";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenFor } from "../../config.js";
import type { AppDeps } from "../request.js";

/** Where the console's pages live: the console is static files; every data call it makes is a token-scoped API call. */
export const CONSOLE_PATH = "/console";

/** The console's own files need no token (they hold no data); its API calls carry the user's token as usual. */
export function isConsolePath(path: string): boolean {
  return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** The front-end libraries, served as ES modules straight from their installed packages (no front-end build). */
function vendorFiles(): Map<string, string> {
  const require = createRequire(import.meta.url);
  const beside = (specifier: string, moduleFile: string): string => join(dirname(require.resolve(specifier)), moduleFile);
  return new Map([
    ["preact.js", beside("preact", "preact.module.js")],
    ["hooks.js", beside("preact/hooks", "hooks.module.js")],
    ["htm.js", beside("htm", "htm.module.js")],
  ]);
}

/**
 * The console's own files: `src/console` when run from source, `dist/console` (copied by `npm run build`) when run
 * from the package. Only names listed here are served, so a request path never reaches the file system.
 */
function consoleFiles(): Map<string, string> {
  const dir = fileURLToPath(new URL("../../console/", import.meta.url));
  const files = new Map<string, string>();
  for (const name of readdirSync(dir)) if (/^[a-z0-9-]+\.(html|js|css)$/.test(name)) files.set(name, join(dir, name));
  return files;
}

/**
 * GET /console (the web console), its assets and the dev users in dev mode. The console's read endpoints are
 * `console-overview.ts` and `console-ticks.ts`, registered beside this one.
 */
export function consoleRoutes(deps: AppDeps) {
  const { config } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    const own = consoleFiles();
    const vendor = vendorFiles();
    const cache = new Map<string, Buffer>();
    const send = (reply: FastifyReply, path: string | undefined, name: string) => {
      if (!path) return reply.code(404).send({ error: `not found: ${CONSOLE_PATH} has no file ${name}` });
      let bytes = cache.get(path);
      if (!bytes) cache.set(path, (bytes = readFileSync(path)));
      return reply
        .header("content-type", CONTENT_TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream")
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache")
        .send(bytes);
    };

    app.get(CONSOLE_PATH, async (_req, reply) => send(reply, own.get("index.html"), "index.html"));
    app.get<{ Params: { name: string } }>(`${CONSOLE_PATH}/:name`, async (req, reply) => send(reply, own.get(req.params.name), req.params.name));
    app.get<{ Params: { name: string } }>(`${CONSOLE_PATH}/vendor/:name`, async (req, reply) => send(reply, vendor.get(req.params.name), req.params.name));

    // The dev users' tokens are public (the vendor's dev server has the same ones): offered only in dev mode.
    if (config.mode === "dev") {
      app.get(`${CONSOLE_PATH}/api/dev-users`, async () => ({ users: config.users.map((u) => ({ userId: u.userId, token: tokenFor(u) })) }));
    }
  };
}
