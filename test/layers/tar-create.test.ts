// createLayerTar: byte-identical output across runs and across whiteout formats, a fixed point of
// apply → create, readable by GNU tar into the same tree, sorted entries, deterministic gzip.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayerTar } from '../../lib/layers/tar-apply.js';
import { createLayerTar } from '../../lib/layers/tar-create.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { overlayFormat, overlayXattrPrefix } from '../../lib/layers/whiteout-overlay.js';
import { encodeHeader, padding, TAR_END } from '../../lib/layers/tar-header.js';
import { UfsError } from '../../lib/errors.js';
import { native } from '../../lib/native.js';
import { FIXTURES, cleanupTemp, collect, diffSnapshots, overlayReady, run, sha256hex, snapshot, tempDir } from './helpers.js';

let fx = '';
let layerDir = '';
beforeAll(async () => {
  fx = await tempDir();
  await run('sh', [path.join(FIXTURES, 'gnu-tar-layer.sh'), fx]);
  layerDir = await tempDir();
  await applyLayerTar(fs.createReadStream(path.join(fx, 'layer.tar')), new DirLayer(layerDir), aufsFormat, { onWarning: () => undefined });
});
afterAll(cleanupTemp);

const markers = Buffer.concat([
  ...[['a/', 'directory'], ['a/.wh.gone', 'file'], ['a/keep', 'file'], ['b/', 'directory'], ['b/.wh..wh..opq', 'file'], ['b/z', 'file'], ['.wh.top', 'file']].map(
    ([name, type]) => encodeHeader({ name: name!, type: type as 'file' | 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_500_000_000 }),
  ),
  TAR_END,
]);

