// The cold rows' wait for free page reporting (bench/mount/settle.ts): done once the counter has been
// quiet for the window, not before the minimum, never past the maximum; the counter read from a file.
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readReportedKib, settle } from '../../bench/mount/settle.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ufs-settle-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A counter that grows by `step` every `everyMs` until `untilMs` after the first read. */
function counter(step: number, everyMs: number, untilMs: number): () => number {
  let t0: number | undefined;
  return () => {
    t0 ??= Date.now();
    const t = Math.min(Date.now() - t0, untilMs);
    return 1000 + step * Math.floor(t / everyMs);
  };
}

describe('settle', () => {
  it('waits until the counter stops moving, then for the quiet window, and says how much it moved', async () => {
    const r = await settle(counter(64, 50, 400), { minMs: 0, quietMs: 150, maxMs: 5000, pollMs: 10 });
    expect(r.timedOut).toBe(false);
    expect(r.waitedMs).toBeGreaterThanOrEqual(400 + 150);
    expect(r.reportedKib).toBe(64 * 8);
  });

  it('a quiet counter still waits the minimum', async () => {
    const r = await settle(() => 7, { minMs: 200, quietMs: 50, maxMs: 5000, pollMs: 10 });
    expect(r.waitedMs).toBeGreaterThanOrEqual(200);
    expect(r.reportedKib).toBe(0);
    expect(r.timedOut).toBe(false);
  });

  it('without a counter, waits the minimum only', async () => {
    const r = await settle(() => null, { minMs: 120, quietMs: 3000, maxMs: 5000, pollMs: 10 });
    expect(r.waitedMs).toBeGreaterThanOrEqual(120);
    expect(r.waitedMs).toBeLessThan(3000);
    expect(r.reportedKib).toBeNull();
  });

  it('gives up at the maximum when the counter never goes quiet', async () => {
    const r = await settle(counter(1, 20, 1e9), { minMs: 0, quietMs: 100, maxMs: 300, pollMs: 10 });
    expect(r.timedOut).toBe(true);
    expect(r.waitedMs).toBeGreaterThanOrEqual(300);
    expect(r.reportedKib).toBeGreaterThan(0);
  });

  it('reads the counter from its file; null where there is none', () => {
    const f = path.join(dir, 'reported_kib');
    fs.writeFileSync(f, '473388940\n');
    expect(readReportedKib(f)).toBe(473388940);
    expect(readReportedKib(path.join(dir, 'missing'))).toBeNull();
    fs.writeFileSync(f, 'Y\n');
    expect(readReportedKib(f)).toBeNull();
  });
});
