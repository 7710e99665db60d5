// Progress of a pull or push: per-blob events (bytes done/total) for callers, and a terminal renderer
// that redraws one line per layer in place, writing only when its stream is a TTY.
import type { Writable } from 'node:stream';

export type ProgressState =
  | 'waiting' | 'downloading' | 'retrying' | 'verifying' | 'done' | 'exists'
  | 'uploading' | 'mounted' | 'failed';

export interface ProgressEvent {
  /** The blob's digest. */
  digest: string;
  /** What the blob is: 'config', 'layer', 'manifest'. */
  kind: 'config' | 'layer' | 'manifest';
  state: ProgressState;
  /** Bytes transferred (or found) so far. */
  done: number;
  /** The blob's size from its descriptor. */
  total: number;
}

export type ProgressCallback = (ev: ProgressEvent) => void;

const LABELS: Record<ProgressState, string> = {
  waiting: 'Waiting', downloading: 'Downloading', retrying: 'Retrying', verifying: 'Verifying',
  done: 'Complete', exists: 'Already exists', uploading: 'Pushing', mounted: 'Mounted from another repository', failed: 'Failed',
};

/** 1.5MB-style sizes, as docker prints them. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v}${units[u]}` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[u]}`;
}

/** One status line: `<12 hex>: Downloading [=====>      ]  1.2MB/5MB`. */
export function formatLine(ev: ProgressEvent, width = 30): string {
  const id = ev.digest.replace(/^[a-z0-9]+:/, '').slice(0, 12);
  let line = `${id}: ${LABELS[ev.state]}`;
  if ((ev.state === 'downloading' || ev.state === 'uploading' || ev.state === 'retrying') && ev.total > 0) {
    const frac = Math.min(1, ev.done / ev.total);
    const filled = Math.floor(frac * width);
    const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
    line += ` [${bar}] ${formatBytes(ev.done)}/${formatBytes(ev.total)}`;
  }
  return line;
}

/** A writable that may be a terminal (process.stderr, a tty.WriteStream). */
export type MaybeTty = Writable & { isTTY?: boolean; columns?: number };

/**
 * Renders progress events on a terminal: one line per blob, redrawn in place with ANSI cursor
 * moves, at most every `intervalMs` except on state changes. Writes nothing to a non-TTY stream.
 */
export class ProgressRenderer {
  private readonly lines = new Map<string, ProgressEvent>();
  private drawn = 0;
  private last = 0;
  private readonly tty: boolean;

  constructor(private readonly stream: MaybeTty, private readonly intervalMs = 100) {
    this.tty = stream.isTTY === true;
  }

  /** The callback to hand to pull/push (`onProgress: renderer.callback`). */
  readonly callback: ProgressCallback = (ev) => {
    if (!this.tty) return;
    const prev = this.lines.get(ev.digest);
    this.lines.set(ev.digest, ev);
    const now = Date.now();
    if (prev?.state !== ev.state || now - this.last >= this.intervalMs) this.draw(now);
  };

  private draw(now: number): void {
    const cols = Math.max(20, (this.stream.columns ?? 100) - 1);
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const ev of this.lines.values()) out += `\r\x1b[2K${formatLine(ev).slice(0, cols)}\n`;
    this.drawn = this.lines.size;
    this.last = now;
    this.stream.write(out);
  }

  /** Draws the final state (call once the pull or push has finished or failed). */
  finish(): void {
    if (this.tty && this.lines.size > 0) this.draw(Date.now());
  }
}
