// Layers staged outside the store lock: the layers of one import applied at the same time (and in
// order for vfs), two processes importing into one store, an import killed at each crash point, a
// digest mismatch in the middle of a concurrent import, and check sparing a live import.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Store } from '../../lib/store/store.js';
import { availability } from '../../lib/drivers/registry.js';
import { importFrom } from '../../lib/layers/image-transfer.js';
import { chainIDs, sha256, type Digest } from '../../lib/layers/digest.js';
import { jsonBytes, newImageConfig } from '../../lib/layers/image-config.js';
import { scanStaging } from '../../lib/store/staging.js';
import { tmpdir, tree, worker } from './helpers.js';
import { corruptBlob, files, makeImage, tarOf, type MadeImage } from './images.js';

let tmp: string;
let drivers: string[] = [];
beforeAll(async () => {
  tmp = await tmpdir('import-conc');
  drivers = (await availability(path.join(tmp, 'probe'))).filter((d) => d.available).map((d) => d.name);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Every driver layer of the store, and the store's layer records, agree: no staged copy is left. */
async function expectClean(st: Store): Promise<void> {
  const recorded = (await st.layers()).map((l) => l.cacheID).sort();
  expect(await st.driver.list()).toEqual(recorded);
  expect(await st.check()).toMatchObject({ ok: true, leftovers: [], problems: [] });
  expect((await scanStaging(st.root)).stale).toEqual([]);
}

describe('the layers of one import', () => {
  for (const driver of ['aufs', 'overlay', 'memory', 'vfs']) {
    it(`${driver}: are ${driver === 'vfs' ? 'applied one after the other (create copies the parent)' : 'applied at the same time'}, spared by check while staged, pinned against removal`, async (ctx) => {
      if (!drivers.includes(driver)) ctx.skip();
      const st = await Store.open({ root: path.join(tmp, `overlap-${driver}`), driver });
      try {
        for (let i = 0; i < 4; i++) await tree(path.join(tmp, 'src', `l${i}`), files(`l${i}`, 20));
        const layerTars = [0, 1, 2, 3].map((i) => tarOf(path.join(tmp, 'src', `l${i}`)));
        const diffIDs = layerTars.map((t) => sha256(t));
        const chains = chainIDs(diffIDs);
        const base = await st.createLayer(null, PassThroughOf(layerTars[0]!));
        expect(base.chainID).toBe(chains[0]);

        const events: string[] = [];
        let opened2!: () => void;
        const second = new Promise<void>((r) => (opened2 = r));
        const blocking = driver !== 'vfs';
        let during: { staged: number; check: Awaited<ReturnType<Store['check']>>; remove: unknown } | null = null;
        const sources = layerTars.map((t, i) => ({
          chainID: chains[i]!,
          open: async (): Promise<Readable> => {
            events.push(`open${i}`);
            if (i === 2) opened2();
            const out = new PassThrough();
            out.write(t.subarray(0, t.length - 1024));
            const finish = (): void => {
              events.push(`end${i}`);
              out.end(t.subarray(t.length - 1024));
            };
            if (i === 1 && blocking) {
              // Layer 1 cannot finish before layer 2 has started: a sequential import would never get here.
              void second.then(async () => {
                const scan = await scanStaging(st.root);
                during = {
                  staged: scan.live.reduce((n, s) => n + Object.keys(s.staged).length, 0),
                  check: await st.check({ repair: true }),
                  remove: await st.removeLayer(base.chainID).catch((e: unknown) => e),
                };
                finish();
              });
            } else setImmediate(finish);
            return out;
          },
        }));
        const imp = await st.beginImport();
        let r;
        try {
          r = await imp.createLayers(sources);
          // Not listed until the image is recorded.
          expect((await st.layers()).map((l) => l.chainID)).toEqual([chains[0]]);
          await st.addImage(jsonBytes(newImageConfig(diffIDs)), ['overlap:1']);
        } finally {
          await imp.close();
        }
        expect(r).toMatchObject({ imported: 3, reused: 1 });
        expect(events).not.toContain('open0');
        if (blocking) {
          expect(events.indexOf('open2')).toBeLessThan(events.indexOf('end1'));
          expect(during).not.toBeNull();
          const d = during!;
          expect(d.staged).toBeGreaterThanOrEqual(2);
          // check --repair while the import was staging: nothing of it was debris.
          expect(d.check).toMatchObject({ ok: true, leftovers: [], problems: [] });
          expect(d.remove).toMatchObject({ code: 'EBUSY' });
        } else {
          expect(events).toEqual(['open1', 'end1', 'open2', 'end2', 'open3', 'end3']);
        }
        expect((await st.layers()).map((l) => l.chainID).sort()).toEqual([...chains].sort());
        const v = await st.mountImage('overlap:1');
        expect(await v.fs!.readFile('/l3/d3/f3', 'utf8')).toBe(files('l3', 20)['l3/d3/f3']);
        expect(await v.fs!.readFile('/l1/d0/f0', 'utf8')).toBe(files('l1', 20)['l1/d0/f0']);
        await st.releaseImage('overlap:1');
        await expectClean(st);
      } finally {
        await st.close();
      }
    });
  }
});

function PassThroughOf(b: Buffer): Readable {
  const p = new PassThrough();
  p.end(b);
  return p;
}

describe('two processes importing into one store', () => {
  let a: MadeImage;
  let b: MadeImage;
  const base = files('base', 40);
  beforeAll(async () => {
    a = await makeImage(path.join(tmp, 'img-a'), [base, files('a1', 60), files('a2', 60)], 'a');
    b = await makeImage(path.join(tmp, 'img-b'), [base, files('b1', 60), files('b2', 60)], 'b');
  });

  it('different images (sharing a base layer) at the same time: both succeed, one copy of the base, check clean', async () => {
    const root = path.join(tmp, 'two-images');
    (await Store.open({ root, driver: 'aufs' })).close();
    const [ra, rb] = await Promise.all([worker('import', root, [a.dir, 'img:a']), worker('import', root, [b.dir, 'img:b'])]);
    expect([ra.stderr, rb.stderr]).toEqual(['', '']);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const st = await Store.open({ root });
    try {
      expect((await st.images()).flatMap((i) => i.tags).sort()).toEqual(['img:a', 'img:b']);
      expect((await st.image('img:a')).layers).toEqual(a.chainIDs);
      expect((await st.image('img:b')).layers).toEqual(b.chainIDs);
      expect((await st.layers()).map((l) => l.chainID).sort()).toEqual([...new Set([...a.chainIDs, ...b.chainIDs])].sort());
      await expectClean(st);
    } finally {
      await st.close();
    }
  });

  it('the same image at the same time: both succeed and every layer is there once', async () => {
    const root = path.join(tmp, 'same-image');
    (await Store.open({ root, driver: drivers.includes('overlay') ? 'overlay' : 'aufs' })).close();
    const rs = await Promise.all([worker('import', root, [a.dir, 'img:a']), worker('import', root, [a.dir, 'img:a2'])]);
    expect(rs.map((r) => r.stderr)).toEqual(['', '']);
    expect(rs.map((r) => r.code)).toEqual([0, 0]);
    const counts = rs.map((r) => JSON.parse(r.stdout) as { imported: number; reused: number });
    // Between them every layer was imported once; a layer one process found or recorded first the other reused.
    expect(counts.every((c) => c.imported + c.reused === 3)).toBe(true);
    const st = await Store.open({ root });
    try {
      expect((await st.images()).length).toBe(1);
      expect((await st.image('img:a')).tags.sort()).toEqual(['img:a', 'img:a2']);
      expect((await st.layers()).map((l) => l.chainID).sort()).toEqual([...a.chainIDs].sort());
      await expectClean(st);
    } finally {
      await st.close();
    }
  });
});

describe('an import killed (SIGKILL) in the middle', () => {
  let first: MadeImage;
  let img: MadeImage;
  beforeAll(async () => {
    const base = files('base', 30);
    first = await makeImage(path.join(tmp, 'crash-first'), [base], 'first');
    img = await makeImage(path.join(tmp, 'crash-img'), [base, files('c1', 80), files('c2', 80), files('c3', 80)], 'img');
  });

  const points = ['layer-created', 'layer-applied', 'layer-staged', 'layer-recording', 'tar-split-written', 'layer-recorded', 'config-written'];
  for (const point of points) {
    it(`at ${point}: nothing of it is listed, check --repair removes what it left, a retry imports it`, async () => {
      const root = path.join(tmp, `crash-${point}`);
      const st0 = await Store.open({ root, driver: 'aufs' });
      await importFrom(st0, first.dir, { tags: ['first:1'] });
      await st0.close();

      const r = await worker('import', root, [img.dir, 'img:1'], { env: { UFS_CRASH_AT: point } });
      expect(r.signal).toBe('SIGKILL');

      const st = await Store.open({ root });
      try {
        // Only what was there before is visible.
        expect((await st.layers()).map((l) => l.chainID)).toEqual([first.chainIDs[0]]);
        expect((await st.images()).map((i) => i.tags)).toEqual([['first:1']]);
        await expect(st.image('img:1')).rejects.toMatchObject({ code: 'ENOENT' });
        const report = await st.check();
        expect(report.ok).toBe(false);
        expect(report.problems).toEqual([]);
        const kinds = new Set(report.leftovers.map((l) => l.kind));
        expect(kinds.has('stale-staging')).toBe(true);
        if (['layer-recorded', 'config-written'].includes(point)) expect(kinds.has('unfinished-import')).toBe(true);
        const repaired = await st.check({ repair: true });
        expect(repaired).toMatchObject({ ok: true, problems: [] });
        await expectClean(st);
        // The layer the import reused is untouched, and the image imports in full on a retry.
        expect((await st.image('first:1')).layers).toEqual(first.chainIDs);
        const again = await importFrom(st, img.dir, { tags: ['img:1'] });
        expect(again).toMatchObject({ layersImported: 3, layersReused: 1 });
        await expectClean(st);
      } finally {
        await st.close();
      }
    });
  }

  it('an interrupted import retried before any repair reuses its finished layers and clears their mark', async () => {
    const root = path.join(tmp, 'crash-retry');
    (await Store.open({ root, driver: 'aufs' })).close();
    const r = await worker('import', root, [img.dir, 'img:1'], { env: { UFS_CRASH_AT: 'config-written' } });
    expect(r.signal).toBe('SIGKILL');
    const st = await Store.open({ root });
    try {
      expect(await st.layers()).toEqual([]);
      const again = await importFrom(st, img.dir, { tags: ['img:1'] });
      expect(again).toMatchObject({ layersImported: 0, layersReused: 4 });
      expect((await st.layers()).length).toBe(4);
      const report = await st.check({ repair: true });
      expect(report.ok).toBe(true);
      await expectClean(st);
      expect((await st.layers()).length).toBe(4);
    } finally {
      await st.close();
    }
  });
});

describe('a digest mismatch in the middle layer of a concurrent import', () => {
  for (const driver of ['aufs', 'vfs']) {
    it(`${driver}: fails with EINTEGRITY and leaves no layer of the import behind (what was there before stays)`, async () => {
      const base = files('base', 30);
      const before = await makeImage(path.join(tmp, `mm-before-${driver}`), [base], 'before');
      const img = await makeImage(path.join(tmp, `mm-img-${driver}`), [base, files('m1', 60), files('m2', 60), files('m3', 60), files('m4', 60)], 'img');
      await corruptBlob(img, 2, await tree(path.join(tmp, `mm-other-${driver}`), files('other', 60)));
      const st = await Store.open({ root: path.join(tmp, `mismatch-${driver}`), driver });
      try {
        await importFrom(st, before.dir, { tags: ['before:1'] });
        const had = (await st.layers()).map((l) => l.chainID);
        await expect(importFrom(st, img.dir, { tags: ['img:1'] })).rejects.toMatchObject({ code: 'EINTEGRITY' });
        expect((await st.layers()).map((l) => l.chainID)).toEqual(had);
        expect((await st.images()).map((i) => i.tags)).toEqual([['before:1']]);
        await expectClean(st);
      } finally {
        await st.close();
      }
    });
  }
});

describe('a layer staged on a parent', () => {
  it('keeps its parent pinned: removing the parent fails with EBUSY until the layer is recorded', async () => {
    const st = await Store.open({ root: path.join(tmp, 'pinned'), driver: 'aufs' });
    try {
      const base = await st.createLayer(null, PassThroughOf(tarOf(await tree(path.join(tmp, 'pin-src', 'base'), files('pb', 5)))));
      const body = tarOf(await tree(path.join(tmp, 'pin-src', 'child'), files('pc', 5)));
      const slow = new PassThrough();
      slow.write(body.subarray(0, 1024));
      const child = st.createLayer(base.chainID, slow);
      // Wait until the child is staged on the base, then try to remove the base.
      for (let i = 0; i < 2000 && (await scanStaging(st.root)).staged.size === 0; i++) await new Promise((r) => setTimeout(r, 5));
      await expect(st.removeLayer(base.chainID)).rejects.toMatchObject({ code: 'EBUSY' });
      slow.end(body.subarray(1024));
      const c = await child;
      expect(c.parent).toBe(base.chainID);
      expect(c.chainID).toBe(chainIDs([base.diffID, sha256(body)])[1] as Digest);
      await st.removeLayer(c.chainID);
      await st.removeLayer(base.chainID);
      await expectClean(st);
    } finally {
      await st.close();
    }
  });
});

describe('two imports of one image racing', () => {
  it('the one whose parent the other recorded first stages that layer again on the recorded parent; one copy of each layer', async () => {
    const st = await Store.open({ root: path.join(tmp, 'race'), driver: 'aufs' });
    try {
      const tars = [0, 1].map((i) => tarOf(tree_(path.join(tmp, 'race-src', `r${i}`))));
      const diffIDs = tars.map((t) => sha256(t));
      const chains = chainIDs(diffIDs);
      const opens = { a: [0, 0], b: [0, 0] };
      let aDone!: () => void;
      const aFinished = new Promise<void>((r) => (aDone = r));
      const stream = (t: Buffer, wait: Promise<unknown> | null): Readable => {
        const out = new PassThrough();
        out.write(t.subarray(0, 512));
        void (wait ?? Promise.resolve()).then(() => out.end(t.subarray(512)));
        return out;
      };
      const bRecordedFirst = async (): Promise<void> => {
        for (;;) {
          if (await st.layer(chains[0]!).then(() => true, () => false)) return;
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const a = await st.beginImport();
      const b = await st.beginImport();
      try {
        const pa = a.createLayers(tars.map((t, i) => ({ chainID: chains[i]!, open: async () => {
          opens.a[i]!++;
          return stream(t, i === 0 ? bRecordedFirst() : null);
        } })));
        const pb = b.createLayers(tars.map((t, i) => ({ chainID: chains[i]!, open: async () => {
          opens.b[i]!++;
          return stream(t, i === 1 ? aFinished : null);
        } })));
        const ra = await pa;
        aDone();
        const rb = await pb;
        expect(ra).toMatchObject({ imported: 1, reused: 1 });
        expect(rb).toMatchObject({ imported: 1, reused: 1 });
        // A staged its second layer on its own first one, which lost: it staged it again on B's.
        expect(opens).toEqual({ a: [1, 2], b: [1, 1] });
        expect(ra.records.map((r) => r.cacheID)).toEqual(rb.records.map((r) => r.cacheID));
        await st.addImage(jsonBytes(newImageConfig(diffIDs)), ['race:1']);
      } finally {
        await a.close();
        await b.close();
      }
      expect((await st.layers()).map((l) => l.chainID).sort()).toEqual([...chains].sort());
      await expectClean(st);
    } finally {
      await st.close();
    }
  });
});

function tree_(dir: string): string {
  const f = files(path.basename(dir), 10);
  for (const [p, v] of Object.entries(f)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), v);
  }
  return dir;
}
