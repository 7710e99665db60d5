// Atomic metadata files: write to a temp file in the same directory, fsync it, rename it into
// place, fsync the directory. A crash leaves the old file or the new one, never a mix.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsError, isErrno } from '../errors.js';

/** The prefix of temp files; leftovers with it are debris of interrupted writes. */
export const TEMP_PREFIX = '.tmp-';

export async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } catch (e) {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
    if (!isErrno(e, 'EINVAL', 'EBADF', 'EISDIR')) throw e;
  } finally {
    await h.close();
  }
}

/** Writes `data` to `file` atomically and durably. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(file)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const h = await fsp.open(tmp, 'wx', mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (e) {
    await h.close();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await h.close();
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

/** Writes JSON atomically (two-space indented, trailing newline). */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Reads a JSON file; null when it does not exist; EINVAL naming the file when it is not JSON. */
export async function readJson<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw fsError('EINVAL', 'read', file, undefined, `corrupt metadata file (${(e as Error).message}); run 'ufs check --repair'`);
  }
}
