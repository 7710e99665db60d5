// ufsmount's lifecycle, run as real processes: background mount and its ends (ufsmount -u, umount,
// fusermount -u, SIGTERM, SIGINT), a killed server's stale mount recovered, and every refusal.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  alive, canMount, cleanupAll, libfusePath, makeLayers, mountedType, run, serverPids, ufsmount, ufsmountForeground,
  waitFor, NODE_ARGS,
} from './helpers.js';

afterAll(cleanupAll);

const hasUnshare = fs.existsSync('/usr/bin/unshare');

describe.skipIf(!canMount)('ufsmount lifecycle', () => {
  it('mounts in the background, serves, and ends its server on ufsmount -u', async () => {
    const L = await makeLayers();
    const r = await ufsmount(['-o', L.opts, L.mnt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // ufsmount returned: the mount is already live and answered by a detached server.
    expect(mountedType(L.mnt)).toBe('fuse.ufsmount');
    expect(await fsp.readFile(path.join(L.mnt, 'lower.txt'), 'utf8')).toBe('from l2\n');
    const pids = serverPids(L.mnt);
    expect(pids).toHaveLength(1);

    const u = await ufsmount(['-u', L.mnt]);
    expect(u.code).toBe(0);
    expect(mountedType(L.mnt)).toBeUndefined();
    await waitFor(() => !alive(pids[0]!), 10_000, 'server exit');
  });

  for (const [label, cmd] of [['umount', ['umount']], ['fusermount -u', ['fusermount', '-u']]] as const) {
    it(`ends the server when unmounted with ${label}`, async () => {
      const L = await makeLayers();
      expect((await ufsmount(['-o', L.opts, L.mnt])).code).toBe(0);
      const [pid] = serverPids(L.mnt);
      expect(pid).toBeDefined();
      const r = await run(cmd[0], [...cmd.slice(1), L.mnt]);
      expect(r.code).toBe(0);
      await waitFor(() => !alive(pid!), 10_000, 'server exit');
      expect(mountedType(L.mnt)).toBeUndefined();
    });
  }

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`unmounts cleanly on ${sig} (foreground server)`, async () => {
      const L = await makeLayers();
      const child = ufsmountForeground(['-o', L.opts, L.mnt]);
      await waitFor(() => mountedType(L.mnt) !== undefined, 20_000, 'mount');
      await fsp.writeFile(path.join(L.mnt, 'written'), 'kept');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill(sig);
      expect(await exited).toBe(0);
      expect(mountedType(L.mnt)).toBeUndefined();
      expect(await fsp.readFile(path.join(L.upper, 'written'), 'utf8')).toBe('kept');
    });
  }

  it('recovers the stale mount of a killed server on the next mount', async () => {
    const L = await makeLayers();
    const child = ufsmountForeground(['-o', L.opts, L.mnt]);
    await waitFor(() => mountedType(L.mnt) !== undefined, 20_000, 'mount');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // The kernel keeps the mount of a dead server: every access fails with ENOTCONN.
    expect(mountedType(L.mnt)).toBe('fuse.ufsmount');
    await expect(fsp.stat(L.mnt)).rejects.toMatchObject({ code: 'ENOTCONN' });

    const r = await ufsmount(['-o', L.opts, L.mnt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await fsp.readFile(path.join(L.mnt, 'shadowed.txt'), 'utf8')).toBe('l1 version\n');
    expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    expect(mountedType(L.mnt)).toBeUndefined();
  });

  it('ufsmount -u clears a stale mount too', async () => {
    const L = await makeLayers();
    const child = ufsmountForeground(['-o', L.opts, L.mnt]);
    await waitFor(() => mountedType(L.mnt) !== undefined, 20_000, 'mount');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    expect(mountedType(L.mnt)).toBeUndefined();
  });

  describe('refusals: one line on stderr, non-zero exit, nothing mounted', () => {
    const cases: Array<[string, (L: Awaited<ReturnType<typeof makeLayers>>) => string[], RegExp]> = [
      ['no options at all', (L) => [L.mnt], /lowerdir/],
      ['no lowerdir', (L) => ['-o', `upperdir=${L.upper},workdir=${L.work}`, L.mnt], /lowerdir/],
      ['an unknown option', (L) => ['-o', `${L.opts},frobnicate`, L.mnt], /unknown option 'frobnicate'/],
      ['an unknown flag', (L) => ['-x', '-o', L.opts, L.mnt], /unknown flag '-x'/],
      ['upperdir without workdir', (L) => ['-o', `lowerdir=${L.l1},upperdir=${L.upper}`, L.mnt], /workdir/],
      ['a bad whiteout format', (L) => ['-o', `${L.opts},whiteout=zfs`, L.mnt], /whiteout/],
      ['a bad timeout value', (L) => ['-o', `${L.opts},attr_timeout=soon`, L.mnt], /attr_timeout/],
      ['a missing lower directory', (L) => ['-o', `lowerdir=${L.l1}:${L.base}/nope`, L.mnt], /lowerdir .*nope does not exist/],
      ['a lower layer that is a file', (L) => ['-o', `lowerdir=${L.l2}/lower.txt`, L.mnt], /is not a directory/],
      ['a missing upper directory', (L) => ['-o', `lowerdir=${L.l1},upperdir=${L.base}/nope,workdir=${L.work}`, L.mnt], /upperdir .* does not exist/],
      ['a missing mountpoint', (L) => ['-o', L.opts, `${L.base}/nope`], /mountpoint .* does not exist/],
      ['a layer inside the mountpoint', (L) => ['-o', `lowerdir=${L.base}`, L.base], /inside the mountpoint/],
      ['too many arguments', (L) => ['-o', L.opts, 'a', 'b', L.mnt], /too many arguments/],
    ];
    for (const [label, args, message] of cases) {
      it(label, async () => {
        const L = await makeLayers();
        const r = await ufsmount(args(L));
        expect(r.code).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(message);
        expect(mountedType(L.mnt)).toBeUndefined();
        expect(serverPids(L.mnt)).toEqual([]);
      });
    }

    it('a mountpoint already in use', async () => {
      const L = await makeLayers();
      expect((await ufsmount(['-o', L.opts, L.mnt])).code).toBe(0);
      const r = await ufsmount(['-o', `lowerdir=${L.l2}`, L.mnt]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/in use/);
      // The first mount is untouched.
      expect(await fsp.readFile(path.join(L.mnt, 'shadowed.txt'), 'utf8')).toBe('l1 version\n');
      expect(serverPids(L.mnt)).toHaveLength(1);
      expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    });

    it('ufsmount -u of something not mounted', async () => {
      const L = await makeLayers();
      const r = await ufsmount(['-u', L.mnt]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/is not mounted/);
    });

    it.skipIf(!hasUnshare)('no /dev/fuse (a private /dev without it)', async () => {
      const L = await makeLayers();
      const cmd = `mount -t tmpfs none /dev && exec "$0" "$@"`;
      const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd, process.execPath, ...NODE_ARGS, '-o', L.opts, L.mnt]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toMatch(/^ufsmount: \/dev\/fuse does not exist/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(mountedType(L.mnt)).toBeUndefined();
    });

    it.skipIf(!hasUnshare || !libfusePath)('no usable libfuse (libfuse.so.2 hidden)', async () => {
      const L = await makeLayers();
      const cmd = `mount --bind /dev/null ${libfusePath} && exec "$0" "$@"`;
      const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd, process.execPath, ...NODE_ARGS, '-o', L.opts, L.mnt]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toMatch(/^ufsmount: cannot load FUSE support .*libfuse\.so\.2/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(mountedType(L.mnt)).toBeUndefined();
    });
  });

  it('works as a mount helper: mount -t fuse /abs/ufsmount#SOURCE (through mount.fuse3)', async () => {
    const L = await makeLayers();
    const bin = path.join(L.base, 'bin');
    await fsp.mkdir(bin);
    await fsp.writeFile(path.join(bin, 'ufsmount'), `#!/bin/sh\nexec "${process.execPath}" ${NODE_ARGS.map((a) => `"${a}"`).join(' ')} "$@"\n`, { mode: 0o755 });
    // mount(8) runs mount.fuse3 with a clean PATH: the helper is named by its absolute path.
    const r = await run('mount', ['-t', 'fuse', '-o', L.opts, `${bin}/ufsmount#myunion`, L.mnt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mountedType(L.mnt)).toBe('fuse.ufsmount');
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${L.mnt} `));
    expect(line).toMatch(/ - fuse\.ufsmount myunion /);
    expect(await fsp.readFile(path.join(L.mnt, 'dir/c'), 'utf8')).toBe('c\n');
    const [pid] = serverPids(L.mnt);
    expect((await run('umount', [L.mnt])).code).toBe(0);
    await waitFor(() => pid === undefined || !alive(pid), 10_000, 'server exit');
  });
});
