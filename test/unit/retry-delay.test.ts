import { describe, it, expect } from "vitest";
import { compileRetryDelay, validateRetryDelay } from "../../src/protocol/retry-delay.js";
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

const MAX = Number.MAX_SAFE_INTEGER;

describe("compileRetryDelay: evaluation", () => {
  it.each([
    ["1000", 0, 1000],
    ["1.5", 0, 2], // whole ms, rounded
    ["0.25 * 4", 0, 1],
    [".5 * 10", 0, 5],
    ["retried", 7, 7],
    ["pow(2, retried) * 1000", 0, 1000],
    ["pow(2, retried) * 1000", 3, 8000],
    ["1000 * (1 + retried)", 2, 3000],
    ["2 + 3 * 4", 0, 14],
    ["(2 + 3) * 4", 0, 20],
    ["10 - 4 - 3", 0, 3], // left associative
    ["100 / 10 / 2", 0, 5],
    ["17 % 5", 0, 2],
    ["-5 + 10", 0, 5],
    ["--5", 0, 5],
    ["+5", 0, 5],
    ["-(-(3))", 0, 3],
    ["2 * -3 + 10", 0, 4],
    ["exp(0) * 1000", 0, 1000],
    ["sqrt(16)", 0, 4],
    ["abs(0 - 42)", 0, 42],
    ["floor(2.9)", 0, 2],
    ["ceil(2.1)", 0, 3],
    ["round(2.5)", 0, 3],
    ["-round(-2.5) ", 0, 3], // half away from zero, like Go
    ["min(5, 3, 9)", 0, 3],
    ["max(5, 3, 9)", 0, 9],
    ["min(60000, pow(2, retried) * 1000)", 10, 60000],
    ["max(1000, retried * 100)", 50, 5000],
    [" \t pow ( 2 , retried ) ", 4, 16],
  ])("%j with retried=%d → %d", (expr, retried, expected) => {
    expect(compileRetryDelay(expr)(retried)).toBe(expected);
  });

  it.each([
    ["negative → 0", "0 - 1000", 0],
    ["-Infinity → 0", "-1 / 0", 0],
    ["Infinity → max", "1 / 0", MAX],
    ["NaN → max", "0 / 0", MAX],
    ["NaN from % 0 → max", "5 % 0", MAX],
    ["NaN from sqrt(-1) → max", "sqrt(-1)", MAX],
    ["overflow → max", "pow(10, 400)", MAX],
    ["huge finite → max", "pow(10, 300)", MAX],
    ["huge literal → max", "9".repeat(400), MAX],
  ])("clamps: %s", (_label, expr, expected) => {
    expect(compileRetryDelay(expr)(0)).toBe(expected);
  });

  it("accepts the maximum length and nesting", () => {
    expect(compileRetryDelay("1" + " ".repeat(1023))(0)).toBe(1);
    expect(compileRetryDelay("(".repeat(64) + "1" + ")".repeat(64))(0)).toBe(1);
    expect(compileRetryDelay("-".repeat(64) + "1")(0)).toBe(1);
  });

  it("evaluates long operator chains without blowing the stack", () => {
    expect(compileRetryDelay(Array(512).fill("1").join("+"))(0)).toBe(512);
  });
});

