// The benchmark pipeline (not the speed: benchmarks are never timed in tests): a tiny real run of
// `bench/run.ts` writes the JSON, Markdown and SVG results with machine and commit; goals and ratios
// come out right for hand-made figures (PASS, BEHIND, within noise, n/a).
import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { computeGoals } from '../../bench/lib/goals.js';
import { computeRatios, type Figure, type RunResults } from '../../bench/lib/results.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

function fig(target: string, bench: string, mean: number, rme = 1, suite: 'micro' | 'mount' = 'micro', variant?: 'warm' | 'cold'): Figure {
  return { suite, bench, target, title: bench, status: 'ok', mean, rme, ratios: {}, ...(variant ? { variant } : {}) };
}

describe('benchmark pipeline', () => {
  it('a quick run of two figures writes results with machine, commit, ratios, goals, a table and a chart', async () => {
    const out = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-bench-test-'));
    dirs.push(out);
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'micro/stat-d20/(node-fs|ufs-overlay)$', '--out', out], { cwd: repo, timeout: 120_000 });
    expect(r.stdout).toMatch(/^(PASS|BEHIND)[^\n]* stat-d20\/ufs-overlay: /m);
    const files = fs.readdirSync(out).sort();
    const json = files.find((f) => f.endsWith('.json'))!;
    expect(json).toMatch(/^\d{4}-\d{2}-\d{2}-[0-9a-f]{7,}\.json$/);
    expect(files).toEqual(expect.arrayContaining([json.replace('.json', '.md'), json.replace('.json', '.svg'), 'latest.md', 'latest.svg']));
    const res = JSON.parse(fs.readFileSync(path.join(out, json), 'utf8')) as RunResults;
    expect(res.schema).toBe('ufs-bench/1');
    expect(res.mode).toBe('quick');
    expect(res.machine.cores).toBe(os.cpus().length);
    expect(res.machine.node).toBe(process.version);
    const ok = res.figures.filter((f) => f.status === 'ok');
    expect(ok.map((f) => f.target).sort()).toEqual(['node-fs', 'ufs-overlay']);
    for (const f of ok) {
      expect(f.mean).toBeGreaterThan(0);
      expect(f.runs ?? f.ops).toBeGreaterThan(0);
    }
    const ufs = ok.find((f) => f.target === 'ufs-overlay')!;
    const floor = ok.find((f) => f.target === 'node-fs')!;
    expect(ufs.ratios['node-fs']).toBeCloseTo(ufs.mean! / floor.mean!, 10);
    expect(res.goals.find((g) => g.id === 'stat-d20/ufs-overlay')?.verdict).toMatch(/^(PASS|BEHIND)$/);
    expect(res.goals.find((g) => g.id === 'enoent-d20/ufs-overlay')?.verdict).toBe('n/a');
    const md = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
    expect(md).toContain(`commit ${res.commit}`);
    expect(md).toMatch(/\| stat of a bottom-layer file, 20-layer stack \|/);
    const svg = fs.readFileSync(path.join(out, 'latest.svg'), 'utf8');
    expect(svg.trimStart().startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('computes goals: PASS within the limit, BEHIND past it (noting when the gap is within the noise), n/a without a peer', () => {
    const figures = [
      fig('node-fs', 'stat-d20', 10e-6), fig('ufs-overlay', 'stat-d20', 14e-6), fig('ufs-aufs', 'stat-d20', 16e-6, 2),
      fig('ufs-overlay', 'stat-d100', 20e-6, 40), fig('node-fs', 'stat-d100', 10e-6),
      fig('fuse-overlayfs', 'walk', 1.0, 1, 'mount', 'warm'), fig('ufsmount', 'walk', 3.0, 1, 'mount', 'warm'),
    ];
    computeRatios(figures);
    const goals = computeGoals(figures);
    const g = (id: string) => goals.find((x) => x.id === id)!;
    expect(g('stat-d20/ufs-overlay')).toMatchObject({ verdict: 'PASS', value: 1.4 });
    expect(g('stat-d20/ufs-aufs')).toMatchObject({ verdict: 'BEHIND', withinNoise: false });
    expect(g('stat-d100-vs-d20/ufs-overlay').verdict).toBe('BEHIND');
    expect(g('stat-d100-vs-d20/ufs-overlay').withinNoise).toBe(true); // ±40 % on depth 100: the gap is noise
    expect(g('walk/warm/ufsmount')).toMatchObject({ verdict: 'BEHIND', value: 3 });
    expect(g('walk/cold/ufsmount').verdict).toBe('n/a');
    expect(g('enoent-d20/ufs-overlay').verdict).toBe('n/a');
  });

  it('compares mount rows by their median run, in-process rows by their mean', () => {
    // fuse-overlayfs had one slow run: its mean is twice its median; ufsmount's runs were steady
    const fo = { ...fig('fuse-overlayfs', 'seq-read', 0.8, 60, 'mount', 'cold'), median: 0.4 };
    const ufs = { ...fig('ufsmount', 'seq-read', 0.5, 5, 'mount', 'cold'), median: 0.5 };
    const floor = { ...fig('node-fs', 'stat-d20', 10e-6), median: 5e-6 };
    const micro = { ...fig('ufs-overlay', 'stat-d20', 12e-6), median: 30e-6 };
    const figures = [fo, ufs, floor, micro];
    computeRatios(figures);
    expect(ufs.ratios['fuse-overlayfs']).toBeCloseTo(1.25, 10);
    expect(micro.ratios['node-fs']).toBeCloseTo(1.2, 10);
    const goal = computeGoals(figures).find((x) => x.id === 'seq-read/cold/ufsmount')!;
    expect(goal).toMatchObject({ verdict: 'BEHIND', value: 1.25 });
    expect(goal.detail).toContain('500.0 ms (median)');
  });
});
