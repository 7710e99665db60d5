// ufsmount's argument parsing and the libfuse option string it builds (no mount needed).
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type MountConfig } from '../../lib/fuse/options.js';
import { libfuseOptions, IMMUTABLE_TIMEOUT } from '../../lib/fuse/server.js';
import { hasLongName, targetOpenFlags } from '../../lib/fuse/adapter.js';
import { toErrno } from '../../lib/fuse/errno.js';
import { toFuseStat, toFuseStatfs } from '../../lib/fuse/attr.js';
import { parseMountinfo } from '../../lib/fuse/mountinfo.js';
import { fsError } from '../../lib/errors.js';
import fs from 'node:fs';

function mount(argv: string[]): MountConfig {
  const c = parseArgs(argv, '/cwd');
  if (c.kind !== 'mount') throw new Error(`not a mount: ${c.kind}`);
  return c.config;
}

describe('parseArgs', () => {
  it('takes overlay syntax, topmost lowerdir first, relative paths from cwd', () => {
    const c = mount(['-o', 'lowerdir=/a:b,upperdir=/u,workdir=w', 'mnt']);
    expect(c.union.lowerdir).toEqual(['/a', '/cwd/b']);
    expect(c.union.upperdir).toBe('/u');
    expect(c.union.workdir).toBe('/cwd/w');
    expect(c.mountpoint).toBe('/cwd/mnt');
    expect(c.readOnly).toBe(false);
    expect(c.foreground).toBe(false);
    expect(c.source).toBe('ufs');
  });

  it('is read-only without upperdir and with ro', () => {
    expect(mount(['-o', 'lowerdir=/a', '/m']).readOnly).toBe(true);
    const ro = mount(['-o', 'lowerdir=/a,upperdir=/u,workdir=/w,ro', '/m']);
    expect(ro.readOnly).toBe(true);
    expect(ro.union.readonly).toBe(true);
  });

  it('accepts the mount-helper form (SOURCE MOUNTPOINT -o ...), repeated -o and -oOPTS', () => {
    const c = mount(['myunion', '/m', '-o', 'lowerdir=/a', '-oallow_other,nosuid,nodev,rw,relatime', '-f']);
    expect(c.source).toBe('myunion');
    expect(c.allowOther).toBe(true);
    expect(c.mountFlags).toEqual(['nosuid', 'nodev']);
    expect(c.foreground).toBe(true);
  });

  it('keeps escaped colons and commas in directory names', () => {
    const c = mount(['-o', 'lowerdir=/a\\:b:/c\\,d', '/m']);
    expect(c.union.lowerdir).toEqual(['/a:b', '/c,d']);
  });

  it('parses cache and write options', () => {
    const c = mount(['-o', 'lowerdir=/a,timeout=5,negative_timeout=2,max_write=65536,nobig_writes', '/m']);
    expect([c.entryTimeout, c.attrTimeout, c.negativeTimeout, c.maxWrite, c.bigWrites]).toEqual([5, 5, 2, 65536, false]);
  });

  it('accepts overlayfs options that change nothing here', () => {
    expect(mount(['-o', 'lowerdir=/a,index=on,redirect_dir=on,xino=auto', '/m']).ignored).toEqual(['index=on', 'redirect_dir=on', 'xino=auto']);
  });

  it('takes IMAGE|CONTAINER MOUNTPOINT (with --root) for a store mount', () => {
    const c = mount(['--root', 'st', 'ubuntu:22.04', '/m', '-o', 'allow_other']);
    expect(c.store).toEqual({ ref: 'ubuntu:22.04', root: '/cwd/st' });
    expect(c.union.lowerdir).toEqual([]);
    expect(c.allowOther).toBe(true);
    expect(mount(['box', '/m']).store).toEqual({ ref: 'box' });
    // With lowerdir= the first positional is only the source name (mount helper form).
    expect(mount(['box', '/m', '-o', 'lowerdir=/a']).store).toBeUndefined();
  });

  it('parses -u, -z, -h, -V', () => {
    expect(parseArgs(['-u', 'm'], '/cwd')).toEqual({ kind: 'unmount', mountpoint: '/cwd/m', lazy: false });
    expect(parseArgs(['-u', '-z', '/m'])).toEqual({ kind: 'unmount', mountpoint: '/m', lazy: true });
    expect(parseArgs(['-h']).kind).toBe('help');
    expect(parseArgs(['-V']).kind).toBe('version');
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['unknown option', ['-o', 'lowerdir=/a,bogus', '/m'], /unknown option 'bogus'/],
    ['unknown flag', ['-q', '/m'], /unknown flag/],
    ['no lowerdir', ['-o', 'upperdir=/u,workdir=/w', '/m'], /lowerdir/],
    ['empty lowerdir entry', ['-o', 'lowerdir=/a::/b', '/m'], /empty/],
    ['upper without work', ['-o', 'lowerdir=/a,upperdir=/u', '/m'], /workdir/],
    ['work inside upper', ['-o', 'lowerdir=/a,upperdir=/u,workdir=/u/w', '/m'], /contain/],
    ['layer inside mountpoint', ['-o', 'lowerdir=/m/a', '/m'], /inside the mountpoint/],
    ['max_write too small', ['-o', 'lowerdir=/a,max_write=100', '/m'], /max_write/],
    ['missing mountpoint', ['-o', 'lowerdir=/a'], /missing MOUNTPOINT/],
    ['--root without a store item', ['--root', '/r', '-o', 'lowerdir=/a', '/m'], /--root is for/],
    ['layer options with a store item', ['img', '/m', '-o', 'upperdir=/u'], /come from the store/],
    ['-u without mountpoint', ['-u'], /-u needs/],
  ];
  for (const [label, argv, msg] of bad) {
    it(`refuses: ${label}`, () => {
      let err: unknown;
      try {
        parseArgs(argv, '/cwd');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe('libfuseOptions', () => {
  it('writable union: big writes, inode numbers kept, short caches, page cache while unchanged', () => {
    const o = libfuseOptions(mount(['-o', 'lowerdir=/a,upperdir=/u,workdir=/w', '/m']));
    expect(o).toEqual(expect.arrayContaining(['big_writes', 'max_write=131072', 'use_ino', 'nonempty', 'subtype=ufsmount',
      'entry_timeout=1', 'attr_timeout=0', 'negative_timeout=0', 'auto_cache']));
    expect(o).not.toContain('ro');
  });

  it('read-only union: everything cached for long, kernel_cache, ro', () => {
    const o = libfuseOptions(mount(['-o', 'lowerdir=/a:/b', '/m']));
    expect(o).toEqual(expect.arrayContaining(['ro', 'kernel_cache', `entry_timeout=${IMMUTABLE_TIMEOUT}`,
      `attr_timeout=${IMMUTABLE_TIMEOUT}`, `negative_timeout=${IMMUTABLE_TIMEOUT}`]));
  });

  it('allow_other brings default_permissions; fsname commas are escaped; explicit timeouts win', () => {
    const o = libfuseOptions(mount(['-o', 'lowerdir=/a,allow_other,fsname=a\\,b,attr_timeout=3', '/m']));
    expect(o).toEqual(expect.arrayContaining(['allow_other', 'default_permissions', 'fsname=a\\,b', 'attr_timeout=3']));
    expect(libfuseOptions(mount(['-o', 'lowerdir=/a,nobig_writes', '/m']))).not.toContain('big_writes');
  });
});

describe('translation helpers', () => {
  it('errors become negative errno numbers, unknown ones EIO', () => {
    expect(toErrno(fsError('ENOENT', 'stat', '/x'))).toBe(-2);
    expect(toErrno(fsError('ENOTEMPTY', 'rmdir', '/x'))).toBe(-39);
    expect(toErrno(Object.assign(new Error('x'), { code: 'EXDEV' }))).toBe(-18);
    expect(toErrno(new Error('plain'))).toBe(-5);
    expect(toErrno('string')).toBe(-5);
  });

  it('long names are found in any component', () => {
    expect(hasLongName('/' + 'a'.repeat(255))).toBe(false);
    expect(hasLongName('/' + 'a'.repeat(256))).toBe(true);
    expect(hasLongName('/x/' + 'é'.repeat(128) + '/y')).toBe(true);
    expect(hasLongName(('/' + 'a'.repeat(200)).repeat(20))).toBe(false);
  });

  it('open flags: the kernel chooses write positions, so O_APPEND and O_DIRECT are dropped', () => {
    const { O_RDWR, O_APPEND, O_DIRECT, O_SYNC } = fs.constants;
    expect(targetOpenFlags(O_RDWR | O_APPEND | O_DIRECT | O_SYNC)).toBe(O_RDWR | O_SYNC);
  });

  it('stats keep their fields; inode numbers over 32 bits are folded, never 0', () => {
    const st = fs.statSync('/');
    const f = toFuseStat(st);
    expect(f.mode).toBe(st.mode);
    expect(f.mtime).toBe(Math.floor(st.mtimeMs));
    const big = toFuseStat({ ...st, ino: 2 ** 40 + 5, atimeMs: 1, mtimeMs: 2, ctimeMs: 3 } as fs.Stats);
    expect(big.ino).toBeGreaterThan(0);
    expect(big.ino).toBeLessThan(2 ** 32);
  });

  it('statfs block counts over 32 bits are expressed in larger fragments', () => {
    const s = toFuseStatfs({ bsize: 4096, blocks: 2 ** 33, bfree: 2 ** 32, bavail: 2 ** 32, files: 10, ffree: 5 }, true);
    expect(s.blocks).toBeLessThan(2 ** 32);
    expect(s.frsize * s.blocks).toBe(4096 * 2 ** 33);
    expect(s.flag).toBe(1);
    expect(s.namemax).toBe(255);
  });

  it('mountinfo lines are parsed with their octal escapes', () => {
    const m = parseMountinfo('42 27 0:39 / /tmp/a\\040b rw,nosuid - fuse.ufsmount my\\040src rw,user_id=0\n');
    expect(m).toEqual([{ id: 42, mountpoint: '/tmp/a b', fstype: 'fuse.ufsmount', source: 'my src' }]);
  });
});
