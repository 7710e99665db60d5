// Mounting what is in a store: an image (read-only) and a container (read-write) by name, with
// ufsmount --root and with `ufs mount` / `ufs umount`; served by child processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { main } from '../../lib/cli/main.js';
import '../../lib/cli/mount.js';
import { canMount, cleanupAll, makeLayers, mountedType, serverPids, ufsmount, waitFor, alive, type Layers } from './helpers.js';

afterAll(cleanupAll);

describe.skipIf(!canMount)('mounting images and containers of a store', () => {
  let root: string;
  let L: Layers;

  beforeAll(async () => {
    L = await makeLayers();
    root = path.join(L.base, 'store');
    const src = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-fuse-img-'));
    await fsp.writeFile(path.join(src, 'hello'), 'from the image\n');
    await fsp.mkdir(path.join(src, 'etc'));
    await fsp.writeFile(path.join(src, 'etc/conf'), 'x=1\n');
    const store = await Store.open({ root });
    try {
      const layer = await store.createLayerFromDir(src);
      await store.createImage('demo:1', [layer.chainID]);
      await store.createContainer('demo:1', { name: 'box' });
    } finally {
      await store.close();
      await fsp.rm(src, { recursive: true, force: true });
    }
  });

  it('mounts an image read-only by name', async () => {
    const r = await ufsmount(['--root', root, 'demo:1', L.mnt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    try {
      expect(await fsp.readFile(path.join(L.mnt, 'hello'), 'utf8')).toBe('from the image\n');
      await expect(fsp.writeFile(path.join(L.mnt, 'new'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    }
  });

  it('mounts a container read-write; its changes stay in the container', async () => {
    const r = await ufsmount(['--root', root, 'box', L.mnt]);
    expect(r.stderr).toBe('');
    const [pid] = serverPids(L.mnt);
    try {
      await fsp.writeFile(path.join(L.mnt, 'added'), 'new\n');
      await fsp.writeFile(path.join(L.mnt, 'etc/conf'), 'x=2\n');
    } finally {
      expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    }
    await waitFor(() => pid === undefined || !alive(pid), 10_000, 'server exit');
    const store = await Store.open({ root, create: false });
    try {
      const changes = await store.containerChanges('box');
      expect(changes).toEqual(expect.arrayContaining([{ kind: 'A', path: '/added' }, { kind: 'C', path: '/etc/conf' }]));
    } finally {
      await store.close();
    }
  });

  it('ufs mount / ufs umount do the same from the ufs command', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    expect(await main(['--root', root, 'mount', 'box', L.mnt], io)).toBe(0);
    expect(mountedType(L.mnt)).toBe('fuse.ufsmount');
    expect(await fsp.readFile(path.join(L.mnt, 'added'), 'utf8')).toBe('new\n');
    expect(await main(['umount', L.mnt], io)).toBe(0);
    expect(mountedType(L.mnt)).toBeUndefined();
    expect(out).toEqual([]);
  });

  it('refuses an unknown name with one line and mounts nothing', async () => {
    const r = await ufsmount(['--root', root, 'nosuch:tag', L.mnt]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no image or container 'nosuch:tag'/);
    expect(mountedType(L.mnt)).toBeUndefined();
  });
});
