import { badRequest } from "../errors.js";

/** Milliseconds to wait before the next attempt, given how many retries were already made. */
export type RetryDelayFn = (retried: number) => number;

type Node = (retried: number) => number;

const MAX_LENGTH = 1024;
const MAX_DEPTH = 64;

// Go's math.Round (half away from zero), not JS Math.round (half towards +∞), so -2.5 → -3.
const roundHalfAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

const FUNCTIONS: Record<string, { minArgs: number; maxArgs: number; apply: (args: number[]) => number }> = {
  pow: { minArgs: 2, maxArgs: 2, apply: ([a, b]) => Math.pow(a, b) },
  exp: { minArgs: 1, maxArgs: 1, apply: ([a]) => Math.exp(a) },
  sqrt: { minArgs: 1, maxArgs: 1, apply: ([a]) => Math.sqrt(a) },
  abs: { minArgs: 1, maxArgs: 1, apply: ([a]) => Math.abs(a) },
  floor: { minArgs: 1, maxArgs: 1, apply: ([a]) => Math.floor(a) },
  ceil: { minArgs: 1, maxArgs: 1, apply: ([a]) => Math.ceil(a) },
  round: { minArgs: 1, maxArgs: 1, apply: ([a]) => roundHalfAway(a) },
  min: { minArgs: 2, maxArgs: Infinity, apply: (args) => Math.min(...args) },
  max: { minArgs: 2, maxArgs: Infinity, apply: (args) => Math.max(...args) },
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  "+": (a, b) => a + b,
  "-": (a, b) => a - b,
  "*": (a, b) => a * b,
  "/": (a, b) => a / b,
  "%": (a, b) => a % b,
};

/**
 * Compiles an `Upstash-Retry-Delay` expression into a function that always returns a whole number of ms in
 * [0, MAX_SAFE_INTEGER]: negative results become 0, NaN and overflow become MAX_SAFE_INTEGER (the caller caps it).
 * Throws a 400 describing the first syntax error, unknown identifier or wrong argument count.
 */
export function compileRetryDelay(expr: string): RetryDelayFn {
  const node = new Parser(checkLength(expr)).parse();
  return (retried) => {
    const value = node(retried);
    if (Number.isNaN(value)) return Number.MAX_SAFE_INTEGER;
    if (value <= 0) return 0;
    return Math.min(Number.MAX_SAFE_INTEGER, Math.round(value));
  };
}

/** Most retries a publish-time check evaluates, whatever maxRetries is configured to. */
const MAX_CHECKED_RETRIES = 1000;

/**
 * Throws a 400 unless `expr` compiles and gives a finite number for every `retried` a message with `retries`
 * retries evaluates it with (0 … retries - 1, and at least 0): a division by zero, `0 / 0`, `sqrt` of a
 * negative or an overflow (`pow(10, 400)`) would otherwise only surface as a clamped delay at run time.
 */
export function validateRetryDelay(expr: string, retries = 1): void {
  const node = new Parser(checkLength(expr)).parse();
  const last = Math.min(Math.max(retries, 1), MAX_CHECKED_RETRIES) - 1;
  for (let retried = 0; retried <= last; retried++) {
    const value = node(retried);
    if (!Number.isFinite(value)) {
      const why = Number.isNaN(value) ? "is not a number (0 / 0, % 0 or sqrt of a negative)" : "is infinite (a division by zero or an overflow)";
      throw badRequest(`invalid Upstash-Retry-Delay "${expr}": ${why} when retried is ${retried}`);
    }
  }
}

/** `expr`, unless it is longer than an expression may be. */
function checkLength(expr: string): string {
  if (expr.length > MAX_LENGTH) {
    throw badRequest(`invalid Upstash-Retry-Delay "${expr.slice(0, 40)}…": expression is longer than ${MAX_LENGTH} characters`);
  }
  return expr;
}

