// Content-addressed blobs of the store (image configs): <root>/blobs/sha256/<hex>, written once,
// atomically; read back verified against their digest.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { sha256, parseDigest, type Digest } from '../layers/digest.js';
import { writeFileAtomic } from './atomic.js';
import { fsError, isErrno } from '../errors.js';

function blobPath(root: string, d: Digest): string {
  const { algorithm, hex } = parseDigest(d);
  return path.join(root, 'blobs', algorithm, hex);
}

/** Stores `bytes` (if not there yet) and returns their digest. */
export async function writeBlob(root: string, bytes: Uint8Array): Promise<Digest> {
  const d = sha256(bytes);
  const p = blobPath(root, d);
  try {
    await fsp.access(p);
    return d;
  } catch {
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await writeFileAtomic(p, bytes, 0o444);
    return d;
  }
}

export async function readBlob(root: string, d: Digest): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(blobPath(root, d));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'open', d, undefined, `blob ${d} is missing from the store; run 'ufs check'`);
    throw e;
  }
  if (sha256(bytes) !== d) throw fsError('EINTEGRITY', 'verify', d, undefined, `blob ${d} is corrupt; run 'ufs check'`);
  return bytes;
}

export async function hasBlob(root: string, d: Digest): Promise<boolean> {
  try {
    await fsp.access(blobPath(root, d));
    return true;
  } catch {
    return false;
  }
}

/** Every stored blob digest. */
export async function listBlobs(root: string): Promise<Digest[]> {
  const dir = path.join(root, 'blobs', 'sha256');
  try {
    return (await fsp.readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
}

/** Temp files left in the blob directory by interrupted writes. */
export async function blobDebris(root: string): Promise<string[]> {
  const dir = path.join(root, 'blobs', 'sha256');
  try {
    return (await fsp.readdir(dir)).filter((n) => !/^[0-9a-f]{64}$/.test(n)).map((n) => path.join(dir, n));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
}

export async function removeBlob(root: string, d: Digest): Promise<void> {
  await fsp.rm(blobPath(root, d), { force: true });
}
