// Paths near PATH_MAX through a live ufsmount, as pjdfstest's */03 tests make them: a relative path
// of 4095 bytes from a working directory inside the mount (so the server's path from the mount root
// is longer still, and longer again on disk). A child process works there with relative paths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { canMount, cleanupAll, makeLayers, mountedType, ufsmount, type Layers } from './helpers.js';
import { closeLongPaths, rmTree } from '../../lib/long-path.js';

afterAll(cleanupAll);

/** 31 names of 127 bytes: with a 127-byte leaf, a relative path of exactly 4095 bytes. */
const COMPS = Array.from({ length: 31 }, (_, i) => String(i).padStart(2, '0') + 'p'.repeat(125));
const leaf = (c: string): string => c.repeat(127);

/**
 * Runs `body` (JavaScript, with `fs`, `cp` (child_process), `rel` (the 4095-byte-path maker) and
 * `out` (an object printed as JSON at the end)) in a child whose cwd is `cwd` and then `down...`.
 */
function inChild(cwd: string, down: readonly string[], body: string): Record<string, unknown> {
  const script = `
    const fs = require('fs');
    const cp = require('child_process');
    const [down, comps] = JSON.parse(process.argv[1]);
    for (const c of down) process.chdir(c);
    const dir = comps.join('/');
    const rel = (name) => dir + '/' + name;
    const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
    const out = {};
    ${body}
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, JSON.stringify([down, COMPS])], { cwd, encoding: 'utf8' })) as Record<string, unknown>;
}

describe.skipIf(!canMount)('paths near PATH_MAX through a mount', () => {
  let L: Layers;

  beforeAll(async () => {
    L = await makeLayers();
    const r = await ufsmount(['-o', L.opts, L.mnt]);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    if (L && mountedType(L.mnt)) await ufsmount(['-u', L.mnt]);
    if (L) await rmTree(L.base);
    closeLongPaths();
  });

  it('does every kind of change at a 4095-byte relative path, and refuses 4096 bytes', () => {
    const out = inChild(L.mnt, [], `
      fs.mkdirSync(dir, { recursive: true });
      out.len = Buffer.byteLength(rel('${leaf('f')}'));
      fs.writeFileSync(rel('${leaf('f')}'), 'deep data');
      out.read = fs.readFileSync(rel('${leaf('f')}'), 'utf8');
      fs.chmodSync(rel('${leaf('f')}'), 0o640);
      fs.truncateSync(rel('${leaf('f')}'), 4);
      fs.linkSync(rel('${leaf('f')}'), rel('${leaf('h')}'));
      fs.symlinkSync('${leaf('f')}', rel('${leaf('s')}'));
      out.target = fs.readlinkSync(rel('${leaf('s')}'));
      fs.mkdirSync(rel('${leaf('d')}'));
      fs.rmdirSync(rel('${leaf('d')}'));
      cp.execFileSync('mkfifo', [rel('${leaf('q')}')]);
      fs.renameSync(rel('${leaf('h')}'), rel('${leaf('r')}'));
      const st = fs.statSync(rel('${leaf('f')}'));
      out.mode = st.mode & 0o777; out.size = st.size; out.nlink = st.nlink;
      out.fifo = fs.lstatSync(rel('${leaf('q')}')).isFIFO();
      out.names = fs.readdirSync(dir).map((n) => n[0]).sort().join('');
      out.tooLong = code(() => fs.writeFileSync(rel('${leaf('f')}x'), ''));
      fs.unlinkSync(rel('${leaf('r')}'));
      fs.unlinkSync(rel('${leaf('q')}'));
      out.after = fs.readdirSync(dir).map((n) => n[0]).sort().join('');`);
    expect(out).toEqual({
      len: 4095, read: 'deep data', target: leaf('f'), mode: 0o640, size: 4, nlink: 2, fifo: true,
      names: 'fqrs', tooLong: 'ENAMETOOLONG', after: 'fs',
    });
    // The upper layer holds it, ~4150 bytes down from /: read it there the same way.
    const disk = inChild(L.upper, [], `out.data = fs.readFileSync(rel('${leaf('f')}'), 'utf8'); out.link = fs.readlinkSync(rel('${leaf('s')}'));`);
    expect(disk).toEqual({ data: 'deep', link: leaf('f') });
  });

  it('serves a working directory deep inside the mount (server paths of 8 KB)', () => {
    const out = inChild(L.mnt, COMPS, `
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(rel('${leaf('g')}'), 'deeper');
      fs.renameSync(rel('${leaf('g')}'), rel('${leaf('k')}'));
      out.read = fs.readFileSync(rel('${leaf('k')}'), 'utf8');
      fs.rmSync(COMPS_FIRST, { recursive: true }); // the 4095-byte tree under this one
      out.left = fs.readdirSync('.').map((n) => n[0]).sort().join('');`.replace('COMPS_FIRST', JSON.stringify(COMPS[0])));
    // What is left here is the first test's two leaves.
    expect(out).toEqual({ read: 'deeper', left: 'fs' });
  });
});