describe('createLayerTar', () => {
  it('gives the same bytes twice, and apply → create is a fixed point with the same diffID', async () => {
    const a = await collect(createLayerTar(new DirLayer(layerDir), aufsFormat));
    const b = await collect(createLayerTar(new DirLayer(layerDir), aufsFormat));
    expect(sha256hex(a)).toBe(sha256hex(b));
    const again = await tempDir();
    const r = await applyLayerTar(Readable.from([a]), new DirLayer(again), aufsFormat, { onWarning: () => undefined });
    expect(r.diffID).toBe(`sha256:${sha256hex(a)}`);
    const opts = { mtimes: true, xattrs: true };
    expect(diffSnapshots(await snapshot(layerDir, opts), await snapshot(again, opts))).toEqual([]);
    const c = await collect(createLayerTar(new DirLayer(again), aufsFormat));
    expect(sha256hex(c)).toBe(sha256hex(a));
  });

  it('is read by GNU tar into the same tree, with hard links as links and sorted names', async () => {
    const tarFile = path.join(await tempDir(), 'out.tar');
    await fsp.writeFile(tarFile, await collect(createLayerTar(new DirLayer(layerDir), aufsFormat)));
    const out = await tempDir();
    await run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-p', '-C', out, '-xf', tarFile]);
    const opts = { mtimes: true, xattrs: true };
    expect(diffSnapshots(await snapshot(layerDir, opts), await snapshot(out, opts))).toEqual([]);
    const { stdout } = await run('tar', ['-tvf', tarFile]);
    expect(stdout).toMatch(/bin\/prog-link link to bin\/prog/);
    const names = (await run('tar', ['-tf', tarFile])).stdout.trim().split('\n');
    expect(names[0]).toBe('./');
    // Each directory's children in byte order, after the directory itself.
    const bin = names.filter((n) => n.startsWith('bin/') && n !== 'bin/');
    expect(bin).toEqual([...bin].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(names.indexOf('bin/')).toBeLessThan(names.indexOf('bin/big'));
    // Normalised fields: no user or group names.
    const raw = await fsp.readFile(tarFile);
    expect(raw.subarray(265, 265 + 64).every((x) => x === 0)).toBe(true);
  });

  it('writes whiteouts as .wh. files and opaque directories as .wh..wh..opq, before their siblings', async () => {
    const dir = await tempDir();
    await applyLayerTar(Readable.from([markers]), new DirLayer(dir), aufsFormat);
    const names = (await collectNames(createLayerTar(new DirLayer(dir), aufsFormat)));
    expect(names).toEqual(['./', '.wh.top', 'a/', 'a/.wh.gone', 'a/keep', 'b/', 'b/.wh..wh..opq', 'b/z']);
  });

  const ov = overlayReady();
  it.skipIf(!ov.ok)(`gives the same bytes for the same layer in the aufs and the overlay format ${ov.why}`, async () => {
    const a = await tempDir();
    const o = await tempDir();
    await applyLayerTar(Readable.from([markers]), new DirLayer(a), aufsFormat);
    await applyLayerTar(Readable.from([markers]), new DirLayer(o), overlayFormat);
    const ta = await collect(createLayerTar(new DirLayer(a), aufsFormat));
    const to = await collect(createLayerTar(new DirLayer(o), overlayFormat));
    expect(sha256hex(to)).toBe(sha256hex(ta));
    expect(await collectNames(Readable.from([to]))).toEqual(['./', '.wh.top', 'a/', 'a/.wh.gone', 'a/keep', 'b/', 'b/.wh..wh..opq', 'b/z']);
  });

  it.skipIf(!ov.ok)(`refuses overlay directories with a redirect (their content lives elsewhere) ${ov.why}`, async () => {
    const o = await tempDir();
    await fsp.mkdir(path.join(o, 'moved'));
    await native()!.lsetxattr(path.join(o, 'moved'), `${overlayXattrPrefix()}redirect`, Buffer.from('/orig'), 0);
    const err = await collect(createLayerTar(new DirLayer(o), overlayFormat)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UfsError);
    expect((err as UfsError).code).toBe('ENOTSUP');
  });

  it('fixed mtime and deterministic gzip (no name, no mtime in the gzip header)', async () => {
    const t1 = await collect(createLayerTar(new DirLayer(layerDir), aufsFormat, { mtime: new Date('2000-01-01T00:00:00Z'), compression: 'gzip' }));
    const t2 = await collect(createLayerTar(new DirLayer(layerDir), aufsFormat, { mtime: new Date('2000-01-01T00:00:00Z'), compression: 'gzip' }));
    expect(sha256hex(t1)).toBe(sha256hex(t2));
    expect([t1[0], t1[1], t1[3]]).toEqual([0x1f, 0x8b, 0]); // FLG: no name, no comment
    expect(t1.readUInt32LE(4)).toBe(0); // MTIME
    const f = path.join(await tempDir(), 'x.tar.gz');
    await fsp.writeFile(f, t1);
    const { stdout } = await run('tar', ['-tvzf', f]);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) expect(l).toMatch(/2000-01-01 00:00/);
  });

  it('names longer than ustar allows and UTF-8 names survive (PAX path records)', async () => {
    const dir = await tempDir();
    const long = `${'d'.repeat(150)}/${'n'.repeat(120)}-é`;
    await fsp.mkdir(path.join(dir, 'd'.repeat(150)));
    await fsp.writeFile(path.join(dir, long), 'x');
    await fsp.symlink('t'.repeat(200), path.join(dir, 'lnk'));
    const tar = await collect(createLayerTar(new DirLayer(dir), aufsFormat));
    const back = await tempDir();
    await applyLayerTar(Readable.from([tar]), new DirLayer(back), aufsFormat);
    expect(await fsp.readFile(path.join(back, long), 'utf8')).toBe('x');
    expect(await fsp.readlink(path.join(back, 'lnk'))).toBe('t'.repeat(200));
    const f = path.join(await tempDir(), 'l.tar');
    await fsp.writeFile(f, tar);
    expect((await run('tar', ['-tf', f])).stdout).toContain(long);
  });
});

async function collectNames(s: Readable): Promise<string[]> {
  const buf = await collect(s);
  const names: string[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii'), 8) || 0;
    names.push(name);
    off += 512 + size + padding(size).length;
  }
  return names;
}
