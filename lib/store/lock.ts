// The store's inter-process lock: flock(2) on <root>/lock, so the kernel drops the lock if this
// process dies. Taken by the native addon's flock (non-blocking tries, a short backoff while another
// process holds it), or without the addon by util-linux `flock` on a file descriptor this process
// shares with it (a process per lock: ~10 ms each, more under load).
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { fsError, isErrno } from '../errors.js';
import { LOCK_EX, LOCK_NB, LOCK_SH, native, type NativeAddon } from '../native.js';

export type LockMode = 'shared' | 'exclusive';

/** Releases a held lock (idempotent). */
export type Release = () => void;

/** Seconds to wait for the lock before giving up (UFS_LOCK_TIMEOUT overrides). */
export function lockTimeout(): number {
  const v = Number(process.env.UFS_LOCK_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v : 120;
}

/** flock(2) on `fd` through the addon: waits up to `seconds` (null: not at all). 0 (got it) or 1 (did not). */
async function nativeFlock(addon: NativeAddon, fd: number, mode: LockMode, seconds: number | null): Promise<number> {
  const op = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  const deadline = seconds === null ? 0 : Date.now() + seconds * 1000;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      addon.flockSync(fd, op);
      return 0;
    } catch (e) {
      if (!isErrno(e, 'EAGAIN', 'EWOULDBLOCK')) throw e;
    }
    if (seconds === null || Date.now() >= deadline) return 1;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Takes flock on `fd`: waits up to `seconds`, or (null) does not wait at all. Resolves 0 (got it) or 1 (did not). */
function flockOn(fd: number, mode: LockMode, seconds: number | null): Promise<number> {
  const addon = native();
  if (addon && process.env.UFS_LOCK_FLOCK_COMMAND !== '1') return nativeFlock(addon, fd, mode, seconds);
  return flockCommand(fd, mode, seconds);
}

/** Runs flock(1) on `fd`: waits up to `seconds`, or (null) does not wait at all. Resolves 0 (got it) or 1 (did not). */
function flockCommand(fd: number, mode: LockMode, seconds: number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [mode === 'shared' ? '-s' : '-x', ...(seconds === null ? ['-n'] : ['-w', String(seconds)]), '3'];
    const c = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => {
      if (isErrno(e, 'ENOENT')) reject(fsError('ENOTSUP', 'flock', undefined, undefined, 'the store lock needs the `flock` command (util-linux): install it'));
      else reject(e);
    });
    c.on('close', (code) => {
      if (code === 0 || code === 1) resolve(code);
      else reject(fsError('EIO', 'flock', undefined, undefined, `flock failed (exit ${code}): ${err.trim()}`));
    });
  });
}

/** Who holds (or last held) the exclusive lock, as written into the lock file. */
function holder(file: string): string {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t ? ` by ${t}` : '';
  } catch {
    return '';
  }
}

/** Locks the open `fd` (waiting up to `seconds`, null: not at all): its release, or null when not got (fd closed). */
async function lockFd(fd: number, mode: LockMode, seconds: number | null): Promise<Release | null> {
  let code: number;
  try {
    code = await flockOn(fd, mode, seconds);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  if (code !== 0) {
    fs.closeSync(fd);
    return null;
  }
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    fs.closeSync(fd);
  };
}

/**
 * Takes the lock file `file` in `mode`. The returned function releases it. Rejects with EBUSY
 * (naming the holder) after `seconds`.
 */
export async function acquireLock(file: string, mode: LockMode, seconds = lockTimeout()): Promise<Release> {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  const release = await lockFd(fd, mode, seconds);
  if (!release) throw fsError('EBUSY', 'flock', file, undefined, `the store is locked${holder(file)}; waited ${seconds} s (set UFS_LOCK_TIMEOUT to wait longer)`);
  if (mode === 'exclusive') {
    const who = Buffer.from(`pid ${process.pid} (${process.argv.slice(1, 4).join(' ')})\n`);
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, who, 0, who.length, 0);
  }
  return release;
}

/**
 * Takes the lock file `file` in `mode` if nobody holds it in a conflicting mode, without waiting;
 * null when somebody does (or the file does not exist: nothing to lock).
 */
export async function tryLock(file: string, mode: LockMode): Promise<Release | null> {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
  return lockFd(fd, mode, null);
}
