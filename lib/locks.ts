// Per-path async locks: a keyed mutex for changes to one directory or one copy-up, and a
// reader/writer lock that lets only directory renames exclude everything else.

type Release = () => void;

/** Mutual exclusion per key; keys are independent, waiters are served in order. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(key: string): Promise<Release> {
    const prev = this.tails.get(key);
    let release!: Release;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = prev ? prev.then(() => mine) : mine;
    this.tails.set(key, tail);
    if (prev) await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** Acquires several keys in a fixed (sorted) order so that two callers never deadlock. */
  async acquireAll(keys: string[]): Promise<Release> {
    const unique = [...new Set(keys)].sort();
    const releases: Release[] = [];
    for (const k of unique) releases.push(await this.acquire(k));
    return () => {
      for (const r of releases.reverse()) r();
    };
  }

  async with<T>(key: string | string[], fn: () => Promise<T>): Promise<T> {
    const release = Array.isArray(key) ? await this.acquireAll(key) : await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Many shared holders or one exclusive holder; exclusive waiters are not starved. */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Array<{ exclusive: boolean; wake: () => void }> = [];

  private grant(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.exclusive) {
        if (this.readers === 0 && !this.writer) {
          this.queue.shift();
          this.writer = true;
          next.wake();
        }
        return;
      }
      if (this.writer) return;
      this.queue.shift();
      this.readers++;
      next.wake();
    }
  }

  async shared(): Promise<Release> {
    if (!this.writer && this.queue.length === 0) {
      this.readers++;
    } else {
      await new Promise<void>((wake) => {
        this.queue.push({ exclusive: false, wake });
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.readers--;
      this.grant();
    };
  }

  async exclusive(): Promise<Release> {
    if (!this.writer && this.readers === 0 && this.queue.length === 0) {
      this.writer = true;
    } else {
      await new Promise<void>((wake) => {
        this.queue.push({ exclusive: true, wake });
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.writer = false;
      this.grant();
    };
  }
}
