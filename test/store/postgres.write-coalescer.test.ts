import pg from "pg";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WriteCoalescer } from "../../src/store/postgres/write-coalescer.js";
import { schemaUrl } from "../helpers/postgres.js";

/**
 * The statements of one turn leave the writer connection in one socket write: counted on the client's real
 * socket to a real PostgreSQL, with each statement's answer checked (order and content unchanged).
 */
let client: pg.Client | undefined;
afterEach(async () => {
  await client?.end();
  client = undefined;
});

/** The test server's URL, without the schema parameter (Sluice's own, not PostgreSQL's). */
function serverUrl(): string {
  const url = new URL(schemaUrl());
  url.searchParams.delete("schema");
  return url.toString();
}

async function pipelined(): Promise<{ client: pg.Client; writes: () => number }> {
  client = new pg.Client({ connectionString: serverUrl(), pipeline: true } as pg.ClientConfig);
  await client.connect();
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  let count = 0;
  const write = socket._write.bind(socket);
  const writev = socket._writev!.bind(socket);
  socket._write = (...args: Parameters<Socket["_write"]>) => (count++, write(...args));
  socket._writev = (...args: Parameters<NonNullable<Socket["_writev"]>>) => (count++, writev(...args));
  return { client, writes: () => count };
}

const send = (c: pg.Client, coalescer: WriteCoalescer | undefined, n: number): Promise<pg.QueryResult>[] =>
  Array.from({ length: n }, (_, i) => {
    coalescer?.beforeSend();
    return c.query({ text: "SELECT $1::int AS i", values: [i], name: "coalescer_select" });
  });

describe("WriteCoalescer", () => {
  it("sends the statements of one turn in one write, in order; without it each statement is a write of its own", async () => {
    const plain = await pipelined();
    const before = plain.writes();
    const plainResults = await Promise.all(send(plain.client, undefined, 5));
    expect(plain.writes() - before).toBe(5);
    expect(plainResults.map((r) => r.rows[0].i)).toEqual([0, 1, 2, 3, 4]);
    await client!.end();

    const coalesced = await pipelined();
    const coalescer = new WriteCoalescer(coalesced.client);
    const start = coalesced.writes();
    const results = await Promise.all(send(coalesced.client, coalescer, 5));
    expect(coalesced.writes() - start).toBe(1);
    expect(results.map((r) => r.rows[0].i)).toEqual([0, 1, 2, 3, 4]);
    // The next turn corks again: its statements are one more write.
    const next = await Promise.all(send(coalesced.client, coalescer, 3));
    expect(coalesced.writes() - start).toBe(2);
    expect(next.map((r) => r.rows[0].i)).toEqual([0, 1, 2]);
  });
});
