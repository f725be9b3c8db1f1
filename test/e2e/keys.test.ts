import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";
import { withReceiver } from "./delivery-support.js";

// A separate instance: rotating here must not change the dev keys other files rely on.
let sluice: TestSluice;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

const verify = (r: Receiver, signature: string, body: string, url: string): Promise<boolean> =>
  r.verify({ signature, body, url });

describe("signing-key rotation", () => {
  it("after POST /v2/keys/rotate, deliveries are signed with the old next key, GET /v2/keys returns the new pair", async () => {
    const before = (await (await sluice.api("GET", "/v2/keys")).json()) as { current: string; next: string };
    expect(before).toEqual({ current: DEV_KEYS.current, next: DEV_KEYS.next });

    const res = await sluice.api("POST", "/v2/keys/rotate");
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { current: string; next: string };
    expect(rotated.current).toBe(DEV_KEYS.next);
    expect(rotated.next).toMatch(/^sig_[1-9A-HJ-NP-Za-km-z]{28}$/);
    expect(rotated.next).not.toBe(DEV_KEYS.current);
    expect(rotated.next).not.toBe(DEV_KEYS.next);
    expect(await (await sluice.api("GET", "/v2/keys")).json()).toEqual(rotated);

    await withReceiver(async (dest) => {
      await sluice.client().publish({ url: dest.url("/rotated"), body: "after rotation" });
      const [req] = await dest.waitFor(1);
      const sig = req.headers["upstash-signature"] as string;
      const url = dest.url("/rotated");
      const body = req.body.toString();
      // A receiver updated to the new pair verifies.
      await expect(verify(new Receiver({ currentSigningKey: rotated.current, nextSigningKey: rotated.next }), sig, body, url)).resolves.toBe(true);
      // A receiver still holding the old pair verifies through its next key.
      await expect(verify(new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next }), sig, body, url)).resolves.toBe(true);
      // The old current key alone no longer verifies, nor does the new next key alone: it is signed with the new current.
      const unrelated = "sig_1111111111111111111111111111";
      await expect(verify(new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: unrelated }), sig, body, url)).rejects.toThrow();
      await expect(verify(new Receiver({ currentSigningKey: rotated.next, nextSigningKey: unrelated }), sig, body, url)).rejects.toThrow();
    });
  });

  it("rotation is per user: another user's keys are untouched", async () => {
    const other = (await (await sluice.api("GET", "/v2/keys", { token: sluice.token(1) })).json()) as { current: string; next: string };
    expect(other).toEqual(sluice.config.users[1].signingKeys);
  });

  it("a rotation survives a restart on the same data directory (dev users included)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "sluice-keys-"));
    try {
      const first = await startSluice({ dataDir });
      let rotated: { current: string; next: string };
      try {
        rotated = (await (await first.api("POST", "/v2/keys/rotate")).json()) as { current: string; next: string };
        expect(rotated.current).toBe(DEV_KEYS.next);
      } finally {
        await first.close();
      }
      const second = await startSluice({ dataDir });
      try {
        expect(await (await second.api("GET", "/v2/keys")).json()).toEqual(rotated);
        await withReceiver(async (dest) => {
          await second.client().publish({ url: dest.url("/after-restart"), body: "b" });
          const [req] = await dest.waitFor(1);
          const receiver = new Receiver({ currentSigningKey: rotated.current, nextSigningKey: rotated.next });
          await expect(verify(receiver, req.headers["upstash-signature"] as string, "b", dest.url("/after-restart"))).resolves.toBe(true);
          // Signed with the rotated current key, not the configured dev current key.
          const stale = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: "sig_1111111111111111111111111111" });
          await expect(verify(stale, req.headers["upstash-signature"] as string, "b", dest.url("/after-restart"))).rejects.toThrow();
        });
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
