// Changes followed node by node by the low-level binding (ufs_ll_keep.c): a create, mkdir, unlink or
// rmdir edits the directory's kept listing and brings its attributes along, a write or chmod marks the
// file's entry stale, a copy-up drops what was kept about the copied object, a file with other names
// drops everything; writes of upper files are served in C (ufs_ll_fds.c). Each check changes things through the mount from a shell, then makes the kernel
// ask again (dentries dropped) and compares with the layers: a stale kept answer would show. The
// content checks run with every binding, the counters with ufs-ll.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binding, bindingStats, canMount, cleanupAll, forgetDentries, mountLayersForSuite, run, ufsmount } from './helpers.js';

afterAll(cleanupAll);

const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ufs-follow-'));
afterAll(() => fs.rmSync(statsDir, { recursive: true, force: true }));

/**
 * Runs `fn` with `dirs` held open, so that the kernel keeps their inodes (and the binding what it
 * keeps on them) while it forgets their entries: lookups under them are then answered from what the
 * binding kept, which is what these checks are about.
 */
async function pinned(dirs: string[], fn: () => Promise<void>): Promise<void> {
  const held = await Promise.all(dirs.map((d) => fsp.open(d, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)));
  try {
    await fn();
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
}

/** `find DIR -printf`: name, size, mode, type, link count of each entry (sorted). */
async function listing(dir: string): Promise<string[]> {
  const r = await run('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %s %m %y %n\\n']);
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function sh(dir: string, ...lines: string[]): Promise<void> {
  const r = await run('bash', ['-ec', ['cd "$1"', ...lines].join('\n'), 'x', dir]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** stat(1) of a path through the mount in another process: '%s %a %h' or the error. */
async function stat(p: string): Promise<string> {
  const r = await run('stat', ['-c', '%s %a %h', p]);
  return r.code === 0 ? r.stdout.trim() : r.stderr.includes('No such file') ? 'ENOENT' : r.stderr.trim();
}

describe.skipIf(!canMount)('changes followed node by node (kept listings and attributes stay true)', () => {
  const stats = path.join(statsDir, 'stats.json');
  const S = mountLayersForSuite({
    env: { ...process.env, UFS_FUSE_STATS: stats },
    prepare: async (L) => {
      await fsp.mkdir(path.join(L.l2, 'low'));
      for (let i = 0; i < 30; i++) await fsp.writeFile(path.join(L.l2, 'low', `f${i}`), 'y'.repeat(i));
      await fsp.mkdir(path.join(L.l2, 'gone'));
      for (let i = 0; i < 50; i++) await fsp.writeFile(path.join(L.l2, 'gone', `g${i}`), 'z');
      await fsp.mkdir(path.join(L.l2, 'deep', 'd1', 'd2'), { recursive: true });
      for (let i = 0; i < 300; i++) await fsp.writeFile(path.join(L.l2, 'deep', 'd1', `a-long-file-name-${i}`), '');
      await fsp.mkdir(path.join(L.l2, 'hl'));
      await fsp.writeFile(path.join(L.l2, 'hl', 'h1'), 'linked\n');
      await fsp.link(path.join(L.l2, 'hl', 'h1'), path.join(L.l2, 'hl', 'h2'));
    },
  });

  it('absent names are answered absent from a listing, and stop being absent once created', () => pinned([S.m('low')], async () => {
    await fsp.readdir(S.m('low'));
    expect(await stat(S.m('low/nope'))).toBe('ENOENT');
    await sh(S.L.mnt, 'echo hello > low/nope');
    expect(await stat(S.m('low/nope'))).toBe('6 644 1');
    forgetDentries();
    expect(await stat(S.m('low/nope'))).toBe('6 644 1');
    expect(await listing(S.m('low'))).toContain('nope 6 644 f 1');
    await sh(S.L.mnt, 'rm low/nope');
    forgetDentries();
    expect(await stat(S.m('low/nope'))).toBe('ENOENT');
    expect(await fsp.readdir(S.m('low'))).not.toContain('nope');
    // and back again under the same name (a removed entry revived)
    await sh(S.L.mnt, 'printf abc > low/nope');
    forgetDentries();
    expect(await stat(S.m('low/nope'))).toBe('3 644 1');
  }));

  it('a new directory is empty, then holds what is made in it; its link count follows subdirectories', async () => {
    await sh(S.L.mnt, 'mkdir fresh');
    await pinned([S.m('fresh')], async () => {
    await sh(S.L.mnt, 'test ! -e fresh/x', 'echo 12345 > fresh/x', 'mkdir fresh/sub', 'ln -s x fresh/ln');
    forgetDentries();
    expect(await listing(S.m('fresh'))).toEqual(['ln 1 777 l 1', 'sub 4096 755 d 2', 'x 6 644 f 1']);
    expect(await stat(S.m('fresh'))).toMatch(/^\d+ 755 3$/);
    await sh(S.L.mnt, 'rmdir fresh/sub', 'rm fresh/ln');
    expect(await stat(S.m('fresh'))).toMatch(/^\d+ 755 2$/);
    forgetDentries();
    expect(await listing(S.m('fresh'))).toEqual(['x 6 644 f 1']);
    expect(await stat(S.m('fresh/sub'))).toBe('ENOENT');
    });
  });

  it("a directory's attributes after changes under it are the upper directory's", async () => {
    await sh(S.L.mnt, 'mkdir -p attrs/a', 'touch attrs/b');
    const st = async (): Promise<string> => (await run('stat', ['-c', '%Y %h %a', S.m('attrs')])).stdout.trim();
    const upper = (): string => {
      const s = fs.statSync(path.join(S.L.upper, 'attrs'));
      return `${Math.floor(s.mtimeMs / 1000)} ${s.nlink} ${(s.mode & 0o7777).toString(8)}`;
    };
    for (const step of ['mkdir attrs/c', 'rm attrs/b', 'rmdir attrs/a', 'touch attrs/d']) {
      await sh(S.L.mnt, 'sleep 1.1', step);
      expect(await st()).toBe(upper());
    }
  });

  it('sizes after writes, appends to lower files (copy-up) and truncation are never stale', () => pinned([S.m('low')], async () => {
    await fsp.readdir(S.m('low'));
    await sh(S.L.mnt, 'echo more >> low/f3', 'printf 1234567 > low/f4', ': > low/f5', 'chmod 600 low/f6');
    forgetDentries();
    const want = ['f3 8 644 f 1', 'f4 7 644 f 1', 'f5 0 644 f 1', 'f6 6 600 f 1', 'f7 7 644 f 1'];
    expect(await listing(S.m('low'))).toEqual(expect.arrayContaining(want));
  }));

  it('a file with two names: a change through one shows through the other', () => pinned([S.m('hl')], async () => {
    await sh(S.L.mnt, 'echo again >> hl/h1');      // a copy-up of both names
    await fsp.readdir(S.m('hl'));                 // listed (both names with their attributes)
    forgetDentries();
    await sh(S.L.mnt, 'chmod 640 hl/h1');          // then changed through one name only
    forgetDentries();
    expect(await stat(S.m('hl/h2'))).toBe('13 640 2');
    await sh(S.L.mnt, 'rm hl/h1');
    forgetDentries();
    expect(await stat(S.m('hl/h2'))).toBe('13 640 1');
    expect(await listing(S.m('hl'))).toEqual(['h2 13 640 f 1']);
  }));

  it('a directory copied up for a change below it shows as the upper directory', () => pinned([S.m('deep')], async () => {
    await fsp.readdir(S.m('deep'));               // d1 listed with its lower size
    forgetDentries();
    await sh(S.L.mnt, 'touch deep/d1/d2/new');      // copies d1 and d2 up
    forgetDentries();
    const size = fs.statSync(path.join(S.L.upper, 'deep', 'd1')).size;
    expect(size).not.toBe(fs.statSync(path.join(S.L.l2, 'deep', 'd1')).size);
    expect(await stat(S.m('deep/d1'))).toBe(`${size} 755 3`);
  }));

  it('rm -rf of a lower directory after a walk, then the same names made again', () => pinned([S.L.mnt], async () => {
    await run('find', [S.m('gone')]);
    await sh(S.L.mnt, 'rm -rf gone', 'test ! -e gone');
    forgetDentries();
    expect(await stat(S.m('gone'))).toBe('ENOENT');
    await sh(S.L.mnt, 'mkdir gone', 'echo back > gone/g1');
    forgetDentries();
    expect(await listing(S.m('gone'))).toEqual(['g1 5 644 f 1']);
    expect(await stat(S.m('gone/g2'))).toBe('ENOENT');
  }));

  it('writes (served in C for files the upper layer holds) land as they would on a plain directory', async () => {
    const script = [
      'printf abc > w1', 'printf XY | dd of=w1 bs=1 seek=1 conv=notrunc status=none',       // in place
      'echo 1 >> w2', 'echo 2 >> w2',                                                        // O_APPEND
      'printf z | dd of=w3 bs=1 seek=100000 conv=notrunc status=none',                      // past the end
      'head -c 3000000 /dev/urandom > w4.src', 'dd if=w4.src of=w4 bs=64k status=none',      // many writes
      'exec 3<>w5', 'printf 12345 >&3', 'truncate -s 2 w5', 'printf 9 >&3', 'exec 3>&-',      // a truncate between writes
    ];
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'ufs-plain-'));
    try {
      await sh(plain, ...script);
      await sh(S.L.mnt, 'mkdir wr', 'cp ' + path.join(plain, 'w4.src') + ' wr/', 'cd wr', ...script.filter((l) => !l.startsWith('head')));
      forgetDentries();
      const sums = async (d: string): Promise<string> =>
        (await run('bash', ['-c', 'cd "$1" && for f in w1 w2 w3 w4 w5; do echo "$f $(stat -c %s $f) $(sha256sum < $f)"; done', 'x', d])).stdout;
      expect(await sums(S.m('wr'))).toBe(await sums(plain));
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
    // the size seen between writes of a file held open
    const r = await run('bash', ['-c', 'cd "$1" && exec 3>w6 && printf abc >&3 && stat -c %s w6 && printf de >&3 && stat -c %s w6', 'x', S.m('wr')]);
    expect(r.stdout).toBe('3\n5\n');
    // through one name of a file with two (written by JavaScript), seen through the other
    await sh(S.L.mnt, 'echo two >> wr/w1', 'ln wr/w1 wr/w1b', 'echo three >> wr/w1');
    forgetDentries();
    expect(await fsp.readFile(S.m('wr/w1b'), 'utf8')).toBe('aXYtwo\nthree\n');
    expect(await stat(S.m('wr/w1b'))).toBe('13 644 2');
  });

  it.runIf(binding === 'ufs-ll')('absent names and directory attributes were answered in C (the binding counters)', async () => {
    await fsp.readdir(S.m('fresh'));
    await sh(S.L.mnt, 'cd fresh', 'for i in 1 2 3 4 5 6 7 8; do echo x > n$i; done');
    expect((await ufsmount(['-u', S.L.mnt])).code).toBe(0);
    const s = { ops: await bindingStats(stats) };
    // each create's lookup of its new name and the kernel's getattr of the directory after it
    expect(s.ops.LOOKUP![0]).toBeGreaterThanOrEqual(8);
    expect(s.ops.GETATTR![0]).toBeGreaterThanOrEqual(8);
    expect(s.ops.CREATE![1]).toBeGreaterThanOrEqual(8);
    expect(s.ops.WRITE![0]).toBeGreaterThan(40);          // the writes of new files and of w4
    expect(s.ops.WRITE![1]).toBeGreaterThan(0);           // and w1 with two names
  });
});
