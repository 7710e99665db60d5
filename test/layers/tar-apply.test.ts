// applyLayerTar against GNU tar: the same tree as `tar -x` for plain, gzip and zstd layers, digests
// as sha256sum computes them, whiteouts in both formats, rootfs mode, duplicates, digest checks.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayerTar } from '../../lib/layers/tar-apply.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { overlayFormat } from '../../lib/layers/whiteout-overlay.js';
import { encodeHeader, padding, TAR_END, type TarHeader } from '../../lib/layers/tar-header.js';
import { UfsError } from '../../lib/errors.js';
import { native } from '../../lib/native.js';
import { FIXTURES, cleanupTemp, diffSnapshots, isRoot, overlayReady, run, sha256hex, snapshot, tempDir } from './helpers.js';

/** Without the native addon there is no mknod: fifos and device nodes are skipped (with a warning). */
function withoutSpecials(snap: Record<string, string>): Record<string, string> {
  if (native()) return snap;
  return Object.fromEntries(Object.entries(snap).filter(([, v]) => !/^(fifo|chr|blk) /.test(v)));
}

let fx = '';
beforeAll(async () => {
  fx = await tempDir();
  await run('sh', [path.join(FIXTURES, 'gnu-tar-layer.sh'), fx]);
});
afterAll(cleanupTemp);

