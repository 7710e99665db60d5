// Waiting after the caches are dropped until a virtual machine's free page reporting has handed the
// freed memory back to its host, so that every cold run starts from the same state of memory.
import { readFileSync } from 'node:fs';

/** Linux's count of memory reported free to the host (virtio-balloon); absent on most machines. */
export const REPORTED_KIB = '/sys/module/page_reporting/parameters/reported_kib';

export interface SettleOptions {
  /** Wait at least this long (and only this long where the counter cannot be read). */
  minMs: number;
  /** Done once the counter has not moved for this long (Linux reports every ~2 s while work is left). */
  quietMs: number;
  /** Never wait longer than this. */
  maxMs: number;
  pollMs?: number;
}

export interface Settled {
  waitedMs: number;
  /** KiB reported while waiting; null where there is no counter. */
  reportedKib: number | null;
  /** True when maxMs ran out before the counter went quiet. */
  timedOut: boolean;
}

/** Reads the counter; null where the file is missing or unreadable. */
export function readReportedKib(file = REPORTED_KIB): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/**
 * Waits until `read` stops changing for `quietMs` (at least `minMs`, at most `maxMs`). The window
 * starts at the call, so a quiet window shorter than the reporting delay (2 s) would end before the
 * first report: keep `quietMs` above it.
 */
export async function settle(read: () => number | null, o: SettleOptions): Promise<Settled> {
  const pollMs = o.pollMs ?? 100;
  const t0 = Date.now();
  const first = read();
  let last = first;
  let changed = t0;
  for (;;) {
    const now = Date.now();
    const waited = now - t0;
    if (first === null) {
      if (waited >= o.minMs) return { waitedMs: waited, reportedKib: null, timedOut: false };
    } else if (waited >= o.minMs && now - changed >= o.quietMs) {
      return { waitedMs: waited, reportedKib: (last ?? first) - first, timedOut: false };
    }
    if (waited >= o.maxMs) return { waitedMs: waited, reportedKib: first === null ? null : (last ?? first) - first, timedOut: true };
    await new Promise((r) => setTimeout(r, pollMs));
    const v = read();
    if (v !== last) {
      last = v;
      changed = Date.now();
    }
  }
}
