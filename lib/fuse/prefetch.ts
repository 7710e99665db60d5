// Reading directories ahead for the low-level binding: after the kernel asked for a listing, the
// subdirectories a walk (find, ls -R, tar) reads next are listed in the event loop's idle turns, one
// per turn so that requests always go first. What they read lands in the union's caches of the
// immutable lower layers (merged listings, attributes, xattr names), so the walk's own READDIR of
// them costs no system calls; nothing is answered from the prefetch itself.

/** Directories queued at most (a listing of thousands of subdirectories queues the first ones). */
const MAX_QUEUED = 512;
/** Levels below a listing the kernel asked for. */
const DEPTH = 2;
/** Paths remembered as read ahead (then forgotten all at once: reading again is cheap when cached). */
const MAX_DONE = 50_000;

export interface PrefetchEntry {
  name: string;
  stats: { mode: number };
}

export class DirPrefetcher {
  private readonly queue: Array<{ path: string; depth: number }> = [];
  private readonly done = new Set<string>();
  private scheduled = false;
  private stopped = false;

  /** `list` reads one directory (errors are ignored: the walk will meet them itself). */
  constructor(private readonly list: (path: string) => Promise<PrefetchEntry[]>) {}

  /** After a listing of `dir` was answered: its subdirectories are read ahead. */
  listed(dir: string, entries: readonly PrefetchEntry[], depth = 0): void {
    if (this.stopped || depth >= DEPTH) return;
    for (const e of entries) {
      if (this.queue.length >= MAX_QUEUED) break;
      if (e.name === '.' || e.name === '..' || (e.stats.mode & 0o170000) !== 0o040000) continue;
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (this.done.has(path)) continue;
      this.done.add(path);
      this.queue.push({ path, depth: depth + 1 });
    }
    if (this.done.size > MAX_DONE) this.done.clear();
    this.schedule();
  }

  /** No more reading ahead (the mount ended). */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const next = this.queue.shift();
      if (!next || this.stopped) return;
      this.list(next.path).then(
        (entries) => this.listed(next.path, entries, next.depth),
        () => undefined,
      ).finally(() => this.schedule());
    });
  }
}
