// DirPrefetcher (lib/fuse/prefetch.ts) over a real union on disk: after a listing, which
// directories it reads ahead (subdirectories only, two levels, each once, at most 512 queued), that
// it yields to other work between directories, and that stop() ends it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnionFs } from '../../lib/index.js';
import { DirPrefetcher, type PrefetchEntry } from '../../lib/fuse/prefetch.js';

let base = '';
let union: UnionFs;

beforeAll(async () => {
  base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-prefetch-'));
  const lower = path.join(base, 'lower');
  // /a/b/c/d (four levels), /a/f (a file), /e (a directory), /wide/w0..w599 (many subdirectories)
  await fsp.mkdir(path.join(lower, 'a/b/c/d'), { recursive: true });
  await fsp.writeFile(path.join(lower, 'a/f'), 'x');
  await fsp.mkdir(path.join(lower, 'e'));
  for (let i = 0; i < 600; i++) await fsp.mkdir(path.join(lower, 'wide', `w${i}`), { recursive: true });
  union = await UnionFs.open({ lowerdir: [lower] });
});
afterAll(async () => {
  await union?.close();
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/** A prefetcher that records what it lists; `idle()` resolves once its queue is empty. */
function recording(onList = (): void => undefined): { p: DirPrefetcher; listed: string[]; idle: () => Promise<void> } {
  const listed: string[] = [];
  let last = Date.now();
  const p = new DirPrefetcher(async (dir) => {
    listed.push(dir);
    onList();
    last = Date.now();
    return union.readdirPlus(dir);
  });
  const idle = async (): Promise<void> => {
    last = Date.now();
    while (Date.now() - last < 200) await new Promise((r) => setTimeout(r, 50));
  };
  return { p, listed, idle };
}

const root = async (): Promise<PrefetchEntry[]> => union.readdirPlus('/');

describe('DirPrefetcher', () => {
  it('reads the subdirectories of a listing, two levels down, each once', async () => {
    const { p, listed, idle } = recording();
    const top = (await root()).filter((e) => e.name !== 'wide');
    p.listed('/', top);
    await idle();
    expect(listed.sort()).toEqual(['/a', '/a/b', '/e']);
    p.listed('/', top);                 // listed again: nothing read again
    await idle();
    expect(listed.length).toBe(3);
    p.listed('/a/b', await union.readdirPlus('/a/b'));
    await idle();
    expect(listed).toContain('/a/b/c');
    expect(listed).toContain('/a/b/c/d');
    expect(listed.filter((d) => d === '/a/b').length).toBe(1);
  });

  it('queues at most 512 directories from one listing and lets other work run between them', async () => {
    let ticks = 0;
    let ticksAtLast = 0;
    const { p, listed, idle } = recording(() => (ticksAtLast = ticks));
    const wide = await union.readdirPlus('/wide');
    const timer = setInterval(() => ticks++, 0);
    p.listed('/wide', wide);
    await idle();
    clearInterval(timer);
    expect(listed.length).toBe(512);
    expect(new Set(listed).size).toBe(512);
    // timers ran between the directories it read (one per turn of the event loop)
    expect(ticksAtLast).toBeGreaterThan(5);
  });

  it('stops: nothing more is read after stop()', async () => {
    const { p, listed, idle } = recording();
    p.listed('/', await root());
    p.stop();
    await idle();
    expect(listed).toEqual([]);
    p.listed('/', await root());
    await idle();
    expect(listed).toEqual([]);
  });
});
