import { vi } from "vitest";

/**
 * The SDK prints `[Upstash QStash] … failed with status 404` to console.error for every non-2xx reply; tests
 * that expect errors on purpose silence exactly those lines and nothing else.
 */
export function quietSdkErrors(): void {
  const original = console.error.bind(console);
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith("[Upstash QStash]")) return;
    original(...args);
  });
}
