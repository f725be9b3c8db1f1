/**
 * The delivery thread's entry point (see delivery-thread.ts): a Deliverer that runs the attempts it is sent and
 * answers with their results, batched per turn of its event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { BodyPacker } from "./body-pack.js";
import { Deliverer, type AttemptResult } from "./deliverer.js";
import { outcomeOf, requestOf, type DeliveryOutcome, type DeliveryThreadOptions, type FromDeliveryThread, type ToDeliveryThread } from "./delivery-thread.js";
import { EgressPolicy } from "./egress.js";

const port = parentPort!;
const opts = workerData as DeliveryThreadOptions;
const deliverer = new Deliverer({ ...opts, egress: new EgressPolicy(opts.egress) });

let outbox: DeliveryOutcome[] = [];
const outboxBodies = new BodyPacker();
let flushQueued = false;
let running = 0;
let idle: (() => void) | undefined;

function post(message: FromDeliveryThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function flush(): void {
  flushQueued = false;
  const results = outbox;
  outbox = [];
  const bodies = outboxBodies.take();
  post({ type: "results", results, bodies }, [bodies.buffer]);
}

function ended(id: number, result: AttemptResult): void {
  outbox.push(outcomeOf(id, result, outboxBodies));
  // Results of the responses read in this turn of the loop go back together.
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flush);
  }
  if (--running === 0) idle?.();
}

async function close(graceMs: number): Promise<void> {
  await deliverer.close(graceMs);
  // Closing the pools ended every attempt (aborted ones as errors); their results go back before `closed`.
  if (running > 0) await new Promise<void>((resolve) => (idle = resolve));
  if (outbox.length) flush();
  post({ type: "closed" });
  port.close();
}

port.on("message", (message: ToDeliveryThread) => {
  if (message.type === "close") return void close(message.graceMs);
  for (const job of message.jobs) {
    running++;
    const id = job[0];
    void deliverer.attempt(requestOf(job, message.bodies)).then((result) => ended(id, result));
  }
});

post({ type: "ready" });
