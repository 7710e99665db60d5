// Proves the oracle harness: the kernel overlayfs over the fixture behaves like a plain directory
// holding the merged tree, both whiteout formats build the same logical stack, and a difference is caught.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { constants } from 'node:fs';
import { makeFixtureSpec, mergeSpec } from './layers.js';
import { opsArb, type Op } from './ops.js';
import { kernelOverlaySupport, makeKernelTarget } from './kernel.js';
import { OracleMismatch, makeDirTarget, runComparison } from './compare.js';
import { FixtureCache } from './fixtures.js';

const run = promisify(execFile);
const support = await kernelOverlaySupport();
const noKernel = !support.ok;
const why = support.ok ? '' : ` (skipped: ${support.reason})`;
const isRoot = process.getuid?.() === 0;
const SEEDS = 6;
/** Property runs; ORACLE_RUNS=2000 for a longer hunt by hand. */
const RUNS = Number(process.env.ORACLE_RUNS ?? 60);

const cache = new FixtureCache(3);
afterAll(() => cache.dispose());

const plain = (seed: number) => () => makeDirTarget('plain merged dir', (d) => cache.fillMerged(seed, d));
const kernel = (seed: number) => async () => makeKernelTarget(await cache.layers(seed, 'overlay'));

describe('oracle fixtures', () => {
  it('every seed has the forced features and a reference merge that applies them', () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const spec = makeFixtureSpec(seed);
      expect(makeFixtureSpec(seed)).toEqual(spec); // deterministic
      const m = mergeSpec(spec);
      expect(m.has('wh')).toBe(false); // whited out
      expect(m.has('md/w')).toBe(false);
      expect([...m.keys()].filter((k) => k.startsWith('md/') && k.length === 4).sort()).toEqual(
        expect.arrayContaining(['md/a', 'md/b', 'md/c']),
      );
      expect(m.has('op/c') && !m.has('op/a') && !m.has('op/b')).toBe(true); // opaque
      expect(m.get('rd')?.entry.kind).toBe('file'); // dir replaced by a file
      expect(m.has('rd/a')).toBe(false);
      expect(m.get('ov')?.layer).toBe(0); // topmost wins
      expect(m.get('hl2')?.linkGroup).toBe('hl1');
    }
  });

  it.skipIf(!isRoot)(`writes whiteouts and opaque dirs in both formats${isRoot ? '' : ' (skipped: mknod c 0 0 needs root)'}`, async () => {
    const [top, mid, bottom] = await cache.layers(0, 'overlay');
    const wh = await fsp.lstat(path.join(top!, 'wh'));
    expect(wh.mode & constants.S_IFMT).toBe(constants.S_IFCHR);
    expect(wh.rdev).toBe(0);
    const { stdout } = await run('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(mid!, 'op')]);
    expect(stdout).toBe('y');
    expect((await fsp.stat(path.join(bottom!, 'hl1'))).nlink).toBe(2);

    const aufs = await cache.layers(0, 'aufs');
    expect((await fsp.lstat(path.join(aufs[0]!, '.wh.wh'))).size).toBe(0);
    expect((await fsp.readdir(path.join(aufs[1]!, 'op'))).sort()).toEqual(['.wh..wh..opq', 'c']);
    await expect(fsp.lstat(path.join(aufs[0]!, 'wh'))).rejects.toMatchObject({ code: 'ENOENT' });

    const conv = await cache.layers(0, 'aufs-converted');
    const cwh = await fsp.lstat(path.join(conv[0]!, 'wh'));
    expect(cwh.mode & constants.S_IFMT).toBe(constants.S_IFCHR);
    expect((await fsp.readdir(path.join(conv[1]!, 'op'))).sort()).toEqual(['c']);
  });
});

describe('oracle harness against the kernel overlayfs', () => {
  it.skipIf(noKernel)(`the kernel's view of each fixture is the reference merged tree${why}`, async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = await runComparison([], kernel(seed), plain(seed), { context: `seed ${seed}` });
      expect(Object.keys(r.snapshot)).toContain('md/c');
    }
  });

  it.skipIf(noKernel)(`an aufs fixture converted to overlay format mounts to the same view${why}`, async () => {
    for (let seed = 0; seed < 3; seed++) {
      await runComparison([], async () => makeKernelTarget(await cache.layers(seed, 'aufs-converted'), { label: 'kernel on converted aufs' }), kernel(seed), { context: `seed ${seed}` });
    }
  });

  it.skipIf(noKernel)(`property: kernel overlayfs (index=on,redirect_dir=on) behaves like a plain dir holding the merged tree${why}`, async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: SEEDS - 1 }), opsArb(14), async (seed, ops) => {
        const r = await runComparison(ops, kernel(seed), plain(seed), { context: `fixture seed ${seed}` });
        steps += r.outcomes.length;
      }),
      { numRuns: RUNS },
    );
    expect(steps).toBeGreaterThan(RUNS);
  }, 60_000 + RUNS * 1_000);
});

describe('oracle harness catches differences', () => {
  const ovOf = (seed: number): string => {
    const e = mergeSpec(makeFixtureSpec(seed)).get('ov')?.entry;
    return e?.kind === 'file' ? e.content : '';
  };
  const tampered = (seed: number) => () =>
    makeDirTarget('tampered dir', async (d) => {
      await cache.fillMerged(seed, d);
      await fsp.writeFile(path.join(d, 'ov'), `${ovOf(seed)}!`);
    });

  it('reports the first step whose outcome differs, with the operations so far', async () => {
    const ops: Op[] = [{ op: 'stat', path: 'md' }, { op: 'readFile', path: 'ov' }, { op: 'unlink', path: 'ov' }];
    const err = await runComparison(ops, plain(1), tampered(1)).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OracleMismatch);
    expect((err as OracleMismatch).step).toBe(2);
    expect((err as Error).message).toMatch(/step 2 of 3 differs: readFile\("ov"\)/);
    expect((err as Error).message).toContain('1. stat("md")');
  });

  it('reports differing final trees when no step looks at the difference', async () => {
    const err = await runComparison([{ op: 'readdir', path: '' }], plain(2), tampered(2)).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OracleMismatch);
    expect((err as OracleMismatch).step).toBe('final tree');
    expect((err as Error).message).toMatch(/ov: sha256 /);
  });

  it('fails a property run on the tampered target with a shrunk counterexample', async () => {
    const prop = fc.asyncProperty(opsArb(6), async (ops) => {
      await runComparison(ops, plain(3), tampered(3));
    });
    const err = await fc.assert(prop, { numRuns: 5 }).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toMatch(/Counterexample: \[\[\{"op":/);
    expect((err as Error).cause).toBeInstanceOf(OracleMismatch);
    expect(((err as Error).cause as Error).message).toMatch(/final trees differ[\s\S]*ov: sha256 /);
  });

  it.skipIf(noKernel)(`catches the kernel's EXDEV on a lower directory rename without redirect_dir${why}`, async () => {
    const noRedirect = async () => makeKernelTarget(await cache.layers(0, 'overlay'), { label: 'kernel redirect_dir=off', options: ['redirect_dir=off'] });
    const err = await runComparison([{ op: 'rename', from: 'md', to: 'n1' }], noRedirect, plain(0)).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toMatch(/kernel redirect_dir=off: error EXDEV\n {2}plain merged dir: ok null/);
  });
});
