import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HTTPMethods } from "fastify";
import { OPERATION_NOTES } from "../../src/http/openapi-operations.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

const OPENAPI_METHODS = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"];

let sluice: TestSluice;
let doc: any;

beforeAll(async () => {
  sluice = await startSluice();
  const res = await fetch(`${sluice.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(() => sluice.close());

/** `/v2/dlq/{id}` back to the router's `/v2/dlq/:id`; `{destination}` is the trailing wildcard. */
const routerPath = (path: string): string => path.replace(/\{destination\}$/, "*").replace(/\{(\w+)\}/g, ":$1");

const operations = (): { method: string; path: string; op: any }[] =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document served without a token, naming Sluice and its version", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBe("Sluice");
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("lists only routes the server serves", () => {
    for (const { method, path } of operations()) {
      expect(sluice.app.hasRoute({ method: method as HTTPMethods, url: routerPath(path) }), `${method} ${path}`).toBe(true);
    }
  });

  it("lists every route the server serves (each method of the router's own table, HEAD beside GET aside)", () => {
    // Read from fastify's printout of its router, which this module does not produce. The printout merges nodes
    // (`*` at the root for every wildcard route, `:a|:b` for parameters in one place), so each line becomes a
    // pattern that at least one documented route must match, method by method.
    const documented = operations().map((o) => ({ method: o.method, url: routerPath(o.path) }));
    const prefixes: string[] = [];
    let checked = 0;
    for (const line of sluice.app.printRoutes({ commonPrefix: false }).split("\n")) {
      const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?\s*$/.exec(line);
      if (!m) continue;
      const depth = m[1].length / 4;
      prefixes[depth] = (prefixes[depth - 1] ?? "") + m[2];
      prefixes.length = depth + 1;
      const methods = m[3]?.split(", ") ?? [];
      const anyMethod = OPENAPI_METHODS.every((x) => methods.includes(x));
      const pattern = new RegExp(
        "^" + prefixes[depth].replace(/[.]/g, "\\.").replace(/:\w+(\|:\w+)*/g, ":\\w+").replace(/\*/g, ".*\\*") + "$",
      );
      for (const method of methods) {
        if (!OPENAPI_METHODS.includes(method) || (method === "HEAD" && methods.includes("GET") && !anyMethod)) continue;
        expect(documented.some((d) => d.method === method && pattern.test(d.url)), `${method} ${prefixes[depth]}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
    const keys = documented.map((d) => `${d.method} ${d.url}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("describes each route in Sluice's words, with its path parameters, query parameters and who may call it", () => {
    for (const { method, path, op } of operations()) {
      expect(op.summary, `${method} ${path} has no description in openapi-operations.ts`).not.toBe(`${method} ${routerPath(path)}`);
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).filter((p: any) => p.in === "path").map((p: any) => p.name)).toEqual(params);
    }
    const publish = doc.paths["/v2/publish/{destination}"].post;
    expect(publish.security).toEqual([{ bearer: [] }, { queryToken: [] }]);
    expect(doc.paths["/health"].get.security).toEqual([]);
    const cancel = doc.paths["/v2/messages"].delete;
    expect(cancel.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(["messageIds", "label", "count", "all"]));
  });

  it("has no description of a route that is not served", () => {
    for (const key of Object.keys(OPERATION_NOTES)) {
      const [method, url] = key.split(" ");
      expect(sluice.app.hasRoute({ method: (method === "ANY" ? "POST" : method) as HTTPMethods, url }), key).toBe(true);
    }
  });
});
