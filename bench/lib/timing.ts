// The two ways an in-process operation is timed: Benchmark.js for repeatable operations (many per
// sample, adaptive), and a plain loop for one-shot operations that consume a prepared object each.
import Benchmark from 'benchmark';
import { summarize, since, type Summary } from './stats.js';

export interface BjsOptions {
  /** Seconds Benchmark.js may spend on one case. */
  maxTime: number;
  minSamples: number;
  /** Seconds one Benchmark.js cycle (one sample) lasts at least; 0: Benchmark.js's default (0.05 s here). */
  minTime: number;
}

export interface Timed {
  summary: Summary;
  /** Operations timed in all. */
  ops: number;
}

/** Times `op` with Benchmark.js (deferred: one awaited operation per iteration). */
export function benchmarkJs(name: string, op: () => Promise<unknown>, opts: BjsOptions): Promise<Timed> {
  return new Promise((resolve, reject) => {
    let failure: unknown = null;
    const bench = new Benchmark(name, {
      defer: true,
      async: true,
      maxTime: opts.maxTime,
      minSamples: opts.minSamples,
      ...(opts.minTime > 0 ? { minTime: opts.minTime } : {}),
      fn(deferred: Benchmark.Deferred) {
        op().then(
          () => deferred.resolve(),
          (e: unknown) => {
            failure ??= e;
            deferred.resolve();
          },
        );
      },
      onComplete() {
        if (failure) return reject(failure);
        const s = bench.stats;
        // Benchmark.js samples are per-operation means of one cycle each.
        const summary = summarize(s.sample);
        resolve({ summary: { ...summary, rme: s.rme, stddev: s.deviation, mean: s.mean }, ops: s.sample.length * bench.count });
      },
      onError(e: { message?: string }) {
        reject(failure ?? new Error(e.message ?? 'benchmark error'));
      },
    });
    bench.run();
  });
}

/**
 * Times `op(i)` for i = 1..n-1, one sample each (item 0 is an untimed warm-up): for operations that
 * use up what they act on (copy-up, unlink, rename), where Benchmark.js cannot choose the count.
 */
export async function timedLoop(n: number, op: (i: number) => Promise<unknown>): Promise<Timed> {
  if (n < 2) throw new Error('a timed loop needs at least 2 items (one warm-up)');
  await op(0);
  const samples: number[] = [];
  for (let i = 1; i < n; i++) {
    const t = process.hrtime.bigint();
    await op(i);
    samples.push(since(t));
  }
  return { summary: summarize(samples), ops: samples.length };
}
