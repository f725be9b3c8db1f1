import { expect } from "vitest";

/** The JSON of a successful reply (fails the test with the body otherwise). */
export async function ok(res: Response): Promise<any> {
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return text ? JSON.parse(text) : undefined;
}

let seq = 0;
/** A name no other case of the run uses (cases share one schema). */
export const unique = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${seq++}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
