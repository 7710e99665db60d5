// Layer tars of trees deeper than PATH_MAX: createLayerTar reads such a tree and applyLayerTar writes
// it back (both go through Layer, whose paths lib/long-path.ts shortens), with a whiteout and a
// symlink at the bottom; GNU tar reads the same stream (the long names travel in PAX headers).
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { createLayerTar } from '../../lib/layers/tar-create.js';
import { applyLayerTar } from '../../lib/layers/tar-apply.js';
import { overlayFormat } from '../../lib/layers/whiteout-overlay.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';

const made: string[] = [];
afterAll(() => {
  // rm -r of a tree deeper than PATH_MAX: GNU rm walks it with *at() calls
  for (const d of made) execFileSync('rm', ['-rf', d]);
});

/** 24 nested 200-byte names: 4,824 bytes below the layer root, more than PATH_MAX (4,096). */
const COMPS = Array.from({ length: 24 }, (_, i) => String(i).padStart(2, '0') + 'p'.repeat(198));
const DEEP = COMPS.join('/');

async function readAll(layer: DirLayer, rel: string): Promise<string> {
  const h = await layer.open(rel, fs.constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(1024);
    const n = await h.read(buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString();
  } finally {
    await h.close();
  }
}

describe('layer tars deeper than PATH_MAX', () => {
  for (const format of [overlayFormat, aufsFormat]) {
    it(`${format.name} format: created, read by GNU tar, applied back`, async () => {
      const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-lptar-'));
      made.push(base);
      const src = new DirLayer(path.join(base, 'src'));
      await fsp.mkdir(src.root);
      let rel = '';
      for (const c of COMPS) {
        rel = rel ? `${rel}/${c}` : c;
        await src.mkdir(rel, 0o755);
      }
      const h = await src.open(`${DEEP}/leaf.txt`, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o640);
      await h.write(Buffer.from('deep bytes\n'), 0, 11, 0);
      await h.close();
      await src.symlink('leaf.txt', `${DEEP}/ln`);
      await format.makeWhiteout(src, DEEP, 'gone');
      expect(Buffer.byteLength(src.real(`${DEEP}/leaf.txt`))).toBeGreaterThan(4096);

      const tar = await buffer(createLayerTar(src, format));
      const listing = execFileSync('tar', ['-tvf', '-'], { input: tar, maxBuffer: 1 << 26 }).toString();
      expect(listing).toContain(`${DEEP}/leaf.txt`);
      expect(listing).toContain(`${DEEP}/ln -> leaf.txt`);
      expect(listing).toContain(`${DEEP}/.wh.gone`);               // OCI whiteout in the tar

      const dst = new DirLayer(path.join(base, 'dst'));
      await fsp.mkdir(dst.root);
      await applyLayerTar(Readable.from([tar]), dst, format);
      expect(await readAll(dst, `${DEEP}/leaf.txt`)).toBe('deep bytes\n');
      expect((await dst.lstat(`${DEEP}/leaf.txt`)).mode & 0o7777).toBe(0o640);
      expect(await dst.readlink(`${DEEP}/ln`)).toBe('leaf.txt');
      expect(await format.isWhiteoutEntry(dst, `${DEEP}/${format.name === 'aufs' ? '.wh.gone' : 'gone'}`,
        { name: format.name === 'aufs' ? '.wh.gone' : 'gone', type: format.name === 'aufs' ? fs.constants.S_IFREG : fs.constants.S_IFCHR })).toBe(true);
    });
  }
});
