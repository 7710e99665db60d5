// The store's tar-split records: <root>/tar-split/<chainID hex>.jsonl.gz, written atomically beside the
// metadata, and a layer's original tar reassembled from its record and a view of the layer, verified.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable, type TransformCallback } from 'node:stream';
import type { Driver, View } from '../drivers/driver.js';
import { DigestStream, parseDigest, type Digest } from '../layers/digest.js';
import { readTarSplit, reassemble, TarSplitRecorder, type OpenContent } from '../layers/tar-split.js';
import { badData, decompressor, detectCompression, peek } from '../layers/compression.js';
import { fsError, isErrno } from '../errors.js';
import { TEMP_PREFIX, writeFileAtomic } from './atomic.js';
import type { LayerRecord } from './meta.js';
import { crashPoint } from './crash.js';

const DIR = 'tar-split';
const SUFFIX = '.jsonl.gz';
/** <hex>.jsonl.gz: sha256 chainIDs (a base layer's is its diffID, which may be sha512). */
const NAME_RE = /^([0-9a-f]{64}|[0-9a-f]{128})\.jsonl\.gz$/;

export function tarSplitDir(root: string): string {
  return path.join(root, DIR);
}

export function tarSplitFile(root: string, chainID: Digest): string {
  return path.join(tarSplitDir(root), `${parseDigest(chainID).hex}${SUFFIX}`);
}

/** Writes a layer's record (atomically; a crash leaves the old state or the new file, never half of it). */
export async function saveTarSplit(root: string, chainID: Digest, record: Uint8Array): Promise<void> {
  await fsp.mkdir(tarSplitDir(root), { recursive: true, mode: 0o700 });
  await writeFileAtomic(tarSplitFile(root, chainID), record, 0o600);
}

/** Writes the record a recorder made of a layer's tar (nothing when the tar could not be recorded). */
export async function keepTarSplit(root: string, recorder: TarSplitRecorder, chainID: Digest, diffID: Digest): Promise<void> {
  const r = await recorder.finish(diffID);
  if (r.ok) await saveTarSplit(root, chainID, r.record);
  crashPoint('tar-split-written');
}

export async function removeTarSplit(root: string, chainID: Digest): Promise<void> {
  await fsp.rm(tarSplitFile(root, chainID), { force: true });
}

export async function hasTarSplit(root: string, chainID: Digest): Promise<boolean> {
  try {
    await fsp.access(tarSplitFile(root, chainID));
    return true;
  } catch {
    return false;
  }
}

/** The chainIDs that have records, and temp files of interrupted writes. */
export async function listTarSplits(root: string): Promise<{ chainIDs: Digest[]; debris: string[] }> {
  let names: string[];
  try {
    names = await fsp.readdir(tarSplitDir(root));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return { chainIDs: [], debris: [] };
    throw e;
  }
  const chainIDs: Digest[] = [];
  const debris: string[] = [];
  for (const n of names.sort()) {
    const m = NAME_RE.exec(n);
    if (m) chainIDs.push(`${m[1]!.length === 64 ? 'sha256' : 'sha512'}:${m[1]!}`);
    else if (n.startsWith(TEMP_PREFIX)) debris.push(path.join(tarSplitDir(root), n));
  }
  return { chainIDs, debris };
}

const CHUNK = 1 << 20;

/**
 * A DigestStream that releases the layer's view before it ends or closes, so that whoever waits for
 * the stream's end (the store's lock) finds the view released.
 */
class ReleasingDigestStream extends DigestStream {
  constructor(private readonly release: () => Promise<void>, opts: ConstructorParameters<typeof DigestStream>[0]) {
    super(opts);
  }

  override _flush(cb: TransformCallback): void {
    void this.release().then(() => super._flush(cb));
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    void this.release().then(() => cb(err));
  }
}

interface ContentHandle {
  read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }>;
  stat(): Promise<fs.Stats>;
  close(): Promise<void>;
}

function changed(rel: string, why: string): Error {
  return fsError('EINTEGRITY', 'read', rel, undefined, `the layer's file ${rel} ${why} (changed since it was imported?)`);
}

