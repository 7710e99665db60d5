// The import suite's pipeline (not its speed): a quick run on the tiny synthetic image writes figures
// for tar, umoci, skopeo and ufs's drivers, each checked against the image's merged tree, with ratios
// to the tar floor and to umoci, a table and a chart; the tree check itself catches a wrong tree.
import { describe, it, expect, afterAll } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RunResults } from '../../bench/lib/results.js';
import { compareManifests, comparePaths, manifestOfDir } from '../../bench/import/manifest.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function temp(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-bench-import-test-'));
  dirs.push(d);
  return d;
}

describe('import benchmark', () => {
  it('a quick run on the tiny image measures every target, checked, with ratios to tar -xzf and umoci', { timeout: 300_000 }, async () => {
    const out = await temp();
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'import', '--out', out], {
      cwd: repo,
      timeout: 280_000,
      env: { ...process.env, UFS_BENCH_IMPORT_TINY: '1' },
    });
    expect(r.stderr).toMatch(/import: image built/);
    const json = fs.readdirSync(out).find((f) => f.endsWith('.json'))!;
    const res = JSON.parse(fs.readFileSync(path.join(out, json), 'utf8')) as RunResults;
    expect(res.figures.every((f) => f.suite === 'import' && f.bench === 'tiny')).toBe(true);
    const byTarget = new Map(res.figures.map((f) => [f.target, f]));
    expect([...byTarget.keys()].sort()).toEqual(['skopeo', 'tar', 'tar-gz', 'ufs-aufs', 'ufs-overlay', 'ufs-vfs', 'umoci']);
    const mustRun = ['tar-gz', 'tar', 'ufs-aufs', 'ufs-vfs', ...(have('umoci') ? ['umoci'] : []), ...(have('skopeo') ? ['skopeo'] : []), ...(isRoot ? ['ufs-overlay'] : [])];
    for (const id of mustRun) {
      const f = byTarget.get(id)!;
      expect({ id, status: f.status, reason: f.reason }).toEqual({ id, status: 'ok', reason: undefined });
      expect(f.check).toBeUndefined();
      expect(f.mean).toBeGreaterThan(0);
      expect(f.runs).toBe(2);
      expect(f.per).toBe('run');
      expect(f.note).toBeTruthy();
    }
    const floor = byTarget.get('tar-gz')!;
    const aufs = byTarget.get('ufs-aufs')!;
    expect(aufs.ratios['tar-gz']).toBeCloseTo(aufs.mean! / floor.mean!, 10);
    if (have('umoci')) expect(aufs.ratios['umoci']).toBeCloseTo(aufs.mean! / byTarget.get('umoci')!.mean!, 10);
    if (!isRoot) expect(byTarget.get('ufs-overlay')!.status).toBe('n/a');
    const ds = res.datasets['import'] as { kind: string; layers: number; entries: number; gzipBytes: number };
    expect(ds).toMatchObject({ kind: 'tiny', layers: 3 });
    expect(ds.entries).toBeGreaterThan(50);
    expect(ds.gzipBytes).toBeGreaterThan(0);
    expect(res.targets.filter((t) => t.suite === 'import').map((t) => t.id)).toContain('tar-gz');
    const md = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
    expect(md).toContain('## Import (unpacking one OCI image)');
    expect(md).toMatch(/\| ufs import \(aufs\) \| [\d.]+ m?s[^|]* \| [\d.]+× \| /);
    expect(md).toContain('whiteouts are extracted as plain `.wh.` files');
    const svg = fs.readFileSync(path.join(out, 'latest.svg'), 'utf8');
    expect(svg).toContain('Import of one OCI image');
    expect(svg).toContain('ufs import (aufs)');
  });

  it('the tree check finds a missing file, a changed size or mode, an extra file; the path check only missing paths', async () => {
    const d = await temp();
    await fsp.mkdir(path.join(d, 'a', 'b'), { recursive: true });
    await fsp.writeFile(path.join(d, 'a', 'b', 'f'), 'hello');
    await fsp.writeFile(path.join(d, 'g'), 'x', { mode: 0o600 });
    await fsp.symlink('g', path.join(d, 'l'));
    const want = await manifestOfDir(d);
    expect(want).toEqual(['a d 755', 'a/b d 755', 'a/b/f f 5 644', 'g f 1 600', 'l l 1 777']);
    expect(compareManifests(await manifestOfDir(d), want)).toBeNull();
    await fsp.writeFile(path.join(d, 'extra'), '');
    expect(compareManifests(await manifestOfDir(d), want)).toMatch(/0 missing or different, 1 extra \("extra f 0 644"\)/);
    expect(comparePaths(await manifestOfDir(d), want)).toBeNull();
    await fsp.chmod(path.join(d, 'g'), 0o644);
    await fsp.writeFile(path.join(d, 'a', 'b', 'f'), 'hello!');
    expect(compareManifests(await manifestOfDir(d), want)).toMatch(/2 missing or different/);
    await fsp.rm(path.join(d, 'a'), { recursive: true });
    expect(comparePaths(await manifestOfDir(d), want)).toMatch(/^3 of the image's 5 paths missing \(a, a\/b, a\/b\/f\)$/);
  });
});
