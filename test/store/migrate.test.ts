// `migrate` between every pair of drivers: layer diffIDs, chainIDs, image IDs and container changes
// stay the same (the digests of every layer's and container's diff compared before and after);
// a migration that cannot round-trip changes nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { native } from '../../lib/native.js';
import { digestOf, fsOf, makeDir, snapshot } from '../conformance/driver-suite.js';
import { tmpdir } from './helpers.js';

const overlayOk = native() !== null && process.getuid?.() === 0;
const drivers = ['aufs', 'vfs', 'memory', ...(overlayOk ? ['overlay'] : [])];
const pairs = drivers.flatMap((a) => drivers.filter((b) => b !== a).map((b) => [a, b] as const));

let tmp: string;
beforeAll(async () => {
  tmp = await tmpdir('migrate');
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Fingerprint {
  layers: Record<string, { diffID: string; parent: string | null; tar: string }>;
  images: Record<string, { tags: string[]; layers: string[] }>;
  containers: Record<string, { diff: string; changes: string; view: Record<string, string> }>;
}

async function fingerprint(st: Store): Promise<Fingerprint> {
  const fp: Fingerprint = { layers: {}, images: {}, containers: {} };
  for (const l of await st.layers()) fp.layers[l.chainID] = { diffID: l.diffID, parent: l.parent, tar: await digestOf(await st.layerTar(l.chainID)) };
  for (const i of await st.images()) fp.images[i.id] = { tags: [...i.tags].sort(), layers: i.layers };
  // Diffs first: a vfs container's diff is its recorded changeset only until it is mounted again
  // (then it is computed by comparing trees: the same changes, maybe another tar).
  for (const c of await st.containers()) {
    fp.containers[c.name] = { diff: await digestOf(await st.containerDiff(c.name)), changes: JSON.stringify(await st.containerChanges(c.name)), view: {} };
  }
  for (const c of await st.containers()) {
    const v = await st.mountContainer(c.name);
    fp.containers[c.name]!.view = await snapshot(fsOf(v));
    await st.unmountContainer(c.name);
    expect(JSON.stringify(await st.containerChanges(c.name))).toBe(fp.containers[c.name]!.changes);
  }
  return fp;
}

async function populate(st: Store, dir: string): Promise<void> {
  const base = await st.createLayerFromDir(await makeDir(path.join(dir, 'base'), { 'etc/hosts': 'h', 'etc/passwd': 'p', 'var/lib/x': 'x', 'var/lib/y': 'y', 'bin/tool': 't' }));
  const top = await st.createLayerFromDir(await makeDir(path.join(dir, 'top'), { 'etc/passwd': 'wh', 'var/lib': 'opq', 'var/lib/z': 'z', 'app/main': 'm', 'link': '->app/main' }), { parent: base.chainID });
  await st.createImage('mig/base', [base.chainID]);
  await st.createImage('mig/app:1', [base.chainID, top.chainID]);
  await st.tag('mig/app:1', 'mig/app:stable');
  const c = await st.createContainer('mig/app:1', { name: 'c1' });
  const v = fsOf(await st.mountContainer('c1'));
  await v.writeFile('/app/main', 'changed');
  await v.unlink('/bin/tool');
  await v.rm('/etc', { recursive: true });
  await v.mkdir('/etc');
  await v.writeFile('/etc/only', 'o');
  await st.unmountContainer('c1');
  await st.commit(c.id, 'mig/app:2');
  await st.createContainer('mig/base', { name: 'empty' });
}

describe('migrate', () => {
  for (const [from, to] of pairs) {
    it(`moves a store from ${from} to ${to} keeping every digest and every container change`, async () => {
      const st = await Store.open({ root: path.join(tmp, `${from}-${to}`), driver: from });
      try {
        await populate(st, path.join(tmp, `src-${from}-${to}`));
        const before = await fingerprint(st);
        const report = await st.migrate(to);
        expect(report).toMatchObject({ from, to });
        expect(report.digests.length).toBe(Object.keys(before.layers).length + Object.keys(before.containers).length);
        expect(st.driver.name).toBe(to);
        const after = await fingerprint(st);
        expect(after).toEqual(before);
        for (const [chain, l] of Object.entries(before.layers)) expect(report.digests.find((d) => d.what === chain)?.digest).toBe(l.tar);
        expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
        if (to !== 'memory') {
          const again = await Store.open({ root: st.root });
          expect(again.driver.name).toBe(to);
          expect((await again.images()).length).toBe(3);
          await again.close();
        }
        await fs.access(path.join(st.root, from)).then(
          () => expect.fail(`the ${from} driver's home is still there`),
          () => undefined,
        );
      } finally {
        await st.close();
      }
    });
  }

  it('changes nothing when a container cannot move (a .wh. file in a vfs directory), and refuses a migration to the same driver', async () => {
    const st = await Store.open({ root: path.join(tmp, 'refuse'), driver: 'vfs' });
    try {
      await populate(st, path.join(tmp, 'src-refuse'));
      await expect(st.migrate('vfs')).rejects.toThrow(/already uses the vfs driver/);
      // A vfs container is a plain directory: a file named like a whiteout cannot go into a layer tar.
      const v = await st.mountContainer('empty');
      await fs.writeFile(path.join(v.path!, '.wh.trap'), '');
      await st.unmountContainer('empty');
      const before = (await st.layers()).map((l) => l.chainID);
      await expect(st.migrate('aufs')).rejects.toThrow(/\.wh\.trap/);
      expect(st.driver.name).toBe('vfs');
      expect((await st.layers()).map((l) => l.chainID)).toEqual(before);
      expect(await st.check()).toMatchObject({ ok: true, leftovers: [] });
      const c1 = fsOf(await st.mountContainer('c1'));
      expect(await c1.readFile('/etc/only', 'utf8')).toBe('o');
      await st.unmountContainer('c1');
    } finally {
      await st.close();
    }
  });
});