/** Streams exactly what a handle holds, checking first that it is a regular file of `size` bytes. */
async function* contentOf(h: ContentHandle, rel: string, size: number): AsyncGenerator<Buffer> {
  try {
    const st = await h.stat();
    if (!st.isFile()) throw changed(rel, 'is not a regular file');
    if (st.size !== size) throw changed(rel, `has ${st.size} bytes, not ${size}`);
    for (let pos = 0; pos < size; ) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
      const { bytesRead } = await h.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw changed(rel, `ends at ${pos} bytes`);
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await h.close();
  }
}

/** Opens files of the view: through its UnionFs, or (a kernel mount) on disk without following symlinks. */
function opener(view: View): OpenContent {
  const u = view.fs;
  if (u) {
    return async (rel, size) => contentOf(await u.open(`/${rel}`, 'r'), rel, size);
  }
  const root = view.path!;
  const dirsOk = new Set<string>(['']);
  return async (rel, size) => {
    const parts = rel.split('/');
    let dir = '';
    for (const p of parts.slice(0, -1)) {
      dir = dir === '' ? p : `${dir}/${p}`;
      if (dirsOk.has(dir)) continue;
      const st = await fsp.lstat(path.join(root, dir));
      if (!st.isDirectory()) throw changed(rel, `is under ${dir}, which is not a directory`);
      dirsOk.add(dir);
    }
    const h = await fsp.open(path.join(root, rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    return contentOf(h, rel, size);
  };
}

/**
 * The layer's original tar, reassembled from its record with file contents read from a view of the
 * layer (its topmost layer is this one, so each path shows this layer's bytes); null when the layer
 * has no record. The stream fails with EINTEGRITY at its end unless its sha256 is the layer's diffID.
 * The view is released when the stream ends, fails or is destroyed.
 */
export async function tarSplitStream(root: string, drv: Driver, l: LayerRecord): Promise<Readable | null> {
  let file: fs.ReadStream;
  try {
    const h = await fsp.open(tarSplitFile(root, l.chainID), 'r');
    file = h.createReadStream();
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
  const rec = await readTarSplit(file);
  if (rec.summary.digest !== l.diffID) {
    rec.close();
    throw fsError('EINTEGRITY', 'verify', l.chainID, undefined, `the tar-split record of layer ${l.chainID} is for ${rec.summary.digest}, not its diffID ${l.diffID}`);
  }
  let view: View;
  try {
    view = await drv.get(l.cacheID);
  } catch (e) {
    rec.close();
    throw e;
  }
  let released: Promise<void> | null = null;
  const release = (): Promise<void> => (released ??= drv.put(l.cacheID).catch(() => undefined));
  const src = reassemble(rec, opener(view));
  const check = new ReleasingDigestStream(release, { expect: l.diffID, expectSize: rec.summary.size, what: 'layer tar', path: l.chainID });
  src.on('error', (e) => check.destroy(e));
  check.once('close', () => src.destroy());
  src.pipe(check);
  return check;
}

/**
 * Tees an incoming layer tar (plain, gzip or zstd) through a tar-split recorder: returns the
 * uncompressed stream to apply, and the recorder (null for a compression the apply will refuse).
 * Errors of the input reach the returned stream; they stay on it (stream.errored) until it is read.
 */
export async function recordTar(tar: Readable): Promise<{ stream: Readable; recorder: TarSplitRecorder | null }> {
  const kind = detectCompression(await peek(tar, 6));
  if (kind === 'xz' || kind === 'bzip2') return { stream: tar, recorder: null };
  const rec = new TarSplitRecorder();
  rec.on('error', () => undefined);
  tar.on('error', (e) => rec.destroy(e));
  if (kind === 'none') {
    rec.on('close', () => tar.destroy());
    tar.pipe(rec);
    return { stream: rec, recorder: rec };
  }
  const dec = decompressor(kind);
  dec.on('error', (e) => rec.destroy(badData(kind, e)));
  rec.on('close', () => {
    tar.destroy();
    dec.destroy();
  });
  tar.pipe(dec).pipe(rec);
  return { stream: rec, recorder: rec };
}
