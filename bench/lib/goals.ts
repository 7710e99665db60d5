// The figures issue 7 sets as targets, computed from one run's figures: each is a ratio with a
// limit, and comes out PASS, BEHIND (with whether the gap is within the measurement noise) or n/a.
import { central, type Figure, type Goal } from './results.js';

function find(figures: Figure[], suite: string, bench: string, target: string, variant?: string): Figure | undefined {
  return figures.find((f) => f.suite === suite && f.bench === bench && f.target === target && f.variant === variant && f.status === 'ok');
}

function describe(f: Figure | undefined, name: string): string {
  return f ? `${name} ${fmtSeconds(central(f)!)}${f.suite === 'mount' ? ' (median)' : ''}` : `${name} n/a`;
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return 'n/a';
  if (s < 1e-6) return `${(s * 1e9).toFixed(0)} ns`;
  if (s < 1e-3) return `${(s * 1e6).toFixed(s < 1e-5 ? 2 : 1)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 1e-2 ? 2 : 1)} ms`;
  return `${s.toFixed(s < 10 ? 3 : 2)} s`;
}

function ratioGoal(id: string, text: string, subject: string, a: Figure | undefined, b: Figure | undefined, limit: number, names: [string, string]): Goal {
  if (!a || !b) {
    const missing = !a ? names[0] : names[1];
    return { id, text, subject, value: null, limit, verdict: 'n/a', detail: `no figure for ${missing} in this run` };
  }
  const value = central(a)! / central(b)!;
  const noise = Math.sqrt((a.rme ?? 0) ** 2 + (b.rme ?? 0) ** 2) / 100;
  const pass = value <= limit;
  const goal: Goal = { id, text, subject, value, limit, verdict: pass ? 'PASS' : 'BEHIND', detail: `${describe(a, names[0])} vs ${describe(b, names[1])}` };
  if (!pass) goal.withinNoise = (value - limit) / limit <= noise;
  return goal;
}

/** The in-process subjects the targets apply to. */
const MICRO_SUBJECTS = ['ufs-overlay', 'ufs-aufs'];

const MOUNT_GOALS: Array<{ bench: string; variant: 'warm' | 'cold'; what: string }> = [
  { bench: 'walk', variant: 'cold', what: 'metadata walk (find), cold' },
  { bench: 'walk', variant: 'warm', what: 'metadata walk (find), warm' },
  { bench: 'ls-lR', variant: 'cold', what: '`ls -lR`, cold' },
  { bench: 'ls-lR', variant: 'warm', what: '`ls -lR`, warm' },
  { bench: 'seq-read', variant: 'cold', what: 'sequential read, cold' },
  { bench: 'seq-read', variant: 'warm', what: 'sequential read, warm' },
  { bench: 'rand-read', variant: 'cold', what: '4 KiB random reads, cold' },
  { bench: 'rand-read', variant: 'warm', what: '4 KiB random reads, warm' },
  { bench: 'copyup-append', variant: 'warm', what: 'copy-up of the big lower file (append one byte)' },
  { bench: 'create-small', variant: 'warm', what: 'creating small files' },
  { bench: 'rm-rf', variant: 'warm', what: '`rm -rf` of a lower directory' },
];

export function computeGoals(figures: Figure[]): Goal[] {
  const goals: Goal[] = [];
  const hasMicro = figures.some((f) => f.suite === 'micro');
  const hasMount = figures.some((f) => f.suite === 'mount');
  if (hasMicro) {
    for (const s of MICRO_SUBJECTS) {
      const f = (bench: string, t = s): Figure | undefined => find(figures, 'micro', bench, t);
      goals.push(
        ratioGoal(`stat-d20/${s}`, 'stat of a bottom-layer file at depth 20 within 1.5× of node:fs stat', s, f('stat-d20'), f('stat-d20', 'node-fs'), 1.5, [s, 'node:fs']),
        ratioGoal(`enoent-d20/${s}`, "ENOENT through 20 layers within 1.5× of node:fs's ENOENT", s, f('enoent-d20'), f('enoent-d20', 'node-fs'), 1.5, [s, 'node:fs']),
        // Timed alternately in one loop when the run has it (bench/micro/paired.ts), else the two rows.
        f('stat-d100-paired') && f('stat-d20-paired')
          ? ratioGoal(`stat-d100-vs-d20/${s}`, 'stat at depth 100 no more than 20 % slower than at depth 20', s, f('stat-d100-paired'), f('stat-d20-paired'), 1.2, [`${s} depth 100 (alternating)`, 'depth 20 (alternating)'])
          : ratioGoal(`stat-d100-vs-d20/${s}`, 'stat at depth 100 no more than 20 % slower than at depth 20', s, f('stat-d100'), f('stat-d20'), 1.2, [`${s} depth 100`, 'depth 20']),
      );
    }
  }
  if (hasMount) {
    for (const g of MOUNT_GOALS) {
      const a = find(figures, 'mount', g.bench, 'ufsmount', g.variant);
      const b = find(figures, 'mount', g.bench, 'fuse-overlayfs', g.variant);
      goals.push(ratioGoal(`${g.bench}/${g.variant}/ufsmount`, `${g.what}: ufsmount no slower than fuse-overlayfs`, 'ufsmount', a, b, 1.0, ['ufsmount', 'fuse-overlayfs']));
    }
  }
  return goals;
}
