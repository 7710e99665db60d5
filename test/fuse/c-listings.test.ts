// Listings read in C (ufs_ll_scan.c) and READDIRPLUS: a directory only lower layers hold is merged
// by the binding from the layers on disk. Its answers must be JavaScript's to the nanosecond and the
// inode number (two mounts of the same layers, one with UFS_FUSE_C_LISTINGS=0 UFS_FUSE_READDIRPLUS=0),
// and the kernel overlayfs's where they share a meaning (names, types, sizes, modes, links, xattrs);
// in both whiteout formats, across two filesystems (the union's per-filesystem inode ranges), and
// for a directory larger than one READDIRPLUS answer.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binding, bindingCounters, canMount, cleanupAll, forgetDentries, mountedType, run, ufsmount } from './helpers.js';
import { kernelOverlaySupport } from '../oracle/kernel.js';

afterAll(cleanupAll);

const support = canMount ? await kernelOverlaySupport() : { ok: false as const, reason: 'needs root, /dev/fuse and libfuse2' };
const llOnly = binding === 'ufs-ll';
const JS_ONLY = { UFS_FUSE_C_LISTINGS: '0', UFS_FUSE_READDIRPLUS: '0' };

const bases: string[] = [];
const mounts: string[] = [];
afterAll(async () => {
  for (const m of mounts) if (mountedType(m)) await run('umount', ['-l', m]);
  for (const b of bases) await fsp.rm(b, { recursive: true, force: true }).catch(() => undefined);
});

async function sh(script: string, cwd: string): Promise<void> {
  const r = await run('bash', ['-ec', `cd "$1"\n${script}`, 'x', cwd]);
  if (r.code !== 0) throw new Error(`${script}\n${r.stderr}`);
}

