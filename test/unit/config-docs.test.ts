import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV, loadConfig } from "../../src/config.js";

/** docs/configuration.md lists exactly the settings the loader reads, each with its environment name and file key. */
const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");

function documented(): string[] {
  return [...doc.matchAll(/^\| `(SLUICE_[A-Z0-9_]+)` \| `([A-Za-z0-9]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
}

function read(): string[] {
  const seen = new Set<string>();
  loadConfig("serve", { memory: true }, { [ENV.users]: "a:b" }, (envName, fileKey) => seen.add(`${envName} ${fileKey}`));
  return [...seen].sort();
}

describe("docs/configuration.md", () => {
  it("documents every setting the loader reads, and only those, with the same environment name and file key", () => {
    expect(read().length).toBeGreaterThan(30);
    expect(documented()).toEqual(read());
  });

  it("names every environment variable of ENV (SLUICE_CONFIG in the prose)", () => {
    for (const name of Object.values(ENV)) expect(doc, name).toContain(`\`${name}\``);
  });
});

describe("docs/operations.md", () => {
  it("quotes the refusal of a newer schema as the store words it", () => {
    const ops = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8").replace(/\s+/g, " ");
    const store = readFileSync(new URL("../../src/store/sqlite/sqlite-store.ts", import.meta.url), "utf8");
    expect(store).toContain("newer than this Sluice knows (${MIGRATIONS.length}): ` +");
    expect(ops).toContain("has schema version <n>, newer than this Sluice knows (<m>): it was written by a newer Sluice. Run that version (or newer), or restore a backup taken before the upgrade");
  });
});
