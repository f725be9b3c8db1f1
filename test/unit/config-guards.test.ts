import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

/** The settings of fair slots and webhook guards: defaults, environment, and refusals that name the setting. */
const load = (env: Record<string, string>) => loadConfig("dev", { memory: true }, env);

describe("fair-share and webhook settings", () => {
  it("have their defaults", () => {
    const c = load({});
    expect(c.userMaxInFlightShare).toBe(0.8);
    expect(c.limits.maxWebhookBodyBytes).toBe(1024 * 1024);
    expect(c.limits.maxRunEvents).toBe(100);
  });

  it("are read from the environment", () => {
    const c = load({ SLUICE_USER_MAX_IN_FLIGHT_SHARE: "0.25", SLUICE_MAX_WEBHOOK_BODY_BYTES: "2048", SLUICE_MAX_RUN_EVENTS: "7" });
    expect([c.userMaxInFlightShare, c.limits.maxWebhookBodyBytes, c.limits.maxRunEvents]).toEqual([0.25, 2048, 7]);
    expect(load({ SLUICE_USER_MAX_IN_FLIGHT_SHARE: "1" }).userMaxInFlightShare).toBe(1);
  });

  it("refuse bad values, naming the setting", () => {
    for (const v of ["0", "-0.5", "1.5", "half"]) {
      expect(() => load({ SLUICE_USER_MAX_IN_FLIGHT_SHARE: v }), v).toThrow(/userMaxInFlightShare must be a number > 0 and ≤ 1/);
    }
    expect(() => load({ SLUICE_MAX_WEBHOOK_BODY_BYTES: "0" })).toThrow(/maxWebhookBodyBytes/);
    expect(() => load({ SLUICE_MAX_RUN_EVENTS: "1.5" })).toThrow(/maxRunEvents/);
  });
});