/** Every entry under `dir` with what stat says of it, inode numbers and times to the nanosecond included. */
async function tree(dir: string, opts: { ino: boolean }): Promise<string[]> {
  const fmt = `%P|%y|%s|%m|%n|%U|%G|%l${opts.ino ? '|%i|%A@|%T@|%C@' : ''}\\n`;
  const r = await run('find', [dir, '-mindepth', '1', '-printf', fmt]);
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Every entry's xattrs (names and values) as getfattr dumps them, per file. */
async function xattrs(dir: string): Promise<string[]> {
  const r = await run('getfattr', ['-R', '-P', '-d', '-m', '-', '--absolute-names', dir]);
  return r.stdout.split('\n\n').map((b) => b.trim().replace(dir, '')).filter(Boolean).sort();
}

/**
 * Reads every directory and symlink of the layers once, so that their access times (relatime) do
 * not move when the first of two mounts lists them: the mounts' answers are compared to the ns.
 */
async function settleAtimes(base: string): Promise<void> {
  await sh('ls -aR . > /dev/null; find . -type l -exec readlink {} + > /dev/null', base);
}

/** ufsmount OPTS MNT with env; the counters go to the returned file at unmount. */
async function mount(opts: string, mnt: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const stats = `${mnt}.stats.json`;
  await fsp.mkdir(mnt, { recursive: true });
  const r = await ufsmount(['-o', opts, mnt], { ...process.env, ...env, UFS_FUSE_STATS: stats });
  if (r.code !== 0) throw new Error(r.stderr);
  mounts.push(mnt);
  return stats;
}

async function unmountAndCount(mnt: string, stats: string): Promise<Awaited<ReturnType<typeof bindingCounters>>> {
  expect((await ufsmount(['-u', mnt])).code).toBe(0);
  return bindingCounters(stats);
}

/**
 * Three lower layers in the overlay format and an upper, under `base`: shadowing (a file over a
 * file, a file over a directory), 0/0 whiteouts of a file and of a directory, an opaque directory,
 * a directory merged from three layers, hard links, symlinks, a FIFO, xattrs (one the format keeps
 * for itself), a deep path, and a directory the upper layer holds.
 */
async function overlayLayers(base: string): Promise<void> {
  await sh(`
    mkdir -p l1 l2 l3 up wk
    mkdir -p l3/d/b l3/d/deep/x/y/z l3/d/opq l3/d/gone/inner l3/d/ty l3/e
    echo old-a > l3/d/a; echo c > l3/d/c; echo b3 > l3/d/b/three; echo z > l3/d/deep/x/y/z/file
    echo h > l3/d/h1; ln l3/d/h1 l3/d/h2; echo o1 > l3/d/opq/old1; echo g > l3/d/gone/inner/f
    echo e3 > l3/e/from3
    mkdir -p l2/d/opq l2/d/b
    echo newer-a > l2/d/a; mknod l2/d/c c 0 0; mknod l2/d/gone c 0 0; echo file-over-dir > l2/d/ty
    setfattr -n trusted.overlay.opaque -v y l2/d/opq; echo n1 > l2/d/opq/new1
    echo b2 > l2/d/b/two; ln -s a l2/d/ln; ln -s ../../nowhere l2/d/dangling
    echo x > l2/d/x1; setfattr -n user.color -v blue l2/d/x1; setfattr -n trusted.overlay.origin -v hidden l2/d/x1
    mkdir -p l1/d/b; echo b1 > l1/d/b/one; echo new > l1/d/new; mkfifo l1/d/fifo; chmod 0751 l1/d/b
    setfattr -n user.dir -v yes l1/d/b
    mkdir -p up/e; echo up > up/e/mine; echo top > up/top
  `, base);
}

describe.skipIf(!canMount)('listings read in C', () => {
  it.runIf(support.ok)('equal JavaScript\'s answers to the inode and nanosecond, and the kernel overlayfs\'s', async () => {
    const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-clist-'));
    bases.push(base);
    await overlayLayers(base);
    await sh('cp -a up up2; mkdir wk2 k', base);
    await settleAtimes(base);
    const b = (n: string): string => path.join(base, n);
    const statsC = await mount(`lowerdir=${b('l1')}:${b('l2')}:${b('l3')},upperdir=${b('up')},workdir=${b('wk')}`, b('mc'));
    const statsJ = await mount(`lowerdir=${b('l1')}:${b('l2')}:${b('l3')},upperdir=${b('up2')},workdir=${b('wk2')}`, b('mj'), JS_ONLY);
    expect((await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${b('up')}:${b('l1')}:${b('l2')}:${b('l3')}`, b('k')])).code).toBe(0);
    mounts.push(b('k'));
    forgetDentries();
    const c = await tree(b('mc/d'), { ino: true });
    const j = await tree(b('mj/d'), { ino: true });
    expect(c).toEqual(j);
    // "." and ".." too (find leaves them out): ".." of a directory under the root is the root's
    // number, which its node does not hold (a 0 there and readdir(3) drops the entry)
    const dots = async (dir: string): Promise<string[]> =>
      (await run('ls', ['-fia', dir])).stdout.split('\n').filter((l) => / \.\.?$/.test(l)).map((l) => l.trim()).sort();
    const ino = (p: string): string => String(fs.statSync(p).ino);
    expect(await dots(b('mc/d'))).toEqual([`${ino(b('mc/d'))} .`, `${ino(b('mc'))} ..`].sort());
    expect(await dots(b('mc/d/b'))).toEqual([`${ino(b('mc/d/b'))} .`, `${ino(b('mc/d'))} ..`].sort());
    const names = c.map((l) => l.split('|')[0] ?? '');
    expect(names).toEqual(expect.arrayContaining(['a', 'b/one', 'b/two', 'b/three', 'deep/x/y/z/file', 'opq/new1', 'ty', 'ln', 'fifo', 'h1', 'h2']));
    expect(names.filter((n) => /^(c|gone|gone\/.*|opq\/old1|ty\/.*)$/.test(n))).toEqual([]);
    const field = (n: string, i: number): string | undefined => c.find((l) => l.startsWith(`${n}|`))?.split('|')[i];
    expect(field('h1', 8)).toBeDefined();
    expect(field('h1', 8)).toBe(field('h2', 8));       // one inode number for the hard links
    expect(field('h1', 4)).toBe('2');
    expect(field('a', 2)).toBe('8');                   // newer-a\n, from l2
    // the kernel: everything but inode numbers, times and merged directories' link counts (it says 1)
    const dirLinks = (l: string): string => l.replace(/^([^|]*\|d\|[^|]*\|[^|]*\|)[^|]*/, '$1-');
    expect((await tree(b('mc/d'), { ino: false })).map(dirLinks)).toEqual((await tree(b('k/d'), { ino: false })).map(dirLinks));
    expect(await xattrs(b('mc/d'))).toEqual(await xattrs(b('k/d')));
    expect((await xattrs(b('mc/d'))).join('\n')).toContain('user.color="blue"');
    // the root merges the upper layer: its listing is JavaScript's; e is held by the upper too
    expect((await fsp.readdir(b('mc'))).sort()).toEqual((await fsp.readdir(b('k'))).sort());
    expect((await fsp.readdir(b('mc/e'))).sort()).toEqual(['from3', 'mine']);
    if (!llOnly) return;
    const sc = await unmountAndCount(b('mc'), statsC);
    const sj = await unmountAndCount(b('mj'), statsJ);
    expect(sc.listingsC).toBeGreaterThanOrEqual(7);     // d, b, deep (4 levels), opq
    expect(sc.ops.READDIR![1]).toBeLessThanOrEqual(2);   // the root and e
    expect(sc.plusEntries).toBeGreaterThan(15);
    expect(sc.ops.LOOKUP![1]).toBeLessThanOrEqual(1);   // d itself (the root was not listed yet)
    expect(sj.listingsC).toBe(0);
    expect(sj.plusEntries).toBe(0);
  });

  it('number inodes per filesystem as the union does when the layers span two', async () => {
    const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-clist-'));
    bases.push(base);
    const b = (n: string): string => path.join(base, n);
    await fsp.mkdir(b('t'));
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', b('t')])).code).toBe(0);
    mounts.push(b('t'));
    await sh(`
      mkdir -p l1/d/s up wk up2 wk2 t/l2/d/s t/l2/d/only2
      echo 1 > l1/d/one; echo 1s > l1/d/s/one; echo 2 > t/l2/d/two; echo 2s > t/l2/d/s/two; echo o > t/l2/d/only2/f
      ln t/l2/d/two t/l2/d/two-again
    `, base);
    await settleAtimes(base);
    const opts = (u: string, w: string): string => `lowerdir=${b('l1')}:${b('t/l2')},upperdir=${b(u)},workdir=${b(w)}`;
    const statsC = await mount(opts('up', 'wk'), b('mc'));
    await mount(opts('up2', 'wk2'), b('mj'), JS_ONLY);
    forgetDentries();
    const c = await tree(b('mc/d'), { ino: true });
    expect(c).toEqual(await tree(b('mj/d'), { ino: true }));
    const ino = (n: string): number => Number(c.find((l) => l.startsWith(`${n}|`))!.split('|')[8]);
    expect(ino('two')).toBeGreaterThanOrEqual(2 ** 40);   // the second filesystem's range
    expect(ino('one')).toBeLessThan(2 ** 40);
    expect(ino('two')).toBe(ino('two-again'));
    if (llOnly) expect((await unmountAndCount(b('mc'), statsC)).listingsC).toBeGreaterThanOrEqual(3);
  });

  it('read the aufs format (.wh. whiteouts, .wh..wh..opq) as JavaScript does', async () => {
    const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-clist-'));
    bases.push(base);
    const b = (n: string): string => path.join(base, n);
    await sh(`
      mkdir -p l1/d/opq l1/d/keep l2/d/opq l2/d/gone l2/d/keep up wk up2 wk2
      echo a > l2/d/a; echo b > l2/d/b; echo old > l2/d/opq/old; echo g > l2/d/gone/g; echo k > l2/d/keep/k
      touch l1/d/.wh.a l1/d/.wh.gone l1/d/opq/.wh..wh..opq l1/d/.wh..wh.plnk; echo new > l1/d/opq/new
      echo b1 > l1/d/b; echo k1 > l1/d/keep/k1; touch l1/d/keep/.wh.k
    `, base);
    await settleAtimes(base);
    const opts = (u: string, w: string): string => `lowerdir=${b('l1')}:${b('l2')},upperdir=${b(u)},workdir=${b(w)},whiteout=aufs`;
    const statsC = await mount(opts('up', 'wk'), b('mc'));
    await mount(opts('up2', 'wk2'), b('mj'), JS_ONLY);
    forgetDentries();
    const c = await tree(b('mc/d'), { ino: true });
    expect(c).toEqual(await tree(b('mj/d'), { ino: true }));
    expect(c.map((l) => l.split('|')[0]).sort()).toEqual(['b', 'keep', 'keep/k1', 'opq', 'opq/new']);
    if (llOnly) expect((await unmountAndCount(b('mc'), statsC)).listingsC).toBeGreaterThanOrEqual(3);
  });

  it('hand out a directory larger than one READDIRPLUS answer whole, each entry once, without lookups', async () => {
    const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-clist-'));
    bases.push(base);
    const b = (n: string): string => path.join(base, n);
    const N = 3000;
    await sh('mkdir -p l1/big l2/big up wk', base);
    for (let i = 0; i < N; i++) {
      const layer = i % 3 === 0 ? 'l1' : 'l2';
      fs.writeFileSync(b(`${layer}/big/entry-with-a-longish-name-${String(i).padStart(5, '0')}`), String(i));
    }
    const stats = await mount(`lowerdir=${b('l1')}:${b('l2')},upperdir=${b('up')},workdir=${b('wk')}`, b('m'));
    forgetDentries();
    const r = await run('find', [b('m/big'), '-type', 'f', '-printf', '%f %s\\n']);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBe(N);
    expect(new Set(lines).size).toBe(N);
    expect(lines).toContain(`entry-with-a-longish-name-02999 4`);
    if (!llOnly) return;
    const s = await unmountAndCount(b('m'), stats);
    expect(s.plusEntries).toBeGreaterThanOrEqual(N);
    expect(s.ops.LOOKUP![0] + s.ops.LOOKUP![1]).toBeLessThan(10);
  });
});
