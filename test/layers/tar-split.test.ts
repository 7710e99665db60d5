// Tar-split: layer tars made by GNU tar (gnu, pax, ustar formats; long names, PAX and global headers,
// hard links, symlinks, empty and hole-filled files, trailing zero blocks), by umoci and by hand (base-256
// sizes, PAX size overrides) come back byte for byte, through the recorder alone and through a store of
// every driver; the records live and die with their layers; a tampered layer fails with EINTEGRITY.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Store } from '../../lib/store/store.js';
import type { LayerRecord } from '../../lib/store/meta.js';
import { TarSplitRecorder, readTarSplit, reassemble, normalizeTarPath } from '../../lib/layers/tar-split.js';
import { tarSplitDir, tarSplitFile } from '../../lib/store/tar-split-files.js';
import { importFrom } from '../../lib/layers/image-transfer.js';
import { OciLayout } from '../../lib/layers/oci-layout.js';
import { chainIDs, sha256 } from '../../lib/layers/digest.js';
import { UfsError } from '../../lib/errors.js';
import { FIXTURES, cleanupTemp, collect, haveCmd, overlayReady, run, tempDir } from './helpers.js';

const BLOCK = 512;
const noOverlay = overlayReady().ok ? false : `overlay: ${overlayReady().why}`;
const DRIVERS: { name: string; label: string; skip: string | false; kernelMount?: boolean }[] = [
  { name: 'vfs', label: 'vfs', skip: false },
  { name: 'aufs', label: 'aufs', skip: false },
  { name: 'overlay', label: 'overlay', skip: noOverlay },
  // Views that are kernel overlay mounts: files are read from the mounted directory, not a UnionFs.
  { name: 'overlay', label: 'overlay (kernel mounts)', skip: noOverlay, kernelMount: true },
  { name: 'memory', label: 'memory', skip: false },
];
const umociTools = haveCmd('umoci');

/** Records `tar` and reassembles it from the files under `dir`; returns the rebuilt bytes (or why not). */
async function roundTrip(tar: Buffer, dir: string): Promise<Buffer | string> {
  const rec = new TarSplitRecorder();
  const passed: Buffer[] = [];
  await pipeline(Readable.from([tar]), rec, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) passed.push(c);
  });
  expect(Buffer.concat(passed).equals(tar)).toBe(true); // a pass-through: the bytes flow on unchanged
  const r = await rec.finish(sha256(tar));
  if (!r.ok) return r.reason;
  expect(r.summary).toMatchObject({ size: tar.length, digest: sha256(tar) });
  return collect(reassemble(await readTarSplit(r.record), (p) => fs.createReadStream(path.join(dir, p))));
}

function gnuTar(src: string, out: string, ...opts: string[]): Promise<unknown> {
  return run('tar', [...opts, '--numeric-owner', '-C', src, '-cf', out, '.']);
}

