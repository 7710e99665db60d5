// The option list the low-level binding (ufs-ll) gets: long kernel caching on writable unions unless
// parts of the union change behind ufs, explicit timeouts kept, high-level-only options left out.
import { describe, expect, it } from 'vitest';
import { parseArgs, type MountConfig } from '../../lib/fuse/options.js';
import { IMMUTABLE_TIMEOUT, LL_WRITABLE_TIMEOUT, libfuseOptions } from '../../lib/fuse/server.js';
import { splitLlOptions } from '../../lib/fuse/ufs-ll-binding.js';

function mount(argv: string[]): MountConfig {
  const c = parseArgs(argv, '/cwd');
  if (c.kind !== 'mount') throw new Error(`not a mount: ${c.kind}`);
  return c.config;
}

describe('libfuseOptions for ufs-ll', () => {
  it('writable union: entries, attributes and negative lookups kept long; no high-level options', () => {
    const o = libfuseOptions(mount(['-o', 'lowerdir=/a,upperdir=/u,workdir=/w', '/m']), 'ufs-ll');
    expect(o).toEqual(expect.arrayContaining(['big_writes', 'max_write=131072', `entry_timeout=${LL_WRITABLE_TIMEOUT}`,
      `attr_timeout=${LL_WRITABLE_TIMEOUT}`, `negative_timeout=${LL_WRITABLE_TIMEOUT}`]));
    for (const hl of ['use_ino', 'readdir_ino', 'auto_cache', 'kernel_cache']) expect(o).not.toContain(hl);
  });

  it('read-only union: a day; explicit timeouts win', () => {
    expect(libfuseOptions(mount(['-o', 'lowerdir=/a:/b', '/m']), 'ufs-ll')).toContain(`attr_timeout=${IMMUTABLE_TIMEOUT}`);
    const o = libfuseOptions(mount(['-o', 'lowerdir=/a,upperdir=/u,workdir=/w,attr_timeout=0,entry_timeout=2', '/m']), 'ufs-ll');
    expect(o).toEqual(expect.arrayContaining(['attr_timeout=0', 'entry_timeout=2', `negative_timeout=${LL_WRITABLE_TIMEOUT}`]));
  });

  it('a union that changes behind ufs (volatile) keeps the short timeouts', () => {
    const o = libfuseOptions({ ...mount(['-o', 'lowerdir=/a,upperdir=/u,workdir=/w', '/m']), volatile: true }, 'ufs-ll');
    expect(o).toEqual(expect.arrayContaining(['entry_timeout=1', 'attr_timeout=0', 'negative_timeout=0']));
  });

  it('splitLlOptions takes the timeouts out and drops what the low-level API refuses', () => {
    expect(splitLlOptions(['fsname=x', 'use_ino', 'entry_timeout=5', 'attr_timeout=6', 'negative_timeout=7', 'auto_cache', 'big_writes']))
      .toEqual({ args: ['fsname=x', 'big_writes'], timeouts: [5, 6, 7] });
  });
});