describe("compileRetryDelay: compile-time errors", () => {
  it.each([
    ["", "expression is empty at position 1"],
    ["   ", "expression is empty at position 4"],
    ["1 +", "unexpected end of expression at position 4"],
    ["1 + * 2", 'unexpected "*" at position 5'],
    ["2 retried", 'unexpected "r" at position 3'],
    ["(1 + 2", 'expected ")" but found end of expression at position 7'],
    ["1 + 2)", 'unexpected ")" at position 6'],
    ["()", 'unexpected ")" at position 2'],
    ["2 ^ 3", 'unexpected "^" at position 3'],
    ["2 ** 3", 'unexpected "*" at position 4'],
    ["1e3", 'unexpected "e" at position 2'],
    ["1..2", 'unexpected "." at position 3'],
    ["foo + 1", 'unknown identifier "foo" at position 1'],
    ["Retried", 'unknown identifier "Retried" at position 1'],
    ["constructor(1)", 'unknown identifier "constructor" at position 1'],
    ["__proto__", 'unknown identifier "__proto__" at position 1'],
    ["Math.pow(2,3)", 'unknown identifier "Math" at position 1'],
    ["retried(1)", '"retried" is not a function at position 1'],
    ["1 + pow", 'function "pow" must be called with parentheses at position 5'],
    ["pow(2)", "pow() expects 2 arguments, got 1 at position 1"],
    ["pow(1, 2, 3)", "pow() expects 2 arguments, got 3 at position 1"],
    ["sqrt()", "sqrt() expects 1 argument, got 0 at position 1"],
    ["exp(1, 2)", "exp() expects 1 argument, got 2"],
    ["abs()", "abs() expects 1 argument, got 0"],
    ["floor(1, 2)", "floor() expects 1 argument, got 2"],
    ["ceil()", "ceil() expects 1 argument, got 0"],
    ["round(1, 2)", "round() expects 1 argument, got 2"],
    ["min(1)", "min() expects at least 2 arguments, got 1"],
    ["max()", "max() expects at least 2 arguments, got 0"],
    ["min(1,)", 'unexpected ")" at position 7'],
    ["min(1 2)", 'expected ")" but found "2" at position 7'],
    ["1; 2", 'unexpected ";" at position 2'],
    ["retried = 1", 'unexpected "=" at position 9'],
    ["'1'", `unexpected "'" at position 1`],
    ["(".repeat(65) + "1" + ")".repeat(65), "nesting deeper than 64 levels at position 65"],
    ["-".repeat(65) + "1", "nesting deeper than 64 levels"],
    ["abs(".repeat(65) + "1" + ")".repeat(65), "nesting deeper than 64 levels"],
  ])("%j → %s", (expr, reason) => {
    const err = thrown(() => compileRetryDelay(expr));
    expect(err.status).toBe(400);
    expect(err.message.startsWith(`invalid Upstash-Retry-Delay "${expr}": `)).toBe(true);
    expect(err.message).toContain(reason);
  });

  it("rejects expressions over 1024 characters without echoing them whole", () => {
    const err = thrown(() => compileRetryDelay("1" + " ".repeat(1024)));
    expect(err.status).toBe(400);
    expect(err.message).toBe(`invalid Upstash-Retry-Delay "1${" ".repeat(39)}…": expression is longer than 1024 characters`);
  });
});

describe("validateRetryDelay", () => {
  it.each<[string, number]>([
    ["pow(2, retried) * 1000", 100],
    ["1000", 1],
    ["0 - 1000", 3], // negative: retried at once, not an error
    ["pow(10, 300)", 1], // finite: capped at maxDelay when used
    ["1000 / (retried + 1)", 5],
  ])("accepts %j for %d retries", (expr, retries) => {
    expect(() => validateRetryDelay(expr, retries)).not.toThrow();
  });

  it.each(["", "pow(2)", "retried +", "x"])("rejects %j with a 400", (expr) => {
    expect(thrown(() => validateRetryDelay(expr)).status).toBe(400);
  });

  it.each<[string, number, string]>([
    ["1 / 0", 1, "is infinite (a division by zero or an overflow) when retried is 0"],
    ["-1 / 0", 1, "is infinite (a division by zero or an overflow) when retried is 0"],
    ["1000 / retried", 0, "is infinite (a division by zero or an overflow) when retried is 0"],
    ["1000 / (retried - 2)", 3, "is infinite (a division by zero or an overflow) when retried is 2"],
    ["0 / 0", 1, "is not a number (0 / 0, % 0 or sqrt of a negative) when retried is 0"],
    ["5 % 0", 1, "is not a number (0 / 0, % 0 or sqrt of a negative) when retried is 0"],
    ["sqrt(retried - 2)", 3, "is not a number (0 / 0, % 0 or sqrt of a negative) when retried is 0"],
    ["sqrt(1 - retried)", 3, "is not a number (0 / 0, % 0 or sqrt of a negative) when retried is 2"],
    ["pow(10, 400)", 1, "is infinite (a division by zero or an overflow) when retried is 0"],
    ["9".repeat(400), 1, "is infinite (a division by zero or an overflow) when retried is 0"],
    ["pow(2, retried * 100)", 20, "is infinite (a division by zero or an overflow) when retried is 11"],
  ])("rejects %j with %d retries: %s", (expr, retries, reason) => {
    const err = thrown(() => validateRetryDelay(expr, retries));
    expect(err.status).toBe(400);
    expect(err.message).toBe(`invalid Upstash-Retry-Delay "${expr}": ${reason}`);
  });

  it("evaluates only the retries a message makes, and at most 1000 whatever maxRetries is", () => {
    expect(() => validateRetryDelay("1 / (retried - 3)", 3)).not.toThrow();
    expect(thrown(() => validateRetryDelay("1 / (retried - 3)", 4)).message).toContain("when retried is 3");
    expect(() => validateRetryDelay("1 / (retried - 1000)", 1_000_000)).not.toThrow();
  });
});
