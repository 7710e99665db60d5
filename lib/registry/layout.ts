// The OCI image layout as the registry client reads and writes it: `oci-layout`, `index.json` with
// `org.opencontainers.image.ref.name` annotations, blobs/<alg>/<hex>, atomic writes, a partial-download area.
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, isErrno } from '../errors.js';
import { MediaTypes, digestLike, type Descriptor, type ImageIndex } from './manifest.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT_VERSION = '1.0.0';
/** Downloads in progress live here (same filesystem as blobs/, so the final rename is atomic). */
const PARTIAL_DIR = '.ufs-partial';

/** blobs/<alg>/<hex> for a digest (validated, so a digest can never escape the layout). */
export function blobPath(dir: string, digest: string): string {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(digest);
  if (!m || m[2]!.length !== (m[1] === 'sha256' ? 64 : 128)) {
    throw fsError('EINVAL', 'blobPath', dir, undefined, `invalid digest '${digest}'`);
  }
  return join(dir, 'blobs', m[1]!, m[2]!);
}

async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Creates the layout (oci-layout, empty index.json, blobs/sha256) unless it exists. */
export async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  try {
    const doc = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: unknown };
    if (typeof doc.imageLayoutVersion !== 'string') {
      throw fsError('EINVAL', 'initLayout', dir, undefined, 'oci-layout has no imageLayoutVersion');
    }
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
    await writeAtomic(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`);
  }
  try {
    await stat(join(dir, 'index.json'));
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
    await writeIndex(dir, { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
  }
}

/** Reads index.json; ENOENT (naming the directory) when this is not an OCI layout. */
export async function readIndex(dir: string): Promise<ImageIndex> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'readIndex', dir, undefined, 'not an OCI image layout (no index.json)');
    throw e;
  }
  const doc = JSON.parse(text) as ImageIndex;
  if (doc.schemaVersion !== 2 || !Array.isArray(doc.manifests)) {
    throw fsError('EINVAL', 'readIndex', dir, undefined, 'index.json is not an OCI image index');
  }
  return doc;
}

export async function writeIndex(dir: string, index: ImageIndex): Promise<void> {
  await writeAtomic(join(dir, 'index.json'), `${JSON.stringify(index)}\n`);
}

/**
 * Records a manifest (or index) descriptor in index.json under `refName`: an entry with the same
 * ref name is replaced; without a ref name an entry with the same digest and no name is replaced.
 */
export async function addToIndex(dir: string, desc: Descriptor, refName?: string): Promise<Descriptor> {
  const index = await readIndex(dir);
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (desc.platform !== undefined) entry.platform = desc.platform;
  const annotations = { ...(desc.annotations ?? {}) };
  if (refName !== undefined) annotations[REF_NAME] = refName;
  else delete annotations[REF_NAME];
  if (Object.keys(annotations).length > 0) entry.annotations = annotations;
  index.manifests = index.manifests.filter((d) => {
    const name = d.annotations?.[REF_NAME];
    return refName !== undefined ? name !== refName : !(name === undefined && d.digest === desc.digest);
  });
  index.manifests.push(entry);
  await writeIndex(dir, index);
  return entry;
}

/** Finds the index.json entry for a ref name (tag) or digest; ENOENT listing what is there. */
export async function resolveRef(dir: string, sel: { refName?: string; digest?: string }): Promise<Descriptor> {
  const index = await readIndex(dir);
  const found = index.manifests.find((d) =>
    (sel.refName === undefined || d.annotations?.[REF_NAME] === sel.refName) && (sel.digest === undefined || d.digest === sel.digest));
  if (found === undefined) {
    const names = index.manifests.map((d) => d.annotations?.[REF_NAME] ?? d.digest);
    const want = sel.refName !== undefined ? `tag '${sel.refName}'` : `digest ${sel.digest}`;
    throw fsError('ENOENT', 'resolveRef', dir, undefined, `no ${want} in the OCI layout (it has: ${names.join(', ') || 'nothing'})`);
  }
  return found;
}

/** Whether the layout holds the blob (with the expected size when given). */
export async function hasBlob(dir: string, digest: string, size?: number): Promise<boolean> {
  try {
    const st = await stat(blobPath(dir, digest));
    return st.isFile() && (size === undefined || st.size === size);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
    throw e;
  }
}

/** Reads a small blob (manifest, config) whole and verifies its digest. */
export async function readBlob(dir: string, digest: string): Promise<Buffer> {
  const path = blobPath(dir, digest);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'readBlob', path, undefined, `blob ${digest} is missing from the OCI layout`);
    throw e;
  }
  const got = digestLike(digest, bytes);
  if (got !== digest) throw fsError('EINTEGRITY', 'readBlob', path, undefined, `blob ${digest} in the layout has digest ${got}`);
  return bytes;
}

/** Writes small bytes as a blob (atomic; skipped when present); resolves with its digest. */
export async function writeBlob(dir: string, bytes: Buffer, digest?: string): Promise<string> {
  const d = digest ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const got = digestLike(d, bytes);
  if (got !== d) throw fsError('EINTEGRITY', 'writeBlob', dir, undefined, `bytes have digest ${got}, expected ${d}`);
  const path = blobPath(dir, d);
  if (await hasBlob(dir, d, bytes.length)) return d;
  await mkdir(join(path, '..'), { recursive: true });
  await writeAtomic(path, bytes);
  return d;
}

/** A fresh path for a download in progress, and the directory to create first. */
export function partialPath(dir: string, digest: string): { dir: string; path: string } {
  const pdir = join(dir, PARTIAL_DIR);
  return { dir: pdir, path: join(pdir, `${digest.replace(':', '-')}.${randomBytes(4).toString('hex')}`) };
}

/** Removes the partial-download directory when it is empty (leaves it when another pull uses it). */
export async function cleanPartial(dir: string): Promise<void> {
  try {
    await rmdir(join(dir, PARTIAL_DIR));
  } catch (e) {
    if (!isErrno(e, 'ENOENT', 'ENOTEMPTY', 'EEXIST')) throw e;
  }
}
