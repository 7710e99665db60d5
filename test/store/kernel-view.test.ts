// A store written by the overlay driver through ufs is in the kernel's format: the kernel's own
// overlayfs mounts its layers (kernelMount) and shows the same view as ufs does, both ways.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { native } from '../../lib/native.js';
import { fsOf, makeDir, snapshot } from '../conformance/driver-suite.js';
import { tmpdir } from './helpers.js';

const kernelOverlay = (() => {
  try {
    return /\toverlay\n/.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
})();
const why = process.getuid?.() !== 0 ? 'needs root' : !native() ? 'needs the native addon' : !kernelOverlay ? 'needs a kernel with overlayfs' : null;

describe.skipIf(why !== null)(`kernel overlay mounts of a store written by ufs${why ? ` (skipped: ${why})` : ''}`, () => {
  let tmp: string;
  let ufs: Store;
  let kernel: Store;
  beforeAll(async () => {
    tmp = await tmpdir('kview');
    const root = path.join(tmp, 'store');
    ufs = await Store.open({ root, driver: 'overlay' });
    kernel = await Store.open({ root, driver: 'overlay', driverOptions: { kernelMount: true } });
  });
  afterAll(async () => {
    await kernel?.close();
    await ufs?.close();
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('shows the same image and container views as ufs, and ufs sees what the kernel wrote', async () => {
    const base = await ufs.createLayerFromDir(await makeDir(path.join(tmp, 'base'), {
      'etc/hosts': 'h', 'etc/passwd': 'p', 'opt/app/a': 'a', 'opt/app/b': 'b', 'usr/lib/x': 'x', 'usr/lib/deep/y': 'y', 'bin/sh': '#!', 'lnk': '->etc/hosts',
    }));
    const mid = await ufs.createLayerFromDir(await makeDir(path.join(tmp, 'mid'), {
      'etc/passwd': 'wh', 'opt/app': 'opq', 'opt/app/c': 'c', 'new/file': 'n',
    }), { parent: base.chainID });
    await ufs.createImage('kv/app', [base.chainID, mid.chainID]);
    await ufs.createContainer('kv/app', { name: 'kv' });
    const w = fsOf(await ufs.mountContainer('kv'));
    await w.unlink('/etc/hosts');
    await w.rm('/usr/lib', { recursive: true });
    await w.mkdir('/usr/lib');
    await w.writeFile('/usr/lib/fresh', 'f');
    await w.rename('/opt/app', '/opt/moved');
    await w.writeFile('/bin/sh', 'changed');
    await w.mkdir('/data');
    await ufs.unmountContainer('kv');

    const img = await ufs.mountImage('kv/app');
    const imgUfs = await snapshot(fsOf(img));
    await ufs.releaseImage('kv/app');
    const kimg = await kernel.mountImage('kv/app');
    expect(kimg.fs).toBe(null);
    expect(kimg.path).not.toBe(null);
    expect(await snapshot(fsOf(kimg))).toEqual(imgUfs);
    await kernel.releaseImage('kv/app');
    expect(imgUfs).toMatchObject({ '/opt/app/c': 'file 644 c', '/new/file': 'file 644 n', '/lnk': '-> etc/hosts' });
    expect(imgUfs['/etc/passwd']).toBeUndefined();
    expect(imgUfs['/opt/app/a']).toBeUndefined();

    const viaUfs = await snapshot(fsOf(await ufs.mountContainer('kv')));
    await ufs.unmountContainer('kv');
    const kv = await kernel.mountContainer('kv');
    const viaKernel = await snapshot(fsOf(kv));
    expect(viaKernel).toEqual(viaUfs);
    expect(viaUfs).toMatchObject({ '/usr/lib/fresh': 'file 644 f', '/opt/moved/c': 'file 644 c', '/bin/sh': 'file 644 changed' });
    expect(viaUfs['/usr/lib/x']).toBeUndefined();
    expect(viaUfs['/etc/hosts']).toBeUndefined();
    // Written by the kernel, read by ufs.
    await fsp.writeFile(path.join(kv.path!, 'from-kernel'), 'k');
    await fsp.unlink(path.join(kv.path!, 'new/file'));
    await kernel.unmountContainer('kv');
    const again = fsOf(await ufs.mountContainer('kv'));
    expect(await again.readFile('/from-kernel', 'utf8')).toBe('k');
    await expect(again.stat('/new/file')).rejects.toMatchObject({ code: 'ENOENT' });
    await ufs.unmountContainer('kv');
    expect(await ufs.containerChanges('kv')).toEqual(expect.arrayContaining([{ path: '/from-kernel', kind: 'A' }, { path: '/new/file', kind: 'D' }]));
    expect(await ufs.check()).toMatchObject({ ok: true });
  });
});
