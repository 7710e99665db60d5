// Checks that the POSIX suite can fail: each deliberately broken fs below (real node:fs with one
// mistake a union or FUSE layer typically makes) must make the named case fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { link as fsLink, copyFile as fsCopyFile } from 'node:fs/promises';
import { normalize } from 'node:path';
import { fsError } from '../../lib/errors.js';
import { findPosixCase, posixCaseDirNames, runPosixCase } from './suite.js';
import { plainDirTarget } from './node-target.js';
import type { PosixFs, PosixTarget } from './types.js';

interface Mutant {
  /** The mistake, in words. */
  what: string;
  /** The case that must catch it. */
  caseTitle: string;
  breakIt(fs: PosixFs): PosixFs;
}

const mutants: Mutant[] = [
  {
    what: 'unlink of a directory gives EPERM (POSIX wording, not Linux)',
    caseTitle: 'unlink: a directory gives EISDIR, a missing name ENOENT, a trailing slash ENOTDIR',
    breakIt: (fs) => ({
      ...fs,
      unlink: async (path: string) => {
        if ((await fs.lstat(path).catch(() => null))?.isDirectory()) throw fsError('EPERM', 'unlink', path);
        return fs.unlink(path);
      },
    }),
  },
  {
    what: "readdir lists '.' and '..'",
    caseTitle: "readdir lists exactly the entries, without '.' and '..'",
    breakIt: (fs) => {
      const readdir = async (path: string, opts?: { withFileTypes: true }) =>
        opts ? fs.readdir(path, opts) : ['.', '..', ...(await fs.readdir(path))];
      return { ...fs, readdir } as PosixFs;
    },
  },
  {
    what: 'rename of a directory over a non-empty directory replaces it',
    caseTitle: 'rename a directory over a non-empty directory gives ENOTEMPTY',
    breakIt: (fs) => ({
      ...fs,
      rename: async (a: string, b: string) => {
        if ((await fs.lstat(a)).isDirectory()) await fs.rm(b, { recursive: true, force: true });
        return fs.rename(a, b);
      },
    }),
  },
  {
    what: "paths are normalised lexically, so '..' after a symlink is not physical",
    caseTitle: "'..' after a symlinked directory is physical: it goes to the target's parent",
    breakIt: (fs) => ({
      ...fs,
      readFile: ((path: string, enc?: 'utf8') => (enc ? fs.readFile(normalize(path), enc) : fs.readFile(normalize(path)))) as PosixFs['readFile'],
    }),
  },
  {
    what: "writeFile ignores the 'wx' flag",
    caseTitle: "flag 'wx' fails with EEXIST on an existing file and leaves it alone",
    breakIt: (fs) => ({ ...fs, writeFile: (path, data) => fs.writeFile(path, data) }),
  },
  {
    what: 'hard links are copies',
    caseTitle: 'a hard link shares inode and data; nlink counts the names',
    breakIt: (fs) => ({ ...fs, link: (a: string, b: string) => fsCopyFile(a, b, 1) }),
  },
  {
    what: 'a NUL byte gives ENOENT instead of node’s TypeError',
    caseTitle: 'a NUL byte in a path is rejected like node:fs (TypeError ERR_INVALID_ARG_VALUE)',
    breakIt: (fs) => ({
      ...fs,
      stat: async (path: string) => {
        if (path.includes('\0')) throw fsError('ENOENT', 'stat', path);
        return fs.stat(path);
      },
    }),
  },
  {
    what: 'the name limit is counted in characters, not bytes',
    caseTitle: 'the name limit counts bytes: 85 three-byte characters work, 86 do not',
    breakIt: (fs) => ({
      ...fs,
      writeFile: async (path, data, opts) => {
        const name = path.slice(path.lastIndexOf('/') + 1);
        if ([...name].length <= 255 && Buffer.byteLength(name) > 255) return;
        return fs.writeFile(path, data, opts);
      },
    }),
  },
  {
    what: 'rename between two hard links of one file removes the source',
    caseTitle: 'rename between two hard links of one file succeeds and keeps both names',
    breakIt: (fs) => ({
      ...fs,
      rename: async (a: string, b: string) => {
        const [sa, sb] = [await fs.lstat(a), await fs.lstat(b).catch(() => null)];
        if (sb && sa.ino === sb.ino) return fs.unlink(a);
        return fs.rename(a, b);
      },
    }),
  },
  {
    what: 'a chmod through a hard link reaches only that name (copy-on-link)',
    caseTitle: 'hard links across directories share metadata changes',
    breakIt: (fs) => ({
      ...fs,
      link: async (a: string, b: string) => {
        await fsLink(a, b);
        await fs.writeFile(`${b}.tmp`, await fs.readFile(b));
        await fs.rename(`${b}.tmp`, b);
      },
    }),
  },
];

describe('the POSIX suite catches broken implementations', () => {
  let base: PosixTarget;
  beforeAll(async () => {
    base = await plainDirTarget();
  });
  afterAll(async () => {
    await base.cleanup();
  });

  for (const [i, m] of mutants.entries()) {
    it(`fails when ${m.what}`, async () => {
      const kase = findPosixCase(m.caseTitle);
      const broken: PosixTarget = { ...base, fs: m.breakIt(base.fs) };
      // The same case passes on the unbroken fs ...
      await runPosixCase(kase, base, `ok${i}`);
      // ... and fails on the broken one.
      await expect(runPosixCase(kase, broken, `bad${i}`)).rejects.toThrow();
    });
  }

  it('runs a case in a pre-created empty directory, refuses a non-empty one', async () => {
    const kase = findPosixCase("readdir lists exactly the entries, without '.' and '..'");
    await base.fs.mkdir(base.p('pre'));
    await runPosixCase(kase, base, 'pre');
    expect((await base.fs.readdir(base.p('pre'))).sort()).toEqual(['.dot', 'dir', 'file', 'link']);
    await expect(runPosixCase(kase, base, 'pre')).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('names one directory per case', () => {
    const names = posixCaseDirNames();
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(100);
  });
});
