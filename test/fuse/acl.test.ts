// POSIX ACLs through ufsmount: the low-level binding asks the kernel to handle them (FUSE_POSIX_ACL),
// so permissions are checked with them (as the kernel's overlayfs does) and `ls -l` finds them
// cached. Checked by another user (nobody) in another process: access granted and taken back by an
// ACL, a default ACL inherited by a new file, a lower file's ACL kept across copy-up. The high-level
// binding cannot ask for it (libfuse 2 API): there the kernel checks the mode bits only.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { binding, canMount, cleanupAll, mountLayersForSuite, run } from './helpers.js';

afterAll(cleanupAll);

const hasAclTools = ['/usr/bin/setfacl', '/usr/bin/getfacl'].every((f) => fs.existsSync(f));
const why = !hasAclTools ? ' — skipped: setfacl/getfacl missing (Debian package acl)' : binding !== 'ufs-ll' ? ' — skipped: the kernel handles ACLs only with the ufs-ll binding' : '';

/** `cat` of a path as user nobody: the content or the error. */
async function catAsNobody(p: string): Promise<string> {
  const r = await run('runuser', ['-u', 'nobody', '--', 'cat', p]);
  return r.code === 0 ? r.stdout : r.stderr.includes('Permission denied') ? 'EACCES' : r.stderr.trim();
}

async function acl(...args: string[]): Promise<string> {
  const r = await run(args[0]!, args.slice(1));
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe.skipIf(!canMount || why !== '')(`POSIX ACLs through the mount${why}`, () => {
  const S = mountLayersForSuite({
    prepare: async (L) => {
      await fsp.chmod(L.base, 0o755);                  // nobody may reach the mountpoint
      await fsp.writeFile(path.join(L.l2, 'lowacl'), 'lower secret\n', { mode: 0o600 });
      await fsp.chmod(path.join(L.l2, 'lowacl'), 0o600);
      const r = await run('setfacl', ['-m', 'u:nobody:r', path.join(L.l2, 'lowacl')]);
      if (r.code !== 0) throw new Error(r.stderr);
    },
  });

  it('an ACL entry grants access the mode bits do not, and removing it takes it back', async () => {
    const f = S.m('secret');
    await fsp.writeFile(f, 'secret\n', { mode: 0o600 });
    expect(await catAsNobody(f)).toBe('EACCES');
    await acl('setfacl', '-m', 'u:nobody:r', f);
    expect(await catAsNobody(f)).toBe('secret\n');
    expect((await run('ls', ['-l', f])).stdout).toMatch(/^-rw-r-----\+ /);
    await acl('setfacl', '-b', f);
    expect(await catAsNobody(f)).toBe('EACCES');
    expect((await run('ls', ['-l', f])).stdout).toMatch(/^-rw------- /);
  });

  it('a default ACL is inherited by a new file (in the upper layer too)', async () => {
    await fsp.mkdir(S.m('shared'));
    await acl('setfacl', '-d', '-m', 'u:nobody:rw', S.m('shared'));
    await fsp.writeFile(S.m('shared/new'), 'made\n', { mode: 0o660 });   // group bits: the mask
    expect(await acl('getfacl', '-cp', S.m('shared/new'))).toContain('user:nobody:rw-');
    expect(await acl('getfacl', '-cp', path.join(S.L.upper, 'shared/new'))).toContain('user:nobody:rw-');
    expect(await catAsNobody(S.m('shared/new'))).toBe('made\n');
  });

  it("a lower file's ACL applies, and stays after a copy-up", async () => {
    const f = S.m('lowacl');
    expect(await catAsNobody(f)).toBe('lower secret\n');
    await fsp.appendFile(f, 'more\n');               // copy-up
    expect(fs.existsSync(path.join(S.L.upper, 'lowacl'))).toBe(true);
    expect(await acl('getfacl', '-cp', f)).toContain('user:nobody:r--');
    expect(await catAsNobody(f)).toBe('lower secret\nmore\n');
    await fsp.chmod(f, 0o600);                       // chmod sets the ACL mask: nobody's entry masked
    expect(await catAsNobody(f)).toBe('EACCES');
  });
});
