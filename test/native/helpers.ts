// Shared setup of the native addon tests: the loaded addon (or why not), temp dirs, and a checker
// for Node-shaped errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { native, nativeLoadError, type NativeAddon } from '../../lib/native.js';

export const addon: NativeAddon | null = native();
export const loadError = nativeLoadError();
export const isLinux = process.platform === 'linux';
export const isRoot = process.getuid?.() === 0;
/** Linux >= 5.8 lets anyone make a 0/0 character device (a whiteout); before, it took CAP_MKNOD. */
export const canWhiteout: boolean = (() => {
  const [major = 0, minor = 0] = os.release().split('.').map((x) => Number.parseInt(x, 10));
  return isRoot || major > 5 || (major === 5 && minor >= 8);
})();
export const errno = os.constants.errno as Record<string, number>;

/** The addon, for tests that are skipped when it is missing. */
export function A(): NativeAddon {
  if (!addon) throw new Error(`native addon missing: ${loadError}`);
  return addon;
}

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ufs-native-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether os.tmpdir()'s filesystem takes user.* xattrs (ext4, xfs, btrfs, tmpfs >= 6.6 do). */
export const userXattrs: boolean = (() => {
  if (!addon) return false;
  const { dir, cleanup } = tempDir();
  try {
    const f = path.join(dir, 'probe');
    writeFileSync(f, '');
    addon.lsetxattrSync(f, 'user.ufs.probe', Buffer.from('1'), 0);
    return true;
  } catch {
    return false;
  } finally {
    cleanup();
  }
})();

/** Whether this process may set trusted.* xattrs there (root outside a user namespace). */
export const trustedXattrs: boolean = (() => {
  if (!addon || !isRoot) return false;
  const { dir, cleanup } = tempDir();
  try {
    const f = path.join(dir, 'probe');
    writeFileSync(f, '');
    addon.lsetxattrSync(f, 'trusted.ufs.probe', Buffer.from('1'), 0);
    return true;
  } catch {
    return false;
  } finally {
    cleanup();
  }
})();

/** Checks an error is shaped like node:fs's: code, negative errno, syscall, path, dest, message. */
export function expectFsError(
  e: unknown,
  code: string,
  syscall: string,
  p: string,
  dest?: string,
): void {
  expect(e).toBeInstanceOf(Error);
  const err = e as NodeJS.ErrnoException & { dest?: string };
  expect(err.code).toBe(code);
  expect(err.errno).toBe(-(errno[code] ?? NaN));
  expect(err.syscall).toBe(syscall);
  expect(err.path).toBe(p);
  expect(err.dest).toBe(dest);
  const where = dest === undefined ? `'${p}'` : `'${p}' -> '${dest}'`;
  expect(err.message).toMatch(new RegExp(`^${code}: [a-z][^,]*, ${syscall} `));
  expect(err.message.endsWith(`, ${syscall} ${where}`)).toBe(true);
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/** The error a function throws (fails the test when it returns). */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}