/** Recursive-descent parser that compiles the expression into nested closures, so nothing is ever eval'd. */
class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly src: string) {}

  /** The whole input as one expression; anything left over is an error. */
  parse(): Node {
    this.skipSpace();
    if (this.pos === this.src.length) throw this.fail("expression is empty");
    const node = this.expression();
    if (this.pos < this.src.length) throw this.fail(`unexpected "${this.src[this.pos]}"`);
    return node;
  }

  /** expr := term (('+' | '-') term)* */
  private expression(): Node {
    return this.binary("+-", () => this.term());
  }

  /** term := unary (('*' | '/' | '%') unary)* */
  private term(): Node {
    return this.binary("*/%", () => this.unary());
  }

  /** A left-associative chain of `operand`s joined by any of `ops`. */
  private binary(ops: string, operand: () => Node): Node {
    let left = operand();
    for (let op = this.src[this.pos]; op !== undefined && ops.includes(op); op = this.src[this.pos]) {
      this.advance();
      const [l, r, apply] = [left, operand(), BINARY[op]];
      left = (retried) => apply(l(retried), r(retried));
    }
    return left;
  }

  /** unary := ('+' | '-') unary | primary */
  private unary(): Node {
    const op = this.src[this.pos];
    if (op !== "-" && op !== "+") return this.primary();
    const operand = this.nested(() => this.unary());
    return op === "-" ? (retried) => -operand(retried) : operand;
  }

  /** primary := number | identifier | '(' expr ')' */
  private primary(): Node {
    const start = this.pos;
    const rest = this.src.slice(start);
    const number = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(rest);
    if (number) {
      const value = Number(number[0]);
      this.advance(number[0].length);
      return () => value;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (ident) {
      this.advance(ident[0].length);
      return this.identifier(ident[0], start);
    }
    if (rest.startsWith("(")) {
      const inner = this.nested(() => this.expression());
      this.expect(")");
      return inner;
    }
    throw this.fail(rest === "" ? "unexpected end of expression" : `unexpected "${rest[0]}"`);
  }

  /** `retried`, or a call to a known function with an allowed number of arguments. */
  private identifier(name: string, start: number): Node {
    const isCall = this.src[this.pos] === "(";
    if (name === "retried") {
      if (isCall) throw this.fail('"retried" is not a function', start);
      return (retried) => retried;
    }
    const fn = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
    if (!fn) throw this.fail(`unknown identifier "${name}"`, start);
    if (!isCall) throw this.fail(`function "${name}" must be called with parentheses`, start);
    const args = this.nested(() => this.argumentList());
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      const expected = fn.maxArgs === Infinity ? `at least ${fn.minArgs}` : `${fn.minArgs}`;
      const noun = fn.minArgs === 1 && fn.maxArgs === 1 ? "argument" : "arguments";
      throw this.fail(`${name}() expects ${expected} ${noun}, got ${args.length}`, start);
    }
    return (retried) => fn.apply(args.map((arg) => arg(retried)));
  }

  /** Comma-separated expressions up to and including the closing ")". */
  private argumentList(): Node[] {
    const args: Node[] = [];
    if (this.src[this.pos] === ")") {
      this.advance();
      return args;
    }
    for (;;) {
      args.push(this.expression());
      if (this.src[this.pos] === ",") {
        this.advance();
        continue;
      }
      this.expect(")");
      return args;
    }
  }

  /**
   * Consumes the opening token ("(", "-" or "+") and parses what it encloses, bounding recursion so a hostile
   * header cannot exhaust the stack at compile or evaluation time.
   */
  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    this.advance();
    const result = parse();
    this.depth--;
    return result;
  }

  /** Consumes `char` or throws naming what was found instead. */
  private expect(char: string): void {
    if (this.src[this.pos] !== char) {
      const found = this.pos < this.src.length ? `"${this.src[this.pos]}"` : "end of expression";
      throw this.fail(`expected "${char}" but found ${found}`);
    }
    this.advance();
  }

  /** Moves past `count` characters and any whitespace after them. */
  private advance(count = 1): void {
    this.pos += count;
    this.skipSpace();
  }

  /** Moves past whitespace, which is allowed between any two tokens. */
  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  /** A 400 quoting the expression and the 1-based position of the problem. */
  private fail(reason: string, at = this.pos): Error {
    return badRequest(`invalid Upstash-Retry-Delay "${this.src}": ${reason} at position ${at + 1}`);
  }
}
