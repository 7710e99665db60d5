// Scratch directories of long store work (a pull's download, a push's export) under <root>/tmp, each
// held by a flock on a file inside it for the work's life: `ufs check --repair` removes only those
// whose process is gone, never one a live pull or push is filling.
import fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from '../errors.js';
import { acquireLock, tryLock } from './lock.js';

export const SCRATCH_DIR = 'tmp';
const LOCK = '.ufs-scratch.lock';

export interface Scratch {
  dir: string;
  /** Removes the directory and lets go of its lock. */
  close(): Promise<void>;
}

/** A new scratch directory `<root>/tmp/<what>-<pid>-<random>`, locked until close(). */
export async function openScratch(root: string, what: string): Promise<Scratch> {
  for (let attempt = 0; ; attempt++) {
    const dir = path.join(root, SCRATCH_DIR, `${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const release = await acquireLock(path.join(dir, LOCK), 'exclusive', 5);
      return {
        dir,
        close: async () => {
          try {
            await fsp.rm(dir, { recursive: true, force: true });
          } finally {
            release();
          }
        },
      };
    } catch (e) {
      // A check --repair removed the directory between mkdir and lock: take another one.
      if (!isErrno(e, 'ENOENT') || attempt >= 3) throw e;
    }
  }
}

/** Whether a live process holds the scratch directory `dir` (one without the lock file is nobody's). */
export async function scratchInUse(dir: string): Promise<boolean> {
  const file = path.join(dir, LOCK);
  let got;
  try {
    got = await tryLock(file, 'exclusive');
  } catch (e) {
    if (isErrno(e, 'ENOTDIR', 'ENOENT')) return false;
    throw e;
  }
  if (got) {
    got();
    return false;
  }
  return existsSync(file);
}
