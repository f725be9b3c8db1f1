import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Worker } from "node:worker_threads";
import { Deliverer, STOPPED_ATTEMPT } from "../../src/engine/deliverer.js";
import { DeliveryThread } from "../../src/engine/delivery-thread.js";
import { EgressPolicy } from "../../src/engine/egress.js";
import type { DeliveryRequest } from "../../src/protocol/delivery-request.js";
import { eventually, gate, TestReceiver } from "../helpers/receiver.js";

const EGRESS = { allowHosts: [], denyHosts: [], allowCidrs: [], denyCidrs: [], allowPrivate: true };
const OPTIONS = { connectionsPerOrigin: 16, maxResponseBodyBytes: 1024, egress: EGRESS };

let dest: TestReceiver;
beforeAll(async () => {
  dest = await TestReceiver.start();
});
afterAll(async () => {
  await dest.close();
});

function request(path: string, timeoutMs = 5_000): DeliveryRequest {
  return {
    url: dest.url(path),
    method: "POST",
    headers: ["Content-Type", "text/plain"],
    body: Buffer.from(`to ${path}`),
    timeoutMs,
    signing: { key: "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r", nowMs: Date.now(), nbfSkewSeconds: 0 },
  };
}

/** The thread's worker: the tests stop it from outside, as a crash would. */
const workerOf = (thread: DeliveryThread): Worker | undefined => (thread as unknown as { worker?: Worker }).worker;

/** The values of every line of header `name` a request arrived with, in order. */
const linesOf = (raw: string[], name: string): string[] => raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === name);

