import { badRequest } from "../errors.js";

/** Names of queues, URL groups, labels, schedules and flow-control keys (SPEC §0.2). */
export const NAME_PATTERN = /^[A-Za-z0-9\-_.]+$/;

/** Returns `value` unchanged if it is a non-empty, short enough, well-formed name; else throws a 400 naming `what`. */
export function validateName(value: string, what: string, maxLength = 200): string {
  if (value === "") throw badRequest(`${what} must not be empty`);
  if (value.length > maxLength) {
    // Echo only a prefix: the value may be arbitrarily long.
    throw badRequest(`invalid ${what} "${value.slice(0, 40)}…": longer than ${maxLength} characters`);
  }
  if (!NAME_PATTERN.test(value)) {
    throw badRequest(`invalid ${what} "${value}": only letters, digits, "-", "_" and "." are allowed`);
  }
  return value;
}
