import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // Installs what the suite needs and a fresh machine may lack (Debian's Chromium), where it can.
    globalSetup: ["test/setup/chromium.ts"],
  },
});
