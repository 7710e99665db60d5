// Summary statistics of timing samples: mean, standard deviation and relative margin of error
// (95 %, Student's t), the same figures Benchmark.js reports, for the loops we time ourselves.

/** Two-sided 95 % Student's t critical values by degrees of freedom (1..30); 1.96 beyond. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093,
  2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tCritical(df: number): number {
  if (df < 1) return Number.NaN;
  return T95[df - 1] ?? 1.96;
}

export interface Summary {
  /** Mean of the samples (seconds per operation). */
  mean: number;
  /** Sample standard deviation (seconds). */
  stddev: number;
  /** Relative margin of error at 95 %, in percent of the mean (NaN with one sample). */
  rme: number;
  /** Median sample. */
  median: number;
  min: number;
  max: number;
  /** How many samples the summary is made of. */
  samples: number;
}

export function summarize(samples: readonly number[]): Summary {
  const n = samples.length;
  if (n === 0) return { mean: Number.NaN, stddev: Number.NaN, rme: Number.NaN, median: Number.NaN, min: Number.NaN, max: Number.NaN, samples: 0 };
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : Number.NaN;
  const stddev = Math.sqrt(variance);
  const sem = stddev / Math.sqrt(n);
  const rme = n > 1 && mean > 0 ? ((tCritical(n - 1) * sem) / mean) * 100 : Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(n / 2);
  const median = n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { mean, stddev, rme, median, min: sorted[0]!, max: sorted[n - 1]!, samples: n };
}

/** Seconds elapsed since `start` (a process.hrtime.bigint() value). */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
