// Two processes on one store at once, and processes killed (SIGKILL) in the middle of creating a
// layer, committing, removing and migrating: the store opens, nothing committed is lost, check repairs the rest.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { tmpdir, tree, worker } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  tmp = await tmpdir('procs');
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('two processes on one store', () => {
  it('serialises them: every layer, image and container of both is there and the store checks clean', async () => {
    const root = path.join(tmp, 'shared');
    (await Store.open({ root, driver: 'aufs' })).close();
    const [a, b] = await Promise.all([
      worker('images', root, ['alpha', '6', path.join(tmp, 'scratch')]),
      worker('images', root, ['beta', '6', path.join(tmp, 'scratch')]),
    ]);
    expect(a.stderr).toBe('');
    expect(b.stderr).toBe('');
    expect([a.code, b.code]).toEqual([0, 0]);
    const st = await Store.open({ root });
    try {
      const tags = (await st.images()).flatMap((i) => i.tags).sort();
      expect(tags).toEqual([...[0, 1, 2, 3, 4, 5].map((i) => `alpha:${i}`), ...[0, 1, 2, 3, 4, 5].map((i) => `beta:${i}`)].sort());
      expect((await st.containers()).map((c) => c.name).sort()).toEqual(['alpha-c0', 'alpha-c2', 'alpha-c4', 'beta-c0', 'beta-c2', 'beta-c4']);
      expect((await st.layers()).length).toBe(12);
      expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
      const v = await st.mountContainer('beta-c4');
      expect(await v.fs!.readFile('/beta/4', 'utf8')).toBe('beta 4');
      await st.unmountContainer('beta-c4');
    } finally {
      await st.close();
    }
  });
});

interface CrashCase {
  point: string;
  op: string;
  args: (root: string) => string[];
  /** Kinds of leftovers check must find. */
  leftovers: string[];
  /** What must hold after the crash (and after repair). */
  after: (st: Store) => Promise<void>;
  driver?: string;
}

describe('a process killed in the middle of work', () => {
  const cases: CrashCase[] = [
    { point: 'layer-created', op: 'layer', args: () => [path.join(tmp, 'src', 'big')], leftovers: ['orphan-layer'], after: async (st) => expect((await st.layers()).length).toBe(1) },
    { point: 'layer-applied', op: 'layer', args: () => [path.join(tmp, 'src', 'big')], leftovers: ['orphan-layer'], after: async (st) => expect((await st.layers()).length).toBe(1) },
    { point: 'tar-split-written', op: 'tarball', args: () => [path.join(tmp, 'src', 'big.tar')], leftovers: ['orphan-layer', 'orphan-tar-split'], after: async (st) => expect((await st.layers()).length).toBe(1) },
    { point: 'config-written', op: 'image', args: () => [path.join(tmp, 'src', 'big'), 'crashed'], leftovers: ['orphan-blob'], after: async (st) => {
      await expect(st.image('crashed')).rejects.toMatchObject({ code: 'ENOENT' });
      // The layer it made first was committed on its own and stays.
      expect((await st.layers()).length).toBe(2);
    } },
    { point: 'container-created', op: 'container', args: () => ['base', 'half'], leftovers: ['orphan-layer'], after: async (st) => expect((await st.containers()).map((c) => c.name)).toEqual(['work']) },
    { point: 'container-unrecorded', op: 'rm-container', args: () => ['work'], leftovers: ['orphan-layer'], after: async (st) => expect(await st.containers()).toEqual([]) },
    { point: 'commit-layer', op: 'commit', args: () => ['work', 'committed'], leftovers: ['orphan-layer'], after: async (st) => expect((await st.images()).map((i) => i.tags[0])).toEqual(['base:latest']) },
    { point: 'commit-config', op: 'commit', args: () => ['work', 'committed'], leftovers: ['orphan-layer', 'orphan-blob'], after: async (st) => expect((await st.images()).length).toBe(1) },
    { point: 'migrate-layer', op: 'migrate', args: () => ['vfs'], leftovers: ['stale-driver-home'], after: async (st) => expect(st.driver.name).toBe('aufs') },
    { point: 'migrate-switched', op: 'migrate', args: () => ['vfs'], leftovers: ['stale-driver-home'], after: async (st) => expect(st.driver.name).toBe('vfs') },
  ];

  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[`d${i % 10}/f${i}`] = `file ${i}\n`.repeat(50);
    await tree(path.join(tmp, 'src', 'big'), files);
    await tree(path.join(tmp, 'src', 'base'), { 'etc/hosts': 'localhost' });
    execFileSync('tar', ['-C', path.join(tmp, 'src', 'big'), '-cf', path.join(tmp, 'src', 'big.tar'), '.']);
  });

  for (const c of cases) {
    it(`at ${c.point}: the store opens, keeps what was committed, and check --repair removes the leftovers`, async () => {
      const root = path.join(tmp, `crash-${c.point}`);
      const st0 = await Store.open({ root, driver: c.driver ?? 'aufs' });
      const base = await st0.createLayerFromDir(path.join(tmp, 'src', 'base'));
      await st0.createImage('base', [base.chainID]);
      const work = await st0.createContainer('base', { name: 'work' });
      const v0 = await st0.mountContainer('work');
      await v0.fs!.writeFile('/etc/hosts', 'changed');
      await st0.unmountContainer('work');
      await st0.close();

      const r = await worker(c.op, root, c.args(root), { env: { UFS_CRASH_AT: c.point } });
      expect(r.signal).toBe('SIGKILL');

      const st = await Store.open({ root });
      try {
        await c.after(st);
        // Committed things are intact: the image and (unless removed) the container's change.
        expect((await st.image('base')).layers).toEqual([base.chainID]);
        if ((await st.containers()).length) {
          const v = await st.mountContainer(work.id);
          expect(await v.fs!.readFile('/etc/hosts', 'utf8')).toBe('changed');
          await st.unmountContainer(work.id);
        }
        const report = await st.check();
        expect(report.ok).toBe(false);
        expect(report.problems).toEqual([]);
        expect([...new Set(report.leftovers.map((l) => l.kind))].sort()).toEqual(expect.arrayContaining(c.leftovers));
        const repaired = await st.check({ repair: true });
        expect(repaired.ok).toBe(true);
        expect(repaired.repaired.length).toBeGreaterThan(0);
        expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
        await c.after(st);
      } finally {
        await st.close();
      }
    });
  }

  it('at a random moment of a big layer creation: the store opens and checks clean after repair', async () => {
    const root = path.join(tmp, 'crash-random');
    (await Store.open({ root, driver: 'vfs' })).close();
    for (const ms of [700, 1000, 1300]) {
      const r = await worker('layer', root, [path.join(tmp, 'src', 'big')], { killAfterMs: ms });
      const st = await Store.open({ root });
      try {
        const layers = await st.layers();
        // Either the layer was committed (and is whole) or it is not there at all.
        if (r.signal === null) expect(layers.length).toBe(1);
        expect(layers.length).toBeLessThanOrEqual(1);
        await st.check({ repair: true });
        expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
        for (const l of layers) expect((await st.layerChanges(l.chainID)).length).toBeGreaterThan(200);
      } finally {
        await st.close();
      }
    }
  });
});
