// A union with a volume (a host directory that changes behind ufs) through a mount, with whichever
// binding ufsmount picks: changes made in the host directory show through the mount within the
// short timeouts such unions get, and changes made through the mount land in the host directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { binding, canMount, cleanupAll, makeLayers, mountedType, ufsmount, waitFor, type Layers } from './helpers.js';

afterAll(cleanupAll);

/** What reading `p` gives (or the error code). */
function readOrCode(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  }
}

describe.skipIf(!canMount)(`a union with a volume (${binding} binding; needs root, /dev/fuse)`, () => {
  let L: Layers;
  let host: string;
  let vol: (rel: string) => string;

  beforeAll(async () => {
    L = await makeLayers();
    host = path.join(L.base, 'host');
    await fsp.mkdir(host);
    await fsp.writeFile(path.join(host, 'x'), 'h1');
    vol = (rel) => path.join(L.mnt, 'vol', rel);
    const r = await ufsmount(['-o', `${L.opts},volume=${host}:/vol`, L.mnt]);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    if (L && mountedType(L.mnt)) await ufsmount(['-u', L.mnt]);
  });

  it('shows what changes in the host directory behind the mount', async () => {
    expect(readOrCode(vol('x'))).toBe('h1');
    expect(await fsp.readdir(path.join(L.mnt, 'vol'))).toEqual(['x']);
    await fsp.writeFile(path.join(host, 'x'), 'h2-longer');
    await fsp.writeFile(path.join(host, 'y'), 'new');
    await waitFor(() => readOrCode(vol('x')) === 'h2-longer' && readOrCode(vol('y')) === 'new', 10_000, 'host changes to show');
    await fsp.rename(path.join(host, 'x'), path.join(host, 'x2'));
    await waitFor(() => readOrCode(vol('x')) === 'ENOENT' && readOrCode(vol('x2')) === 'h2-longer', 10_000, 'a rename behind to show');
    await fsp.rm(path.join(host, 'y'));
    await waitFor(() => readOrCode(vol('y')) === 'ENOENT', 10_000, 'a removal behind to show');
    expect((await fsp.readdir(path.join(L.mnt, 'vol'))).sort()).toEqual(['x2']);
  });

  it('writes through the mount into the host directory', async () => {
    await fsp.writeFile(vol('z'), 'via mount');
    expect(await fsp.readFile(path.join(host, 'z'), 'utf8')).toBe('via mount');
    await fsp.chmod(vol('z'), 0o600);
    expect(fs.statSync(path.join(host, 'z')).mode & 0o777).toBe(0o600);
    await fsp.unlink(vol('z'));
    expect(fs.existsSync(path.join(host, 'z'))).toBe(false);
  });
});
