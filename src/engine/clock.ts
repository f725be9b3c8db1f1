/** The engine's time, injected so tests can move it (`test/e2e/schedules-late.test.ts`). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
