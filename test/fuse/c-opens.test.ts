// Read-only opens of lower files served in C (ufs_ll_open.c): which opens the binding answers itself
// (execve's too) and which stay JavaScript's (counted with UFS_FUSE_STATS), and that a handle of C's
// own behaves as the union's: the topmost layer's bytes, fstat through it (FGETATTR, attr_timeout=0), fsync, reads
// after its name is unlinked, reads after another handle copied the file up. The same script runs on
// a mount with UFS_FUSE_C_OPENS=0 and must print the same; aufs whiteouts, a second filesystem (the
// union's inode ranges) and a read-only union (hard links) too.
import { afterAll, describe, expect, it } from 'vitest';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binding, bindingCounters, canMount, cleanupAll, mountedType, run, ufsmount } from './helpers.js';

afterAll(cleanupAll);

const bases: string[] = [];
const mounts: string[] = [];
afterAll(async () => {
  for (const m of mounts.reverse()) if (mountedType(m)) await run('umount', ['-l', m]);
  for (const b of bases) await fsp.rm(b, { recursive: true, force: true }).catch(() => undefined);
});

async function sh(script: string, cwd: string): Promise<void> {
  const r = await run('bash', ['-ec', `cd "$1"\n${script}`, 'x', cwd]);
  if (r.code !== 0) throw new Error(`${script}\n${r.stderr}`);
}

async function base(): Promise<string> {
  const b = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-copens-'));
  bases.push(b);
  return b;
}

/** ufsmount OPTS MNT with env; returns where the counters go at unmount. */
async function mount(opts: string, mnt: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const stats = `${mnt}.stats.json`;
  await fsp.mkdir(mnt, { recursive: true });
  const r = await ufsmount(['-o', `${opts},attr_timeout=0`, mnt], { ...process.env, ...env, UFS_FUSE_STATS: stats });
  if (r.code !== 0) throw new Error(r.stderr);
  mounts.push(mnt);
  return stats;
}

async function opens(mnt: string, stats: string): Promise<Record<string, [number, number]>> {
  expect((await ufsmount(['-u', mnt])).code).toBe(0);
  return (await bindingCounters(stats)).ops;
}

// What a program sees through its opens, one line per step (run in its own process).
const SCRIPT = `
import json, os, subprocess, sys
m = sys.argv[1]
out = []
def read(rel, flags=os.O_RDONLY):
    fd = os.open(os.path.join(m, rel), flags)
    try:
        b = b''
        while True:
            c = os.read(fd, 65536)
            if not c: break
            b += c
        return b.decode('latin-1')
    finally:
        os.close(fd)
for i in range(10): out.append(['lo', i, read('lo/f%d' % i)])
out.append(['shadowed', read('shadowed.txt')])
out.append(['upper', read('up.txt')])
out.append(['linked', read('hl')])
out.append(['noatime', read('lo/f1', os.O_RDONLY | os.O_NOATIME)])
out.append(['exec', subprocess.run([os.path.join(m, 'lo/true')]).returncode])
fd = os.open(os.path.join(m, 'w.txt'), os.O_RDWR); os.close(fd)
# fstat through the handle, fsync, then its name unlinked: the handle reads on
fd = os.open(os.path.join(m, 'sem.bin'), os.O_RDONLY)
st, fst = os.stat(os.path.join(m, 'sem.bin')), os.fstat(fd)
out.append(['sem', os.lseek(fd, 0, os.SEEK_END), fst.st_ino == st.st_ino, fst.st_mode, fst.st_mtime_ns == st.st_mtime_ns])
os.fsync(fd)
os.unlink(os.path.join(m, 'sem.bin'))
out.append(['unlinked', os.path.exists(os.path.join(m, 'sem.bin')), os.pread(fd, 100, 1000).decode('latin-1'), os.lseek(fd, 0, os.SEEK_END), os.fstat(fd).st_size])
os.close(fd)
# a reader, then a writer copying the file up: the reader's reads reach the upper copy
r = os.open(os.path.join(m, 'cu.bin'), os.O_RDONLY)
first = os.pread(r, 10, 0)
w = os.open(os.path.join(m, 'cu.bin'), os.O_RDWR)
os.pwrite(w, b'NEW BYTES', 200000)
os.close(w)
os.posix_fadvise(r, 0, 0, os.POSIX_FADV_DONTNEED)
out.append(['copied-up', first.decode(), os.pread(r, 20, 199995).decode('latin-1'), os.fstat(r).st_size])
os.close(r)
print(json.dumps(out))
`;

