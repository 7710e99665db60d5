// The `ufs` command: the store's commands end to end (layers, images, containers, import/export,
// save/load, commit, diff, check, migrate), exit codes and one-line errors, and pull/push against a
// real docker-registry on 127.0.0.1 with skopeo and umoci on the other side.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../lib/cli/main.js';
import { IMAGE_SNAP, cleanupTemp, diffSnapshots, haveImageTools, run, snapshot, tempDir, umociFixture } from '../layers/helpers.js';
import { runTs } from '../store/helpers.js';
import { haveRegistry, startRegistry, type RunningRegistry } from '../registry/helpers.js';

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs `ufs ARGS` in this process (the command's code is the same as in the executable). */
async function ufs(...args: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const tools = haveImageTools;
const SNAP = IMAGE_SNAP;
let fx = '';
let refSnap: Record<string, string> = {};

beforeAll(async () => {
  if (tools) ({ dir: fx, ref: refSnap } = await umociFixture('ufs-cli-'));
});
afterAll(cleanupTemp);

describe('ufs command line', () => {
  it('the executable prints help, exits 2 on usage errors and 3 on a missing image, with one line', async () => {
    const root = path.join(await tempDir('ufs-cli-'), 'store');
    const help = await runTs('lib/cli/ufs.ts', ['--help']);
    expect(help.code).toBe(0);
    for (const c of ['image import', 'image save', 'image export', 'image load', 'pull', 'push', 'migrate', 'check', 'mount', 'umount']) expect(help.stdout).toContain(`  ${c} `);
    const bad = await runTs('lib/cli/ufs.ts', ['--root', root, 'image', 'save', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/needs -o FILE/);
    const missing = await runTs('lib/cli/ufs.ts', ['--root', root, '--driver', 'aufs', 'image', 'export', 'nosuch:1', path.join(root, '..', 'out')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/nosuch/);
    expect(fs.existsSync(path.join(root, '..', 'out'))).toBe(false);
  });

  it('imports a plain layer tarball (gzip) with --tag, and refuses a source that is neither', async () => {
    const dir = await tempDir('ufs-cli-');
    const root = path.join(dir, 'store');
    fs.mkdirSync(path.join(dir, 'tree', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tree', 'etc', 'motd'), 'hello\n');
    await run('tar', ['-czf', path.join(dir, 'layer.tar.gz'), '-C', path.join(dir, 'tree'), 'etc']);
    const r = await ufs('--root', root, '--driver', 'vfs', 'image', 'import', path.join(dir, 'layer.tar.gz'), '--tag', 'plain/layer:1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^Imported layer sha256:[0-9a-f]{64} and image sha256:[0-9a-f]{64} as plain\/layer:1$/);
    const c = await ufs('--root', root, 'container', 'create', 'plain/layer:1', '--name', 'c');
    expect(c.code).toBe(0);
    const ls = JSON.parse((await ufs('--root', root, 'image', 'ls', '--json')).out) as { tags: string[] }[];
    expect(ls.map((i) => i.tags)).toEqual([['plain/layer:1']]);
    fs.writeFileSync(path.join(dir, 'junk'), 'not an archive at all');
    const junk = await ufs('--root', root, 'image', 'import', path.join(dir, 'junk'));
    expect(junk.code).not.toBe(0);
    expect(junk.err).not.toBe('');
    const nothing = await ufs('--root', root, 'image', 'import', path.join(dir, 'nowhere'));
    expect(nothing.code).toBe(3);
  });
});

describe.skipIf(!tools)('ufs image import/export/save/load, container diff/commit (umoci, skopeo)', () => {
  it('shows progress on a terminal (layers and bytes of concurrent layers summed) and none when not one', async () => {
    const dir = await tempDir('ufs-cli-');
    const cmd = (root: string): string[] =>
      [process.execPath, '--import', 'tsx', 'lib/cli/ufs.ts', '--root', root, 'image', 'import', `${path.join(fx, 'img')}:test`, '-t', 'p:1'];
    const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
    // script(1) gives the command a pseudo-terminal; everything it wrote comes back on our stdout.
    const tty = await run('script', ['-qec', cmd(path.join(dir, 'a')).map(quote).join(' '), '/dev/null']);
    expect(tty.stdout).toMatch(/importing: [123]\/3 layers begun, \d+(\.\d+)? ?[kMG]?i?B/);
    expect(tty.stdout).toContain('\r\x1b[K');
    const piped = await runTs('lib/cli/ufs.ts', cmd(path.join(dir, 'b')).slice(4));
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/3 layers imported/);
  });

  it('round-trips an umoci image through import, commit, save, load into another driver and export', async () => {
    const dir = await tempDir('ufs-cli-');
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const imp = await ufs('--root', a, '--driver', 'aufs', 'image', 'import', `${path.join(fx, 'img')}:test`, '-t', 'umoci/test:1');
    expect(imp.code, imp.err).toBe(0);
    expect(imp.out).toMatch(/3 layers imported, 0 already in the store\) as umoci\/test:1/);
    const again = await ufs('--root', a, 'image', 'import', `${path.join(fx, 'img')}:test`, '-t', 'umoci/test:2');
    expect(again.out).toMatch(/0 layers imported, 3 already in the store/);

    // A container's changes: diff lists them like docker diff, commit makes a fourth layer.
    expect((await ufs('--root', a, 'container', 'create', 'umoci/test:1', '--name', 'work')).code).toBe(0);
    const { Store } = await import('../../lib/store/store.js');
    const st = await Store.open({ root: a });
    const v = await st.mountContainer('work');
    const { UnionFs } = await import('../../lib/union.js');
    expect(v.fs).toBeInstanceOf(UnionFs);
    await v.fs!.writeFile('/etc/added', 'new\n');
    await v.fs!.unlink('/etc/passwd');
    await st.unmountContainer('work');
    await st.close();
    const diff = await ufs('--root', a, 'container', 'diff', 'work');
    expect(diff.out.split('\n').sort()).toEqual(['A /etc/added', 'C /etc', 'D /etc/passwd']);
    const commit = await ufs('--root', a, 'container', 'commit', 'work', 'umoci/test:committed', '--message', 'cli test');
    expect(commit.code, commit.err).toBe(0);
    const committedId = commit.out.trim();

    // docker-save archive out of one store (aufs), loaded into another (vfs): same image ID.
    const archive = path.join(dir, 'save.tar');
    const save = await ufs('--root', a, 'image', 'save', 'umoci/test:committed', '-o', archive);
    expect(save.code, save.err).toBe(0);
    const load = await ufs('--root', b, '--driver', 'vfs', 'image', 'load', '-i', archive);
    expect(load.code, load.err).toBe(0);
    expect(load.out).toBe('Loaded image: umoci/test:committed');
    const inspect = JSON.parse((await ufs('--root', b, 'image', 'inspect', 'umoci/test:committed')).out) as { id: string; config: { history: { comment?: string }[] } }[];
    expect(inspect[0]!.id).toBe(committedId);
    expect(inspect[0]!.config.history.at(-1)?.comment).toBe('cli test');

    // Exported as an OCI layout: umoci unpacks it into umoci's tree plus the container's changes.
    const layout = path.join(dir, 'layout');
    const exp = await ufs('--root', b, 'image', 'export', 'umoci/test:committed', layout, '--name', 'out');
    expect(exp.code, exp.err).toBe(0);
    await run('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${layout}:out`, path.join(dir, 'bundle')]);
    const got = await snapshot(path.join(dir, 'bundle', 'rootfs'), SNAP);
    const want = { ...refSnap };
    delete want['etc/passwd'];
    expect(got['etc/added']).toMatch(/^file/);
    delete got['etc/added'];
    // /etc's mtime changed with the container's writes: compare the rest of the tree exactly.
    delete got.etc;
    delete want.etc;
    expect(diffSnapshots(want, got)).toEqual([]);
    // An OCI archive saved by ufs is what skopeo reads.
    const oci = path.join(dir, 'save-oci.tar');
    expect((await ufs('--root', b, 'image', 'save', 'umoci/test:committed', '-o', oci, '--format', 'oci')).code).toBe(0);
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--config', `oci-archive:${oci}:committed`])).stdout) as { rootfs: { diff_ids: string[] } };
    expect(inspected.rootfs.diff_ids).toHaveLength(4);
  });
});

describe.skipIf(!tools || !haveRegistry)('ufs pull/push (docker-registry on 127.0.0.1, skopeo, umoci)', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(fx, 'img')}:test`, `docker://${reg.host}/skopeo/img:v1`]);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pulls what skopeo pushed (same image ID, umoci\'s tree), skips layers it has, and pushes what skopeo pulls back', async () => {
    const dir = await tempDir('ufs-cli-');
    const root = path.join(dir, 'store');
    const pulled = await ufs('--root', root, '--driver', 'vfs', 'pull', `${reg.host}/skopeo/img:v1`);
    expect(pulled.code, pulled.err).toBe(0);
    expect(pulled.out).toMatch(new RegExp(`^Digest: sha256:[0-9a-f]{64}\nPulled ${reg.host.replace(/\./g, '\\.')}/skopeo/img:v1 \\(3 layers new, 0 already in the store\\)$`));
    const srcConfig = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${path.join(fx, 'img')}:test`])).stdout) as { config: { digest: string } };
    const inspect = JSON.parse((await ufs('--root', root, 'image', 'inspect', `${reg.host}/skopeo/img:v1`)).out) as { id: string }[];
    expect(inspect[0]!.id).toBe(srcConfig.config.digest);
    const { Store } = await import('../../lib/store/store.js');
    const st = await Store.open({ root });
    const view = await st.mountImage(`${reg.host}/skopeo/img:v1`);
    expect(diffSnapshots(refSnap, await snapshot(view.path!, SNAP))).toEqual([]);
    await st.releaseImage(`${reg.host}/skopeo/img:v1`);
    await st.close();

    // Again under another tag: nothing is downloaded, every layer is reused.
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/skopeo/img:v1`, `docker://${reg.host}/skopeo/img:v2`]);
    const twice = await ufs('--root', root, 'pull', `${reg.host}/skopeo/img:v2`, '--json');
    expect(JSON.parse(twice.out)).toMatchObject({ layersImported: 0, layersReused: 3 });

    // Pushed by ufs, pulled by skopeo and unpacked by umoci: the same tree.
    const push = await ufs('--root', root, 'push', `${reg.host}/skopeo/img:v1`, `${reg.host}/ufs/img:pushed`);
    expect(push.code, push.err).toBe(0);
    const digest = /^Digest: (sha256:[0-9a-f]{64})$/.exec(push.out)?.[1];
    expect(digest).toBeDefined();
    const remote = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/ufs/img:pushed`])).stdout) as { Digest: string };
    expect(remote.Digest).toBe(digest);
    const back = path.join(dir, 'back');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/ufs/img:pushed`, `oci:${back}:x`]);
    await run('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${back}:x`, path.join(dir, 'bundle')]);
    expect(diffSnapshots(refSnap, await snapshot(path.join(dir, 'bundle', 'rootfs'), SNAP))).toEqual([]);

    // A registry error names the registry, the repository and the status; nothing is left in the store.
    const none = await ufs('--root', root, 'pull', `${reg.host}/nothing/here:v1`);
    expect(none.code).not.toBe(0);
    expect(none.err).toMatch(new RegExp(`${reg.host.replace(/\./g, '\\.')}.*nothing/here|nothing/here.*${reg.host.replace(/\./g, '\\.')}`));
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });
});
