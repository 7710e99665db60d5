// Open files and requests at the edges, from child processes (never this one): an unlinked file
// still open is changed through its descriptor (fchmod, fchown, futimens); a process killed in the
// middle of a large write or read leaves the mount answering, no file of the union open in the
// server, and an unmount that goes cleanly. Run with whichever binding ufsmount picks
// (UFS_FUSE_BINDING chooses). With ufs-ll also: a request stuck in JavaScript (its lower layer is a
// stopped FUSE server) neither keeps its killed caller nor the unmount.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { alive, binding, canMount, cleanupAll, makeLayers, mountedType, run, serverPids, ufsmount, waitFor, type Layers, mountLayersForSuite, mountOverLowerMount, type StoppableLower } from './helpers.js';

afterAll(cleanupAll);

const hasPython = (await run('python3', ['-c', 'print(1)'])).code === 0;

// Opens, unlinks, then changes the file through its descriptor only; prints what fstat says.
const UNLINKED_META = `
import json, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'abc')
os.unlink(p)
os.fchmod(fd, 0o600)
os.fchown(fd, 1234, 5678)
os.utime(fd, ns=(1000000000123456000, 1100000000654321000))
os.fchown(fd, -1, 4321)
st = os.fstat(fd)
os.close(fd)
print(json.dumps([st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, st.st_nlink, st.st_size]))
`;

// Reads the file over and over in 1 MiB pieces, saying "reading" once it has started.
const READ_FOREVER = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
started = False
while True:
    off = 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b: break
        off += len(b)
        if not started:
            print('reading', flush=True); started = True
`;

/** Paths the server process has open that lie under `dir`. */
function openUnder(pid: number, dir: string): string[] {
  const out: string[] = [];
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const t = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (t.startsWith(dir + '/')) out.push(t);
      } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return out;
}

describe.skipIf(!canMount || !hasPython)(`open files at the edges (${binding} binding; needs root, /dev/fuse, python3)`, () => {
  const mount = mountLayersForSuite();
  const m = mount.m;

  it('changes mode, owner and times of an unlinked file through its open descriptor', async () => {
    const r = await run('python3', ['-c', UNLINKED_META, m('unlinked-meta')]);
    expect(r.stderr).toBe('');
    const [mode, uid, gid, atimeNs, mtimeNs, nlink, size] = JSON.parse(r.stdout) as number[];
    expect([mode, uid, gid, nlink, size]).toEqual([0o600, 1234, 4321, 0, 3]);
    // node:fs sets times to the microsecond
    expect(atimeNs).toBe(1000000000123456000);
    expect(mtimeNs).toBe(1100000000654321000);
    await expect(fsp.stat(m('unlinked-meta'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('goes on answering after a writer is killed in the middle of a large write, and closes its file', async () => {
    const [server] = serverPids(mount.L.mnt);
    expect(server).toBeDefined();
    const dd = spawn('dd', ['if=/dev/zero', `of=${m('big')}`, 'bs=1M', 'count=100000'], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(path.join(mount.L.upper, 'big')) && fs.statSync(path.join(mount.L.upper, 'big')).size > 16 << 20, 30_000, 'dd to write');
    dd.kill('SIGKILL');
    await new Promise((r) => dd.once('exit', r));
    await fsp.writeFile(m('after-write'), 'still here');
    expect(await fsp.readFile(m('after-write'), 'utf8')).toBe('still here');
    expect((await fsp.stat(m('big'))).size).toBeGreaterThan(16 << 20);
    await waitFor(() => openUnder(server!, mount.L.upper).length === 0, 10_000, 'the killed writer\'s file to be closed');
  });

  it('goes on answering after a reader is killed in the middle of a large read, and closes its file', async () => {
    const [server] = serverPids(mount.L.mnt);
    const reader = spawn('python3', ['-c', READ_FOREVER, m('big')], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => reader.stdout!.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 200));
    reader.kill('SIGKILL');
    await new Promise((r) => reader.once('exit', r));
    expect((await fsp.readdir(mount.L.mnt)).sort()).toContain('big');
    expect(await fsp.readFile(m('lower.txt'), 'utf8')).toBe('from l2\n');
    await waitFor(() => openUnder(server!, mount.L.upper).length === 0, 10_000, 'the killed reader\'s file to be closed');
  });

  it('unmounts cleanly afterwards: the server exits and leaves no mount', async () => {
    const [server] = serverPids(mount.L.mnt);
    const r = await ufsmount(['-u', mount.L.mnt]);
    expect(r.code).toBe(0);
    expect(mountedType(mount.L.mnt)).toBeUndefined();
    await waitFor(() => !alive(server!), 20_000, 'the server to exit');
  });
});

describe.skipIf(!canMount || binding !== 'ufs-ll')('a request stuck in JavaScript (ufs-ll binding; needs root, /dev/fuse)', () => {
  let L: Layers;
  let lower: StoppableLower | undefined;
  let lowerServer: number | undefined;

  beforeAll(async () => {
    L = await makeLayers();
    // The union's lower layer lies in another ufsmount: stopping that server makes every request
    // of the union that reaches the layer wait in JavaScript (a libuv thread blocked on it).
    lower = await mountOverLowerMount(L, async (d) => {
      for (const f of ['f1', 'f2']) await fsp.writeFile(path.join(d, f), f);
    });
    lowerServer = lower.lowerServer;
  });
  afterAll(async () => {
    await lower?.release();
  });

  it('lets its killed caller go at once, and the mount be unmounted', async () => {
    expect(await fsp.readFile(path.join(L.mnt, 'f1'), 'utf8')).toBe('f1');
    const [server] = serverPids(L.mnt);
    process.kill(lowerServer!, 'SIGSTOP');
    const cat = spawn('cat', [path.join(L.mnt, 'f2')], { stdio: 'ignore' });
    const exited = new Promise((r) => cat.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    expect(cat.exitCode).toBeNull(); // waiting on the union, which waits on the stopped layer
    cat.kill('SIGKILL');
    await exited; // not left unkillable in the kernel until the layer answers
    const r = await ufsmount(['-u', L.mnt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mountedType(L.mnt)).toBeUndefined();
    process.kill(lowerServer!, 'SIGCONT');
    await waitFor(() => !alive(server!), 20_000, 'the server to exit');
  });
});
