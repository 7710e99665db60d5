// The shape of one benchmark run's results (the JSON written to bench/results/) and the ratio
// computation: every figure against the floor and the references measured in the same run.
import type { Summary } from './stats.js';

export type SuiteName = 'micro' | 'mount' | 'import';

/** How a figure was measured. */
export type Method = 'benchmark.js' | 'loop' | 'process' | 'fio';

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  os: string;
  node: string;
  /** The directory the data sets were made in, and the filesystem type holding it. */
  tmpDir: string;
  tmpFs: string;
  /** Whether the run had root (mount-level peers and cold caches need it). */
  root: boolean;
  loadAverage: number[];
}

export interface TargetInfo {
  suite: SuiteName;
  id: string;
  label: string;
  /** floor: the plain directory; reference: kernel / fuse-overlayfs; subject: ufs in some form. */
  role: 'floor' | 'reference' | 'subject';
  /** null when it ran, or why it could not ("n/a: <reason>" in the table). */
  unavailable: string | null;
}

export interface Figure {
  suite: SuiteName;
  /** The benchmark's id ('stat-d20', 'walk'), the row of the table together with `variant`. */
  bench: string;
  /** 'warm' / 'cold' for mount-level figures; absent in-process. */
  variant?: 'warm' | 'cold';
  /** One line saying what is measured. */
  title: string;
  target: string;
  status: 'ok' | 'n/a' | 'error';
  /** Why there is no figure ('n/a: ...') or what went wrong. */
  reason?: string;
  method?: Method;
  /** What one sample's `mean` is the time of: one operation, or one whole run of the command. */
  per?: 'op' | 'run';
  /** Summary of the samples, in seconds. */
  mean?: number;
  stddev?: number;
  rme?: number;
  median?: number;
  min?: number;
  max?: number;
  /** Samples the summary is made of (Benchmark.js samples, loop iterations, or process runs). */
  runs?: number;
  /** Each run's figure in seconds, in the order they ran (mount suite: a few runs, worth seeing one by one). */
  values?: number[];
  /** Operations timed in all (Benchmark.js counts many operations per sample). */
  ops?: number;
  /** A correctness check made on the same target (output compared with the floor's), when there is one. */
  check?: string;
  /** What the target's figure includes and leaves out (import suite), shown under the table. */
  note?: string;
  /** central(this) / central(the same row's figure for the named target), null when that one is missing. */
  ratios: Record<string, number | null>;
}

export interface Goal {
  id: string;
  /** What the issue asks, in words. */
  text: string;
  subject: string;
  /** The measured ratio. */
  value: number | null;
  /** The largest ratio that passes. */
  limit: number;
  verdict: 'PASS' | 'BEHIND' | 'n/a';
  /** For BEHIND: whether the difference lies within the two figures' combined margins of error. */
  withinNoise?: boolean;
  detail: string;
}

export interface RunResults {
  schema: 'ufs-bench/1';
  date: string;
  commit: string;
  /** Whether the working tree had uncommitted changes. */
  dirty: boolean;
  mode: 'quick' | 'full';
  only: string[];
  argv: string[];
  durationSec: number;
  machine: Machine;
  /** What the data sets held (sizes, counts, Debian packages used), to compare runs. */
  datasets: Record<string, unknown>;
  targets: TargetInfo[];
  figures: Figure[];
  goals: Goal[];
  notes: string[];
}

/** The references each suite's figures are divided by. */
export const REFERENCES: Record<SuiteName, string[]> = {
  micro: ['node-fs'],
  mount: ['kernel', 'fuse-overlayfs', 'plain'],
  import: ['tar-gz', 'umoci'],
};

export function rowKey(f: Pick<Figure, 'suite' | 'bench' | 'variant'>): string {
  return `${f.suite}/${f.bench}${f.variant ? `/${f.variant}` : ''}`;
}

/**
 * The figure a row's targets are compared by: for the mount suite, the median run (a few whole
 * processes on a virtual machine whose disk now and then takes 2-5x longer for one run: one such run
 * would move a mean of five by half); elsewhere the mean (Benchmark.js's many samples).
 */
export function central(f: Figure): number | undefined {
  return f.suite === 'mount' && f.median !== undefined ? f.median : f.mean;
}

/** Fills every figure's `ratios` from the figures of the same row. */
export function computeRatios(figures: Figure[]): void {
  const byRow = new Map<string, Map<string, Figure>>();
  for (const f of figures) {
    const k = rowKey(f);
    let m = byRow.get(k);
    if (!m) byRow.set(k, (m = new Map()));
    m.set(f.target, f);
  }
  for (const f of figures) {
    f.ratios = {};
    for (const ref of REFERENCES[f.suite]) {
      const r = byRow.get(rowKey(f))?.get(ref);
      const a = central(f);
      const b = r ? central(r) : undefined;
      f.ratios[ref] = f.status === 'ok' && r?.status === 'ok' && a !== undefined && b ? a / b : null;
    }
  }
}

/** Fills a figure from a summary of samples. */
export function okFigure(base: Omit<Figure, 'status' | 'ratios'>, s: Summary, extra: Partial<Figure> = {}): Figure {
  return {
    ...base,
    status: 'ok',
    mean: s.mean,
    stddev: s.stddev,
    rme: s.rme,
    median: s.median,
    min: s.min,
    max: s.max,
    runs: s.samples,
    ratios: {},
    ...extra,
  };
}

export function naFigure(base: Omit<Figure, 'status' | 'ratios'>, reason: string, status: 'n/a' | 'error' = 'n/a'): Figure {
  return { ...base, status, reason, ratios: {} };
}
