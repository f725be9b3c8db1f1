/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the receiver's arrival times. */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * Sends `count` publishes at `rate` per second (`publishNth(i)` sends the i-th and resolves its message id), then
 * waits `settleMs` for the last deliveries; resolves the time each was sent, by message id.
 */
export async function pacedPublishes(publishNth: (i: number) => Promise<string>, count: number, rate: number, settleMs: number): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  const t0 = now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const start = now();
    pending.push(publishNth(i).then((id) => void sent.set(id, start)));
  }
  await Promise.all(pending);
  await new Promise((r) => setTimeout(r, settleMs));
  return sent;
}