/** A ustar block with a valid checksum (for hand-made archives). */
function ustarBlock(name: string, typeflag: string, size: number | Buffer): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  if (Buffer.isBuffer(size)) size.copy(b, 124);
  else b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write('14000000000\0', 136);
  b.write(typeflag, 156);
  b.write('ustar\0' + '00', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function pad(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

let kit = '';
const kitTars: Record<string, Buffer> = {};

beforeAll(async () => {
  // A tree of everything a layer tar may hold.
  kit = await tempDir('ufs-tarsplit-');
  const s = path.join(kit, 'src');
  const long = 'd'.repeat(120);
  await fsp.mkdir(path.join(s, long, 'sub'), { recursive: true });
  await fsp.mkdir(path.join(s, 'etc'), { recursive: true });
  await fsp.writeFile(path.join(s, long, 'sub', 'f'.repeat(110)), 'long name\n');
  for (const n of [0, 1, 511, 512, 513, 1024, 70001]) await fsp.writeFile(path.join(s, 'etc', `size-${n}`), Buffer.alloc(n, n % 251));
  await fsp.writeFile(path.join(s, 'etc', 'na\u00efve-\u4e2d.txt'), 'utf8\n');
  await fsp.writeFile(path.join(s, 'etc', 'empty'), '');
  // A file with a hole (read as zeros: tar stores them, there is no --sparse here).
  const holes = await fsp.open(path.join(s, 'etc', 'holes'), 'w');
  await holes.write('start', 0);
  await holes.write('end', 300_000);
  await holes.close();
  await fsp.link(path.join(s, 'etc', 'size-513'), path.join(s, 'etc', 'hard'));
  await fsp.link(path.join(s, long, 'sub', 'f'.repeat(110)), path.join(s, 'g'.repeat(105)));
  await fsp.symlink('size-1', path.join(s, 'etc', 'sym'));
  await fsp.symlink(`../${'t'.repeat(140)}/target`, path.join(s, 'etc', 'long-sym'));
  // ustar can split names of up to 255 bytes into prefix + name: a tree of those only.
  const u = path.join(kit, 'ustar');
  const mid = path.join(u, 'p'.repeat(80), 'q'.repeat(60));
  await fsp.mkdir(mid, { recursive: true });
  await fsp.writeFile(path.join(mid, 'r'.repeat(90)), 'prefixed\n');
  await fsp.writeFile(path.join(u, 'short'), 'x');
  const out = (n: string): string => path.join(kit, n);
  await gnuTar(s, out('gnu.tar'), '--format=gnu');
  await gnuTar(s, out('pax.tar'), '--format=pax');
  await gnuTar(s, out('pax-global.tar'), '--format=pax', '--pax-option=comment=made for ufs');
  await gnuTar(u, out('ustar.tar'), '--format=ustar');
  await gnuTar(s, out('gnu-b1.tar'), '--format=gnu', '--blocking-factor=1');
  for (const n of ['gnu', 'pax', 'pax-global', 'ustar', 'gnu-b1']) kitTars[n] = await fsp.readFile(out(`${n}.tar`));
  // Zero blocks beyond the end marker (and beyond tar's own record padding).
  kitTars['trailing-zeros'] = Buffer.concat([kitTars['gnu-b1']!, Buffer.alloc(5 * BLOCK)]);
}, 60_000);
afterAll(cleanupTemp);

describe('the recorder and the reassembler alone', () => {
  it('rebuild GNU tar archives byte for byte (gnu, pax, pax with a global header, ustar, trailing zeros)', async () => {
    for (const [name, tar] of Object.entries(kitTars)) {
      const got = await roundTrip(tar, path.join(kit, name === 'ustar' ? 'ustar' : 'src'));
      expect(Buffer.isBuffer(got), `${name}: ${String(got)}`).toBe(true);
      expect((got as Buffer).equals(tar), name).toBe(true);
    }
    // The gnu archive has 'L' and 'K' blocks, the pax one 'x' records, the global one a 'g' block.
    expect(kitTars.gnu!.includes('././@LongLink')).toBe(true);
    expect(kitTars.pax!.includes(' path=')).toBe(true);
    expect(kitTars['pax-global']!.includes('comment=made for ufs')).toBe(true);
  });

  it('keep trailing bytes that are not a whole block, and refer to files by normalised paths', async () => {
    const tar = Buffer.concat([kitTars['gnu-b1']!, Buffer.from('tail')]);
    const got = await roundTrip(tar, path.join(kit, 'src'));
    expect(Buffer.isBuffer(got) && got.equals(tar)).toBe(true);
    expect(normalizeTarPath('./a//b/./c')).toBe('a/b/c');
    expect(normalizeTarPath('/abs/x')).toBe('abs/x');
    expect(normalizeTarPath('./')).toBe('');
  });

  it('read base-256 sizes and PAX size overrides', async () => {
    const data = Buffer.alloc(700, 7);
    const b256 = Buffer.alloc(12);
    b256[0] = 0x80;
    b256.writeUInt32BE(700, 8);
    const dir = await tempDir('ufs-tarsplit-');
    await fsp.writeFile(path.join(dir, 'big256'), data);
    await fsp.writeFile(path.join(dir, 'paxsize'), data);
    const pax = Buffer.from(paxRecord('size', '700'));
    const tar = Buffer.concat([
      ustarBlock('big256', '0', b256), data, pad(700),
      ustarBlock('PaxHeaders/paxsize', 'x', pax.length), pax, pad(pax.length),
      ustarBlock('paxsize', '0', 0), data, pad(700),
      Buffer.alloc(2 * BLOCK),
    ]);
    const got = await roundTrip(tar, dir);
    expect(Buffer.isBuffer(got) && got.equals(tar)).toBe(true);
  });

  it('give up (no record) on what they cannot rebuild: a file replaced later in the archive, a broken header', async () => {
    const a = await tempDir('ufs-tarsplit-');
    const b = await tempDir('ufs-tarsplit-');
    await fsp.writeFile(path.join(a, 'same'), 'first');
    await fsp.writeFile(path.join(b, 'same'), 'second!');
    await run('tar', ['-C', a, '-cf', path.join(a, 'dup.tar'), 'same', '-C', b, 'same']);
    expect(await roundTrip(await fsp.readFile(path.join(a, 'dup.tar')), b)).toMatch(/replaced by a later entry/);
    const broken = Buffer.from(kitTars.gnu!);
    broken[148] = 0x37; // the first header's checksum
    expect(await roundTrip(broken, path.join(kit, 'src'))).toMatch(/checksum/);
  });

  it('fail with EINTEGRITY when a file has other bytes than recorded, and EBADMSG on a corrupt record', async () => {
    const tar = kitTars.gnu!;
    const rec = new TarSplitRecorder();
    await pipeline(Readable.from([tar]), rec, async (src: AsyncIterable<Buffer>) => {
      for await (const _ of src) { /* drain */ }
    });
    const r = await rec.finish(sha256(tar));
    if (!r.ok) throw new Error(r.reason);
    const longer = reassemble(await readTarSplit(r.record), (p) => Readable.from([Buffer.concat([fs.readFileSync(path.join(kit, 'src', p)), Buffer.from('x')])]));
    await expect(collect(longer)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    const shorter = reassemble(await readTarSplit(r.record), (p) => Readable.from([fs.readFileSync(path.join(kit, 'src', p)).subarray(1)]));
    await expect(collect(shorter)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    const body = zlib.gunzipSync(r.record).toString('utf8').split('\n');
    const cut = zlib.gzipSync(body.slice(0, -3).join('\n') + '\n');
    const truncated = reassemble(await readTarSplit(cut), (p) => fs.createReadStream(path.join(kit, 'src', p)));
    await expect(collect(truncated)).rejects.toMatchObject({ code: 'EBADMSG' });
    await expect(readTarSplit(Buffer.from('not gzip'))).rejects.toMatchObject({ code: 'EBADMSG' });
  });
});

async function importTar(st: Store, tar: Buffer, parent: string | null = null): Promise<LayerRecord> {
  return st.createLayer(parent, Readable.from([tar]));
}

describe.each(DRIVERS)('through a $label store', ({ name, skip, kernelMount }) => {
  let st: Store;
  beforeAll(async () => {
    if (skip) return;
    st = await Store.open({ root: path.join(await tempDir('ufs-tarsplit-store-'), 'store'), driver: name, ...(kernelMount ? { driverOptions: { kernelMount } } : {}) });
  });
  afterAll(async () => st?.close());

  it.skipIf(skip)('layerTar gives back the GNU tar archives byte for byte (and compressed inputs their tar)', async () => {
    for (const [n, tar] of Object.entries(kitTars)) {
      const l = await importTar(st, tar);
      expect(l.diffID, n).toBe(sha256(tar));
      const back = await collect(await st.layerTar(l.chainID));
      expect(back.equals(tar), n).toBe(true);
    }
    const gz = await st.createLayer(null, Readable.from([zlib.gzipSync(kitTars.pax!)]));
    expect((await collect(await st.layerTar(gz.chainID))).equals(kitTars.pax!)).toBe(true);
    expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
  }, 120_000);

  it.skipIf(skip)('property: random trees archived by GNU tar (gnu and pax formats) come back byte for byte', async () => {
    const entry = fc.record({
      dir: fc.constantFrom('', 'a', 'a/b', 'c', 'c/' + 'n'.repeat(100)),
      name: fc.oneof(fc.stringMatching(/^[a-z0-9_-]{1,10}$/), fc.integer({ min: 95, max: 160 }).map((n) => 'l'.repeat(n))),
      kind: fc.constantFrom('file', 'file', 'file', 'zeros', 'symlink', 'hardlink', 'dir'),
      size: fc.oneof(fc.constantFrom(0, 1, 511, 512, 513, 1024, 10240), fc.integer({ min: 0, max: 70_000 })),
      seed: fc.integer({ min: 0, max: 255 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 3 }), async (entries, extraZeros) => {
        const base = await tempDir('ufs-tarsplit-prop-');
        const src = path.join(base, 'src');
        await fsp.mkdir(src);
        const files: string[] = [];
        for (const e of entries) {
          const rel = e.dir ? `${e.dir}/${e.name}` : e.name;
          const full = path.join(src, rel);
          try {
            await fsp.mkdir(path.dirname(full), { recursive: true });
            if (fs.existsSync(full)) continue;
            if (e.kind === 'dir') await fsp.mkdir(full);
            else if (e.kind === 'symlink') await fsp.symlink('x'.repeat(e.seed % 2 ? 150 : 5), full);
            else if (e.kind === 'hardlink' && files.length) await fsp.link(path.join(src, files[e.seed % files.length]!), full);
            else if (e.kind === 'zeros') {
              await fsp.writeFile(full, '');
              await fsp.truncate(full, e.size);
              files.push(rel);
            } else {
              await fsp.writeFile(full, Buffer.from(Array.from({ length: e.size }, (_, i) => (i * 31 + e.seed) & 0xff)));
              files.push(rel);
            }
          } catch {
            // A name taken by a file on the way (a file where a directory would go): leave it out.
          }
        }
        for (const format of ['gnu', 'pax']) {
          const out = path.join(base, `${format}.tar`);
          await gnuTar(src, out, `--format=${format}`, '--blocking-factor=1');
          const tar = Buffer.concat([await fsp.readFile(out), Buffer.alloc(extraZeros * BLOCK)]);
          const l = await importTar(st, tar);
          expect(l.diffID).toBe(sha256(tar));
          expect((await collect(await st.layerTar(l.chainID))).equals(tar)).toBe(true);
        }
        await fsp.rm(base, { recursive: true, force: true });
      }),
      { numRuns: Number(process.env.UFS_FUZZ_RUNS ?? 12) },
    );
  }, 300_000);

  it.skipIf(skip || !umociTools)('layerTar gives back umoci\'s and the fixture script\'s layer tars byte for byte', async () => {
    const fx = await tempDir('ufs-tarsplit-umoci-');
    await run('sh', [path.join(FIXTURES, 'umoci-image.sh'), fx]);
    const layout = await OciLayout.open(path.join(fx, 'img'));
    const img = await layout.readImage(await layout.resolve('test'));
    const r = await importFrom(st, path.join(fx, 'img'), { ref: 'test', tags: ['umoci/test:1'] });
    expect(r.layersImported).toBe(3);
    const chains = chainIDs(img.config.rootfs.diff_ids);
    for (const [i, desc] of img.manifest!.layers.entries()) {
      const blob = await layout.readBlob(desc, 64 << 20);
      const want = desc.mediaType.endsWith('gzip') ? zlib.gunzipSync(blob) : blob;
      expect((await collect(await st.layerTar(chains[i]!))).equals(want), `layer ${i + 1}`).toBe(true);
    }
    const gx = await tempDir('ufs-tarsplit-gnu-');
    await run('sh', [path.join(FIXTURES, 'gnu-tar-layer.sh'), gx]);
    const want = await fsp.readFile(path.join(gx, 'layer.tar'));
    for (const f of ['layer.tar.zst', 'layer.tar.gz', 'layer.tar']) {
      const l = await st.createLayer(null, fs.createReadStream(path.join(gx, f)));
      expect(l.diffID).toBe(sha256(want));
      expect((await collect(await st.layerTar(l.chainID))).equals(want), f).toBe(true);
    }
  }, 120_000);
});

/** Where a layer's file lies on disk in a vfs or aufs store. */
async function layerFile(st: Store, chainID: string, rel: string): Promise<string> {
  const l = await st.layer(chainID);
  const dir = (await st.driver.metadata(l.cacheID)).Dir!;
  return path.join(dir, st.driver.name === 'vfs' ? 'tree' : 'diff', rel);
}

describe.each(['vfs', 'aufs'])('records in a %s store', (driver) => {
  let st: Store;
  let root: string;
  beforeAll(async () => {
    root = path.join(await tempDir('ufs-tarsplit-rec-'), 'store');
    st = await Store.open({ root, driver });
  });
  afterAll(async () => st?.close());

  it('a changed file of the layer fails layerTar with EINTEGRITY (same size: at the end; other size: at once)', async () => {
    const l = await importTar(st, kitTars.pax!);
    const file = await layerFile(st, l.chainID, 'etc/size-1024');
    const orig = await fsp.readFile(file);
    const flipped = Buffer.from(orig);
    flipped[100] = flipped[100]! ^ 0xff;
    await fsp.writeFile(file, flipped);
    const e1 = await collect(await st.layerTar(l.chainID)).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UfsError);
    expect((e1 as UfsError).code).toBe('EINTEGRITY');
    await fsp.writeFile(file, orig.subarray(1));
    const e2 = await collect(await st.layerTar(l.chainID)).catch((e: unknown) => e);
    expect((e2 as UfsError).code).toBe('EINTEGRITY');
    await fsp.writeFile(file, orig);
    expect((await collect(await st.layerTar(l.chainID))).equals(kitTars.pax!)).toBe(true);
    // Every view was released: the layer can go, and its record with it.
    expect(fs.existsSync(tarSplitFile(root, l.chainID))).toBe(true);
    await st.removeLayer(l.chainID);
    expect(fs.existsSync(tarSplitFile(root, l.chainID))).toBe(false);
  });

  it('records only imported tars, go with their layers (remove, image GC), and come back for a layer that lacked one', async () => {
    const dirLayer = await st.createLayerFromDir(path.join(kit, 'ustar'));
    expect(fs.existsSync(tarSplitFile(root, dirLayer.chainID))).toBe(false);
    const base = await importTar(st, kitTars.gnu!);
    const top = await importTar(st, kitTars.ustar!, base.chainID);
    const rec = tarSplitFile(root, top.chainID);
    expect(fs.existsSync(rec)).toBe(true);
    // A layer without a record (as in a store of an older ufs) gains one when imported again.
    await fsp.rm(rec);
    expect((await importTar(st, kitTars.ustar!, base.chainID)).chainID).toBe(top.chainID);
    expect(fs.existsSync(rec)).toBe(true);
    expect((await collect(await st.layerTar(top.chainID))).equals(kitTars.ustar!)).toBe(true);
    await st.createImage('rec/img', [base.chainID, top.chainID]);
    const gone = await st.removeImage('rec/img');
    expect(gone.layersRemoved).toEqual([top.chainID, base.chainID]);
    expect((await fsp.readdir(tarSplitDir(root))).filter((n) => !n.startsWith('.'))).toEqual([]);
    await st.removeLayer(dirLayer.chainID);
  });

  it('check reports orphan records and temp files, and repair removes them', async () => {
    const l = await importTar(st, kitTars.gnu!);
    const orphan = sha256('no such layer');
    await fsp.copyFile(tarSplitFile(root, l.chainID), tarSplitFile(root, orphan));
    await fsp.writeFile(path.join(tarSplitDir(root), '.tmp-half-written'), 'x');
    const report = await st.check();
    expect(report.ok).toBe(false);
    expect(report.leftovers.map((x) => x.kind).sort()).toEqual(['orphan-tar-split', 'temp-file']);
    expect(report.leftovers.find((x) => x.kind === 'orphan-tar-split')?.path).toBe(orphan);
    expect((await st.check({ repair: true })).ok).toBe(true);
    expect((await fsp.readdir(tarSplitDir(root))).sort()).toEqual([path.basename(tarSplitFile(root, l.chainID))]);
    await st.removeLayer(l.chainID);
  });

  it('a tar that replaces a file of its own gets no record: layerTar falls back to ufs\'s own bytes', async () => {
    const a = await tempDir('ufs-tarsplit-');
    const b = await tempDir('ufs-tarsplit-');
    await fsp.writeFile(path.join(a, 'same'), 'first');
    await fsp.writeFile(path.join(b, 'same'), 'second!');
    await run('tar', ['-C', a, '-cf', path.join(a, 'dup.tar'), 'same', '-C', b, 'same']);
    const l = await importTar(st, await fsp.readFile(path.join(a, 'dup.tar')));
    expect(fs.existsSync(tarSplitFile(root, l.chainID))).toBe(false);
    const v = await collect(await st.layerTar(l.chainID));
    expect(v.includes('second!')).toBe(true);
    expect(sha256(v)).not.toBe(l.diffID);
    await st.removeLayer(l.chainID);
  });
});

describe('migrate', () => {
  it('keeps the records valid: after aufs -> vfs (-> overlay), layerTar gives the same bytes', async () => {
    const root = path.join(await tempDir('ufs-tarsplit-mig-'), 'store');
    const st = await Store.open({ root, driver: 'aufs' });
    try {
      const base = await importTar(st, kitTars.pax!);
      const top = await importTar(st, kitTars['pax-global']!, base.chainID);
      await st.migrate('vfs');
      expect(st.driver.name).toBe('vfs');
      expect((await collect(await st.layerTar(base.chainID))).equals(kitTars.pax!)).toBe(true);
      expect((await collect(await st.layerTar(top.chainID))).equals(kitTars['pax-global']!)).toBe(true);
      if (overlayReady().ok) {
        await st.migrate('overlay');
        expect((await collect(await st.layerTar(top.chainID))).equals(kitTars['pax-global']!)).toBe(true);
      }
      expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
    } finally {
      await st.close();
    }
  }, 60_000);
});