describe.skipIf(!canMount || binding !== 'ufs-ll')('read-only opens of lower files served in C', () => {
  it('answers the opens of files only lower layers hold, and a program sees what it sees with JavaScript', async () => {
    const b = await base();
    await sh(`
      mkdir -p l1 l2/lo up wk up2 wk2
      for i in 0 1 2 3 4 5 6 7 8 9; do echo "lower file $i" > l2/lo/f$i; done
      cp /bin/true l2/lo/true
      echo l2 version > l2/shadowed.txt; echo l1 version > l1/shadowed.txt
      echo upper > up/up.txt; cp up/up.txt up2/up.txt
      echo linked > l2/hl; ln l2/hl l2/hl2
      echo w > l2/w.txt
      head -c 300000 /dev/urandom | base64 -w 0 > l2/sem.bin
      head -c 300000 /dev/zero | tr '\\0' a > l2/cu.bin
    `, b);
    const opts = (u: string, w: string): string => `lowerdir=${b}/l1:${b}/l2,upperdir=${b}/${u},workdir=${b}/${w}`;
    const statsC = await mount(opts('up', 'wk'), path.join(b, 'mc'));
    const statsJ = await mount(opts('up2', 'wk2'), path.join(b, 'mj'), { UFS_FUSE_C_OPENS: '0' });
    const rc = await run('python3', ['-c', SCRIPT, path.join(b, 'mc')]);
    const rj = await run('python3', ['-c', SCRIPT, path.join(b, 'mj')]);
    expect(rc.stderr).toBe('');
    expect(rj.stderr).toBe('');
    const c = JSON.parse(rc.stdout) as unknown[][];
    expect(c).toEqual(JSON.parse(rj.stdout));
    const sem = (await fsp.readFile(path.join(b, 'l2/sem.bin'), 'latin1'));
    expect(c.slice(0, 10)).toEqual([...Array(10).keys()].map((i) => ['lo', i, `lower file ${i}\n`]));
    expect(c.slice(10, 15)).toEqual([['shadowed', 'l1 version\n'], ['upper', 'upper\n'], ['linked', 'linked\n'], ['noatime', 'lower file 1\n'], ['exec', 0]]);
    expect(c[15]).toEqual(['sem', sem.length, true, 0o100644, true]);
    expect(c[16]).toEqual(['unlinked', false, sem.slice(1000, 1100), sem.length, sem.length]);
    expect(c[17]).toEqual(['copied-up', 'aaaaaaaaaa', 'aaaaaNEW BYTESaaaaaa', 300000]);

    const oc = await opens(path.join(b, 'mc'), statsC);
    const oj = await opens(path.join(b, 'mj'), statsJ);
    // in C: ten lower files, the shadowed one, execve's open of a lower binary, sem.bin and cu.bin's
    // reader; JavaScript's: the upper file, the hard-linked one, O_NOATIME, the two opens for writing
    expect(oc.OPEN).toEqual([14, 5]);
    expect(oc.RELEASE).toEqual([14, 5]);
    expect(oc.FGETATTR?.[1]).toBe(0);
    expect(oc.FGETATTR?.[0]).toBeGreaterThan(0);
    expect(oc.FSYNC).toEqual([1, 0]);
    expect(oj.OPEN).toEqual([0, 19]);
  }, 60_000);

  it('follows aufs whiteouts and numbers a second filesystem\'s files as the union does', async () => {
    const b = await base();
    await fsp.mkdir(path.join(b, 't'));
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', path.join(b, 't')])).code).toBe(0);
    mounts.push(path.join(b, 't'));
    await sh(`
      mkdir -p l1/d up wk t/l2/d
      echo top > l1/d/x; echo below > t/l2/d/x; echo only2 > t/l2/d/y; echo hidden > t/l2/d/z; touch l1/d/.wh.z
    `, b);
    const mnt = path.join(b, 'm');
    const stats = await mount(`lowerdir=${b}/l1:${b}/t/l2,upperdir=${b}/up,workdir=${b}/wk,whiteout=aufs`, mnt);
    expect(await fsp.readFile(path.join(mnt, 'd/x'), 'utf8')).toBe('top\n');
    expect(await fsp.readFile(path.join(mnt, 'd/y'), 'utf8')).toBe('only2\n');
    await expect(fsp.readFile(path.join(mnt, 'd/z'))).rejects.toMatchObject({ code: 'ENOENT' });
    const o = await opens(mnt, stats);
    expect(o.OPEN).toEqual([2, 0]);
  });

  it('serves a hard-linked file of a read-only union (no copy-up can part its names)', async () => {
    const b = await base();
    await sh('mkdir -p l1; echo twice > l1/a; ln l1/a l1/b', b);
    const mnt = path.join(b, 'm');
    const stats = await mount(`lowerdir=${b}/l1`, mnt);
    expect(await fsp.readFile(path.join(mnt, 'a'), 'utf8')).toBe('twice\n');
    expect(await fsp.readFile(path.join(mnt, 'b'), 'utf8')).toBe('twice\n');
    expect((await opens(mnt, stats)).OPEN).toEqual([2, 0]);
  });
});
