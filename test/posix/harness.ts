// Building blocks for the POSIX suite's cases: the per-case context (its own directory), the case
// type, and assertion helpers for Node-shaped error codes and modes.
import { expect } from 'vitest';
import type { PosixCaps, PosixFs, PosixStats, PosixTarget } from './types.js';

/** What one case sees: the target's fs and a `p` that maps into the case's own fresh directory. */
export interface CaseContext {
  fs: PosixFs;
  /** p('a/b') is the fs path of 'a/b' inside this case's directory; p('') is the directory. */
  p(rel: string): string;
  caps: PosixCaps;
  /** The case directory as a real path other processes can use, or null. */
  realDir: string | null;
}

export interface PosixCase {
  title: string;
  /** Why the case cannot run on this target (null/undefined: it can). */
  needs?: (t: PosixTarget) => string | null;
  run(c: CaseContext): Promise<void>;
}

export function posixCase(title: string, run: (c: CaseContext) => Promise<void>, needs?: PosixCase['needs']): PosixCase {
  return needs ? { title, run, needs } : { title, run };
}

/** Skip reasons, as reusable `needs` functions. */
export const needs = {
  root: (t: PosixTarget) => (t.caps.root ? null : 'needs root'),
  notRoot: (t: PosixTarget) => (t.caps.root ? 'needs a non-root user' : null),
  hardlinks: (t: PosixTarget) => (t.caps.hardlinks ? null : 'needs hard links'),
  xattr: (t: PosixTarget) =>
    t.caps.xattr && t.fs.getxattr && t.fs.setxattr && t.fs.listxattr && t.fs.removexattr
      ? null
      : 'needs user xattrs',
  mkfifo: (t: PosixTarget) => (t.fs.mkfifo ? null : 'needs mkfifo'),
  mknod: (t: PosixTarget) => (t.fs.mknod ? null : 'needs mknod'),
  devices: (t: PosixTarget) => (t.caps.root && t.caps.mknodDevices && t.fs.mknod ? null : 'needs root and device nodes'),
  umask: () => (currentUmask() === null ? 'needs process.umask()' : null),
};

/** The process umask, or null where it cannot be read (worker threads). */
export function currentUmask(): number | null {
  try {
    return process.umask();
  } catch {
    return null;
  }
}

/** Runs `op` and asserts that it fails (throwing or rejecting) with exactly `code`. */
export async function expectCode(op: () => Promise<unknown>, code: string): Promise<Error> {
  let failure: unknown = undefined;
  let failed = false;
  try {
    await op();
  } catch (e) {
    failed = true;
    failure = e;
  }
  expect(failed, `expected ${code}, but the call succeeded`).toBe(true);
  expect(failure).toBeInstanceOf(Error);
  expect((failure as { code?: unknown }).code, String(failure)).toBe(code);
  return failure as Error;
}

/** Permission bits including setuid, setgid and sticky. */
export function perm(st: PosixStats): number {
  return st.mode & 0o7777;
}

/** The file-type bits of a mode. */
export function fmt(st: PosixStats): number {
  return st.mode & 0o170000;
}

export async function exists(fs: PosixFs, path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return false;
    throw e;
  }
}

export async function sortedNames(fs: PosixFs, path: string): Promise<string[]> {
  return (await fs.readdir(path)).sort();
}

/** Reads `length` bytes at `position` through a handle. */
export async function pread(
  h: { read(b: Buffer, o: number, l: number, p: number | null): Promise<{ bytesRead: number }> },
  length: number,
  position: number | null,
): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await h.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** A deterministic pseudo-random buffer (xorshift), so failures reproduce. */
export function pseudoRandom(length: number, seed = 12345): Buffer {
  const out = Buffer.alloc(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A time in whole seconds long ago, to set with utimes and compare against later changes. */
export const OLD_SECONDS = 1_000_000_000; // 2001-09-09