describe("the delivery thread", () => {
  it.each([
    ["on the delivery thread", () => DeliveryThread.start(OPTIONS, () => undefined)],
    ["on the engine's thread", async () => new Deliverer({ ...OPTIONS, egress: new EgressPolicy(EGRESS) })],
  ])("%s, a header of several values goes as one line each, signed last, and the response comes back whole", async (_, open) => {
    const sender = await open();
    dest.respond = () => ({ status: 201, headers: { "X-Reply": "yes" }, body: "made" });
    try {
      const req = request("/lines");
      req.headers.push("X-Many", ["a", "b"]);
      const result = await sender.attempt(req);
      expect(result).toMatchObject({ kind: "response", status: 201, headers: { "x-reply": "yes" } });
      expect(result.kind === "response" && Buffer.isBuffer(result.body) && result.body.toString()).toBe("made");
      const got = dest.requests.find((r) => r.path === "/lines")!;
      expect(linesOf(got.rawHeaders, "x-many")).toEqual(["a", "b"]);
      expect(linesOf(got.rawHeaders, "content-type")).toEqual(["text/plain"]);
      expect(linesOf(got.rawHeaders, "upstash-signature")).toHaveLength(1);
    } finally {
      dest.respond = () => ({ status: 200, body: "ok" });
      await sender.close();
    }
  });

  it("attempts sent together each carry their own body there and get their own response body back", async () => {
    const thread = await DeliveryThread.start(OPTIONS, () => undefined);
    // Empty, small, and larger than Node's pooled Buffers; the responses likewise, one of them empty.
    const sizes = [0, 1, 300, 5_000, 7];
    const bodyOf = (i: number): Buffer => Buffer.alloc(sizes[i], String.fromCharCode(97 + i));
    const replyOf = (i: number): string => (i === 2 ? "" : `reply ${i} `.repeat(i * 20));
    dest.respond = (req) => ({ status: 200, body: replyOf(Number(req.path.split("/").pop())) });
    try {
      // Started in one tick, so they cross in one message (and their results come back in as few as the worker makes).
      const results = await Promise.all(sizes.map((_, i) => thread.attempt({ ...request(`/packed/${i}`), body: bodyOf(i) })));
      results.forEach((result, i) => {
        expect(result.kind === "response" && result.body.toString()).toBe(replyOf(i));
        const got = dest.requests.find((r) => r.path === `/packed/${i}`)!;
        expect(got.body.equals(bodyOf(i))).toBe(true);
      });
    } finally {
      dest.respond = () => ({ status: 200, body: "ok" });
      await thread.close();
    }
  });

  it("applies the response limit and the egress policy on its side", async () => {
    const strict = await DeliveryThread.start({ ...OPTIONS, egress: { ...EGRESS, allowPrivate: false } }, () => undefined);
    const open = await DeliveryThread.start(OPTIONS, () => undefined);
    try {
      await expect(strict.attempt(request("/refused"))).resolves.toMatchObject({ kind: "error", permanent: true, error: expect.stringContaining("loopback") });
      dest.respond = () => ({ status: 200, body: "y".repeat(5_000) });
      const over = await open.attempt(request("/big"));
      expect(over).toMatchObject({ kind: "response", status: 200, overLimit: expect.stringContaining("1024 bytes") });
      expect(over.kind === "response" && Buffer.isBuffer(over.body) && over.body.toString()).toBe("y".repeat(1024));
    } finally {
      dest.respond = () => ({ status: 200, body: "ok" });
      await Promise.all([strict.close(), open.close()]);
    }
  });

  it("a thread that dies fails the attempts it held, and a new one sends the next", async () => {
    const errors: Error[] = [];
    const thread = await DeliveryThread.start(OPTIONS, (err) => errors.push(err));
    const held = gate();
    dest.respond = (req) => (req.path === "/held" ? { status: 200, until: held.wait } : { status: 204 });
    try {
      const attempt = thread.attempt(request("/held"));
      await dest.waitFor(dest.requests.length + 1);
      const dying = workerOf(thread)!;
      await dying.terminate();
      await expect(attempt).resolves.toMatchObject({ kind: "error", error: expect.stringContaining("the delivery thread stopped") });
      expect(errors.map((e) => e.message)).toEqual([expect.stringContaining("starting a new one")]);
      // Until the new worker exists, an attempt fails at once (and is retried) rather than wait for it.
      const next = await eventually(() => (workerOf(thread) !== undefined && workerOf(thread) !== dying ? workerOf(thread) : undefined), 5_000);
      await expect(thread.attempt(request("/after"))).resolves.toMatchObject({ kind: "response", status: 204 });
      expect(workerOf(thread)).toBe(next);
      // The attempt the dead worker held was not sent again by the new one.
      expect(dest.requests.filter((r) => r.path === "/held")).toHaveLength(1);
    } finally {
      held.open();
      dest.respond = () => ({ status: 200, body: "ok" });
      await thread.close();
    }
  });

  it("closing aborts attempts still running after the grace, and refuses new ones", async () => {
    const thread = await DeliveryThread.start(OPTIONS, () => undefined);
    const held = gate();
    dest.respond = () => ({ status: 200, until: held.wait });
    try {
      const attempt = thread.attempt(request("/slow"));
      await dest.waitFor(dest.requests.length + 1);
      const started = Date.now();
      await thread.close(200);
      expect(Date.now() - started).toBeLessThan(2_000);
      await expect(attempt).resolves.toEqual({ kind: "error", error: STOPPED_ATTEMPT });
      await expect(thread.attempt(request("/late"))).resolves.toEqual({ kind: "error", error: "the server is stopping" });
    } finally {
      held.open();
      dest.respond = () => ({ status: 200, body: "ok" });
    }
  });
});

describe("the deliverer on the engine's thread", () => {
  it("closing ends an attempt still waiting for its response once the grace is over", async () => {
    const deliverer = new Deliverer({ ...OPTIONS, egress: new EgressPolicy(EGRESS) });
    const held = gate();
    dest.respond = () => ({ status: 200, until: held.wait });
    try {
      const attempt = deliverer.attempt(request("/slow-here"));
      await dest.waitFor(dest.requests.length + 1);
      const started = Date.now();
      await deliverer.close(200);
      // Destroying the pools alone would leave it waiting until the destination answers.
      await expect(attempt).resolves.toEqual({ kind: "error", error: STOPPED_ATTEMPT });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      held.open();
      dest.respond = () => ({ status: 200, body: "ok" });
    }
  });
});
