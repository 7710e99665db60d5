// Loads the optional N-API addon (native/) that gives ufs what Node lacks: mknod, the l*xattr
// calls, renameat2 flags and flock. Without it ufs still works with the aufs whiteout format.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';

/** The addon's functions. Every call throws (or rejects with) a Node-shaped error. */
export interface NativeAddon {
  mknod(path: string, mode: number, dev: number): Promise<void>;
  mknodSync(path: string, mode: number, dev: number): void;
  lgetxattr(path: string, name: string): Promise<Buffer>;
  lgetxattrSync(path: string, name: string): Buffer;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): Promise<void>;
  lsetxattrSync(path: string, name: string, value: Buffer, flags: number): void;
  llistxattr(path: string): Promise<string[]>;
  llistxattrSync(path: string): string[];
  lremovexattr(path: string, name: string): Promise<void>;
  lremovexattrSync(path: string, name: string): void;
  renameat2(oldPath: string, newPath: string, flags: number): Promise<void>;
  renameat2Sync(oldPath: string, newPath: string, flags: number): void;
  /** flock(2) on an open descriptor: LOCK_SH/LOCK_EX (| LOCK_NB), or LOCK_UN. */
  flock(fd: number, operation: number): Promise<void>;
  flockSync(fd: number, operation: number): void;
}

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const FUNCTIONS = ['mknod', 'lgetxattr', 'lsetxattr', 'llistxattr', 'lremovexattr', 'renameat2', 'flock'] as const;

/** The names the addon lacks (an old or foreign build), none when it is complete. */
function missingFunctions(mod: unknown): string[] {
  if (typeof mod !== 'object' || mod === null) return ['(not an object)'];
  const rec = mod as Record<string, unknown>;
  return FUNCTIONS.flatMap((f) => [f, `${f}Sync`]).filter((f) => typeof rec[f] !== 'function');
}

let loaded: NativeAddon | null | undefined;
let loadError: string | undefined;

function candidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // lib/native.ts (tsx) or dist/lib/native.js (built): walk up to the package root.
  const roots = [path.resolve(here, '..'), path.resolve(here, '..', '..')];
  const out: string[] = [];
  for (const r of roots) {
    out.push(path.join(r, 'native', 'build', 'Release', 'ufs_native.node'));
  }
  return out;
}

/** The addon, or null when it is not built or cannot load here (the reason: nativeLoadError()). */
export function native(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  if (process.env.UFS_NO_NATIVE === '1') {
    loadError = 'disabled by UFS_NO_NATIVE=1';
    loaded = null;
    return loaded;
  }
  if (process.platform !== 'linux') {
    loadError = `the addon is Linux-only (this is ${process.platform})`;
    loaded = null;
    return loaded;
  }
  const require = createRequire(import.meta.url);
  for (const file of candidates()) {
    if (!existsSync(file)) continue;
    try {
      const mod: unknown = require(file);
      const missing = missingFunctions(mod);
      if (missing.length === 0) {
        loaded = mod as NativeAddon;
        return loaded;
      }
      loadError = `${file} lacks ${missing.join(', ')} (rebuild it: npm run build:native)`;
    } catch (e) {
      loadError = `cannot load ${file}: ${(e as Error).message}`;
    }
  }
  loadError ??= 'native addon not built (run `npm run build:native`)';
  loaded = null;
  return loaded;
}

export function nativeLoadError(): string | undefined {
  native();
  return loadError;
}

let warned = false;
/** Says once per process that the addon is missing and what that costs. */
export function warnNoNativeOnce(what: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`ufs: native addon unavailable (${nativeLoadError()}); ${what}`, { code: 'UFS_NO_NATIVE' });
}