/** A tar built entry by entry (for whiteouts and odd cases GNU tar cannot be asked for). */
function tarOf(entries: (Partial<TarHeader> & { name: string; body?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const type = e.type ?? (e.name.endsWith('/') ? 'directory' : 'file');
    parts.push(encodeHeader({ mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 1_000_000_000, ...e, type, size: type === 'file' ? body.length : 0 }));
    if (type === 'file') parts.push(body, padding(body.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function applyBuf(buf: Buffer, format = aufsFormat, opts: Parameters<typeof applyLayerTar>[3] = {}): Promise<{ dir: string; r: Awaited<ReturnType<typeof applyLayerTar>> }> {
  const dir = await tempDir();
  const r = await applyLayerTar(Readable.from([buf]), new DirLayer(dir), format, { onWarning: () => undefined, ...opts });
  return { dir, r };
}

describe('applyLayerTar with GNU tar layers', () => {
  for (const file of ['layer.tar', 'layer.tar.gz', 'layer.tar.zst']) {
    it(`${file}: the same tree as tar -x, and the digests sha256sum gives`, async () => {
      const dir = await tempDir();
      const warnings: string[] = [];
      const r = await applyLayerTar(fs.createReadStream(path.join(fx, file)), new DirLayer(dir), aufsFormat, { onWarning: (w) => warnings.push(w) });
      const opts = { mtimes: true, xattrs: true };
      const ref = withoutSpecials(await snapshot(path.join(fx, 'ref'), opts));
      const diffs = diffSnapshots(ref, await snapshot(dir, opts));
      expect(diffs).toEqual([]);
      if (!native()) expect(warnings.join('\n')).toMatch(/skipped fifo/);
      expect(r.diffID).toBe(`sha256:${sha256hex(await fsp.readFile(path.join(fx, 'layer.tar')))}`);
      expect(r.digest).toBe(`sha256:${sha256hex(await fsp.readFile(path.join(fx, file)))}`);
      expect(r.compression).toBe(file.endsWith('.gz') ? 'gzip' : file.endsWith('.zst') ? 'zstd' : 'none');
      expect(r.size).toBe((await fsp.stat(path.join(fx, 'layer.tar'))).size);
      // File data: the 300000-byte file counted once (its hard link shares it), plus the small ones.
      expect(r.dataSize).toBeGreaterThan(300000);
      expect(r.dataSize).toBeLessThan(301000);
      // Hard links stay hard links inside the layer.
      const a = await fsp.stat(path.join(dir, 'bin/prog'));
      const b = await fsp.stat(path.join(dir, 'bin/prog-link'));
      expect(a.ino).toBe(b.ino);
    });
  }

  it('verifies expected digests: a wrong diffID or blob digest fails with EINTEGRITY', async () => {
    const wrong = `sha256:${'0'.repeat(64)}` as const;
    for (const [file, opts] of [['layer.tar.gz', { expectDiffID: wrong }], ['layer.tar.gz', { expectDigest: wrong }], ['layer.tar', { expectDiffID: wrong }]] as const) {
      const dir = await tempDir();
      const err = await applyLayerTar(fs.createReadStream(path.join(fx, file)), new DirLayer(dir), aufsFormat, { ...opts, onWarning: () => undefined }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UfsError);
      expect((err as UfsError).code).toBe('EINTEGRITY');
    }
    const good = `sha256:${sha256hex(await fsp.readFile(path.join(fx, 'layer.tar')))}` as const;
    const dir = await tempDir();
    const r = await applyLayerTar(fs.createReadStream(path.join(fx, 'layer.tar.zst')), new DirLayer(dir), aufsFormat, { expectDiffID: good, onWarning: () => undefined });
    expect(r.diffID).toBe(good);
  });

  it('refuses corrupt and truncated compressed data with EBADMSG, and xz with ENOTSUP', async () => {
    const gz = await fsp.readFile(path.join(fx, 'layer.tar.gz'));
    const zst = await fsp.readFile(path.join(fx, 'layer.tar.zst'));
    const corrupt = Buffer.from(gz);
    for (let i = 200; i < 260; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    for (const bad of [gz.subarray(0, gz.length - 100), corrupt, zst.subarray(0, zst.length - 50), Buffer.concat([zst.subarray(0, 40), Buffer.alloc(64, 7)])]) {
      const err = await applyBuf(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UfsError);
      expect((err as UfsError).code).toBe('EBADMSG');
    }
    const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]);
    expect(((await applyBuf(xz).catch((e: unknown) => e)) as UfsError).code).toBe('ENOTSUP');
    const plain = await fsp.readFile(path.join(fx, 'layer.tar'));
    expect(((await applyBuf(plain.subarray(0, 5000)).catch((e: unknown) => e)) as UfsError).code).toBe('EBADMSG');
    expect(((await applyBuf(Buffer.alloc(0)).catch((e: unknown) => e)) as UfsError).code).toBe('EBADMSG');
  });
});

describe('whiteouts and opaque markers', () => {
  const layer = tarOf([
    { name: 'a/' },
    { name: 'a/.wh.gone' },
    { name: 'a/kept', body: 'k' },
    { name: 'b/' },
    { name: 'b/.wh..wh..opq' },
    { name: 'b/new', body: 'n' },
    { name: 'c/sub/.wh.x' }, // parents the archive never names are created
    { name: '.wh.topfile' },
    { name: 'a/.wh..wh.plnk' }, // aufs metadata: ignored
  ]);

  it('aufs: .wh. files and .wh..wh..opq stay as markers', async () => {
    const { dir, r } = await applyBuf(layer);
    expect(fs.existsSync(path.join(dir, 'a/.wh.gone'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'b/.wh..wh..opq'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'c/sub/.wh.x'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '.wh.topfile'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'a/.wh..wh.plnk'))).toBe(false);
    const info = await aufsFormat.readDir(new DirLayer(dir), 'b');
    expect(info.opaque).toBe(true);
    expect([...info.entries.keys()]).toEqual(['new']);
    expect(r.entries).toBe(9);
  });

  const ov = overlayReady();
  it.skipIf(!ov.ok)(`overlay: 0/0 character devices and the opaque xattr ${ov.why}`, async () => {
    const { dir } = await applyBuf(layer, overlayFormat);
    const st = await fsp.lstat(path.join(dir, 'a/gone'));
    expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
    expect(fs.existsSync(path.join(dir, 'a/.wh.gone'))).toBe(false);
    const l = new DirLayer(dir);
    expect((await overlayFormat.readDir(l, 'b')).opaque).toBe(true);
    expect((await overlayFormat.readDir(l, 'a')).whiteouts).toEqual(new Set(['gone']));
    expect((await overlayFormat.readDir(l, '')).whiteouts).toEqual(new Set(['topfile']));
  });

  it('a whiteout and an entry of the same name in one layer: the entry stays, a directory turns opaque', async () => {
    // OCI: whiteouts apply to lower layers only; the directory of this layer replaces the lower one.
    const t = tarOf([{ name: '.wh.d' }, { name: 'd/' }, { name: 'd/f', body: 'x' }, { name: 'f', body: 'y' }, { name: '.wh.f' }]);
    const { dir } = await applyBuf(t);
    const info = await aufsFormat.readDir(new DirLayer(dir), '');
    expect([...info.entries.keys()].sort()).toEqual(['d', 'f']);
    expect(info.whiteouts.size).toBe(0);
    expect((await aufsFormat.readDir(new DirLayer(dir), 'd')).opaque).toBe(true);
  });

  it("target 'rootfs' applies deletions to the tree below instead of keeping markers", async () => {
    const dir = await tempDir();
    await fsp.mkdir(path.join(dir, 'a'));
    await fsp.writeFile(path.join(dir, 'a/gone'), 'old');
    await fsp.mkdir(path.join(dir, 'b/deep'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'b/deep/old'), 'old');
    await fsp.writeFile(path.join(dir, 'topfile'), 'old');
    await applyLayerTar(Readable.from([layer]), new DirLayer(dir), aufsFormat, { target: 'rootfs', onWarning: () => undefined });
    const snap = await snapshot(dir, { owners: false });
    expect(Object.keys(snap).sort()).toEqual(['.', 'a', 'a/kept', 'b', 'b/new', 'c', 'c/sub']);
  });
});

describe('entry semantics', () => {
  it('a later entry replaces an earlier one (OCI "changeset over existing files"); onDuplicate "error" refuses it', async () => {
    const t = tarOf([{ name: 'x', body: 'first' }, { name: 'd/' }, { name: 'd/f', body: '1' }, { name: 'x', body: 'second' }, { name: 'd', type: 'symlink', linkname: 'x' }]);
    const { dir } = await applyBuf(t);
    expect(await fsp.readFile(path.join(dir, 'x'), 'utf8')).toBe('second');
    expect(await fsp.readlink(path.join(dir, 'd'))).toBe('x');
    const err = await applyBuf(t, aufsFormat, { onDuplicate: 'error' }).catch((e: unknown) => e);
    expect((err as UfsError).code).toBe('EEXIST');
    // Directories named twice merge (their attributes are the later ones).
    const d2 = await applyBuf(tarOf([{ name: 'd/', mode: 0o700 }, { name: 'd/f', body: '1' }, { name: 'd/', mode: 0o750 }]), aufsFormat, { onDuplicate: 'error' });
    expect((await fsp.stat(path.join(d2.dir, 'd'))).mode & 0o7777).toBe(0o750);
    expect(fs.existsSync(path.join(d2.dir, 'd/f'))).toBe(true);
  });

  it('keeps binary xattr values from PAX records intact', async () => {
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00]);
    const t = tarOf([{ name: 'f', body: 'x', xattrs: new Map([['user.bin', value]]) }]);
    const { dir } = await applyBuf(t);
    const { native } = await import('../../lib/native.js');
    const n = native();
    if (n) expect(await n.lgetxattr(path.join(dir, 'f'), 'user.bin')).toEqual(value);
    else expect(fs.existsSync(path.join(dir, 'f'))).toBe(true);
  });

  it('drops xattrs reserved for the whiteout formats (a tar cannot smuggle an opaque flag)', async () => {
    const warnings: string[] = [];
    const t = tarOf([{ name: 'd/', xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')], ['user.overlay.opaque', Buffer.from('y')]]) }]);
    const dir = await tempDir();
    await applyLayerTar(Readable.from([t]), new DirLayer(dir), aufsFormat, { onWarning: (w) => warnings.push(w) });
    expect((await overlayFormat.readDir(new DirLayer(dir), 'd')).opaque).toBe(false);
    expect(warnings.join()).toMatch(/reserved/);
  });

  it('device nodes: created as root, skipped with one warning when devices are off', async () => {
    const t = tarOf([{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'zero', type: 'character-device', devmajor: 1, devminor: 5 }]);
    const warnings: string[] = [];
    const { dir } = await applyBuf(t, aufsFormat, { devices: false, onWarning: (w) => warnings.push(w) });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(warnings).toHaveLength(1);
    if (isRoot && native()) {
      const { dir: d2 } = await applyBuf(t, aufsFormat, { devices: true });
      const st = await fsp.lstat(path.join(d2, 'null'));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe((1 << 8) | 3);
    }
  });
});
