import { describe, it, expect } from "vitest";
import { NAME_PATTERN, validateName } from "../../src/protocol/names.js";
import { HttpError } from "../../src/errors.js";

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error("expected an HttpError");
}

describe("validateName", () => {
  it.each(["a", "my-queue", "Queue_1", "v1.2.3", "...", "-_.", "x".repeat(200)])("accepts %j", (name) => {
    expect(validateName(name, "queue name")).toBe(name);
    expect(NAME_PATTERN.test(name)).toBe(true);
  });

  it.each([
    ["", 200, "queue name must not be empty"],
    ["x".repeat(201), 200, "longer than 200 characters"],
    ["abcdef", 5, "longer than 5 characters"],
    ["my queue", 200, 'invalid queue name "my queue": only letters, digits'],
    ["a/b", 200, 'invalid queue name "a/b"'],
    ["ünicode", 200, 'invalid queue name "ünicode"'],
    ["a,b", 200, 'invalid queue name "a,b"'],
    ["name\n", 200, "only letters, digits"],
  ])("rejects %j (max %d)", (name, max, message) => {
    const err = thrown(() => validateName(name, "queue name", max));
    expect(err.status).toBe(400);
    expect(err.message).toContain(message);
  });

  it("echoes only a prefix of an over-long value", () => {
    expect(() => validateName("y".repeat(5000), "label")).toThrow(/^invalid label "y{40}…": longer than 200/);
  });
});
