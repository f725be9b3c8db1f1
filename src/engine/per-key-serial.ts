/**
 * Runs the tasks of one key one after another, in the order they were asked for; tasks of different keys run at
 * once. A task that fails does not stop the ones queued behind it.
 */
export class PerKeySerial {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    // Forgotten once nothing is queued behind it, so the map holds only keys with work in progress.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
