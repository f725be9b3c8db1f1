import { describe, expect, it } from "vitest";
import { exceedsJsonDepth, MAX_JSON_DEPTH, parseJsonBounded } from "../../src/protocol/json-depth.js";

const nested = (n: number): string => "[".repeat(n) + "]".repeat(n);
const objects = (n: number): string => '{"a":'.repeat(n) + "1" + "}".repeat(n);

describe("exceedsJsonDepth", () => {
  it.each<[string, string, number, boolean]>([
    ["a scalar", "42", 0, false],
    ["an empty object at depth 1", "{}", 1, false],
    ["an empty object over depth 0", "{}", 0, true],
    ["arrays at the limit", nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH, false],
    ["arrays one over the limit", nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, true],
    ["objects at the limit", objects(MAX_JSON_DEPTH), MAX_JSON_DEPTH, false],
    ["objects one over the limit", objects(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, true],
    ["20,000 levels", nested(20_000), MAX_JSON_DEPTH, true],
    ["siblings do not add up", `[${Array(1000).fill("[[]]").join(",")}]`, 3, false],
    ["brackets inside strings do not count", JSON.stringify({ s: "[".repeat(1000) }), 1, false],
    ["escaped quotes stay inside the string", JSON.stringify({ s: '\\"[[[' }), 1, false],
    ["a string ending in an escaped backslash", `["\\\\", [[]]]`, 2, true],
  ])("%s", (_label, text, max, expected) => {
    expect(exceedsJsonDepth(text, max)).toBe(expected);
  });
});

describe("parseJsonBounded", () => {
  it.each<[string, string, unknown]>([
    ["valid JSON", '{"a":[1,2]}', { a: [1, 2] }],
    ["invalid JSON", "{nope", undefined],
    ["too deep", nested(20_000), undefined],
  ])("%s", (_label, text, expected) => {
    expect(parseJsonBounded(text)).toEqual(expected);
  });
});
