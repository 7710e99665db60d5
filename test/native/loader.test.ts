// Tests of lib/native.ts's loader in child processes (a fresh module cache each): UFS_NO_NATIVE
// turns the addon off with a reason, and the missing-addon warning is said once.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isLinux } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `code` (which may use `m`, lib/native.ts) under tsx in a fresh node; returns its output. */
function child(code: string, env: Record<string, string | undefined>): { stdout: string; stderr: string; status: number | null } {
  const script = `import('./lib/native.ts').then(async (m) => { ${code} })`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('lib/native.ts loader', () => {
  it('native() is null with a reason when UFS_NO_NATIVE=1', () => {
    const r = child('console.log(JSON.stringify({ isNull: m.native() === null, why: m.nativeLoadError() }))', {
      UFS_NO_NATIVE: '1',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { isNull: boolean; why: string };
    expect(out.isNull).toBe(true);
    expect(out.why).toMatch(/UFS_NO_NATIVE=1/);
  });

  it('warnNoNativeOnce says it once per process, with the reason and the cost', () => {
    const r = child("m.warnNoNativeOnce('using the aufs format'); m.warnNoNativeOnce('again')", { UFS_NO_NATIVE: '1' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.includes('ufs: native addon unavailable'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('UFS_NO_NATIVE=1');
    expect(lines[0]).toContain('using the aufs format');
  });

  it.skipIf(!isLinux)('native() loads all fourteen functions without UFS_NO_NATIVE (Linux, addon built)', () => {
    const r = child(
      "const a = m.native(); console.log(JSON.stringify(a === null ? m.nativeLoadError() : Object.keys(a).sort()))",
      { UFS_NO_NATIVE: undefined },
    );
    expect(r.status, r.stderr).toBe(0);
    const keys = JSON.parse(r.stdout.trim()) as unknown;
    const names = ['mknod', 'lgetxattr', 'lsetxattr', 'llistxattr', 'lremovexattr', 'renameat2', 'flock'];
    expect(keys).toEqual(names.flatMap((f) => [f, `${f}Sync`]).sort());
  });
});
