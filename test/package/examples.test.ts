// Runs the programs in examples/ against the built package, so they never rot.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

beforeAll(() => {
  if (!existsSync(path.join(root, 'dist/lib/index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root });
}, 120_000);

const run = (file: string): string => execFileSync(process.execPath, [path.join(root, 'examples', file)], { cwd: root, encoding: 'utf8' });

describe('examples', () => {
  it('open-union.mjs reads through both layers and respects the whiteout', () => {
    const out = run('open-union.mjs');
    expect(out).toContain('/etc holds: app.conf hostname passwd');
    expect(out).toContain('/etc/hostname (from base): ufs-demo');
    expect(out).toContain('/var/cache is whited out by the app layer: ENOENT');
  });

  it('write-through.mjs lands changes in the upper layer only', () => {
    const out = run('write-through.mjs');
    expect(out).toContain('through the union, /etc/hostname: container-1');
    expect(out).toContain('the base layer still says: ufs-demo');
    expect(out).toContain('the upper layer holds: etc etc/.wh.passwd etc/hostname tmp tmp/work');
  });

  it.skipIf(!existsSync('/dev/fuse'))('mount-image.mjs mounts a container with ufsmount and the write lands in its layer (needs /dev/fuse)', () => {
    const out = run('mount-image.mjs');
    expect(out).toContain('hostname: ufs-demo');
    expect(out).toMatch(/\nA \/srv\/hello\.txt\n/);
    expect(out).toMatch(/\nD \/etc\/passwd\n/);
    expect(out).toMatch(/\/store\/aufs\/layers\/[0-9a-f]+\/diff\/srv\/hello\.txt\n/);
    expect(out).toContain('the mountpoint is empty again (0 entries)');
  }, 60_000);
});
