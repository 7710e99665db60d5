// The engine's oracle through the mount: random operation sequences (test/oracle) run with plain
// node:fs from this process on a ufsmount and on the kernel overlayfs (index=on,redirect_dir=on)
// over identical layers, step by step, with equal outcomes and equal final trees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import fc from 'fast-check';
import { copyTree, type WhiteoutFormatName } from '../oracle/layers.js';
import { opsArb, type OwnedTarget } from '../oracle/ops.js';
import { kernelOverlaySupport, makeKernelTarget, removeBase, tempBase } from '../oracle/kernel.js';
import { runComparison } from '../oracle/compare.js';
import { FixtureCache } from '../oracle/fixtures.js';
import { canMount, mountedType, NODE_ARGS, run } from './helpers.js';

const support = await kernelOverlaySupport();
const skip = !canMount || !support.ok;
const why = !canMount ? ' (skipped: needs root, /dev/fuse and libfuse2)' : support.ok ? '' : ` (skipped: ${support.reason})`;
const SEEDS = 6;
/** Property runs per format; ORACLE_RUNS=500 for a longer hunt by hand. */
const RUNS = Number(process.env.ORACLE_RUNS ?? 30);

/** The mount server child (test/fuse/mount-server.ts): one process serving every mount of this file. */
class MountServer {
  private readonly child: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, (r: { ok: boolean; error?: string }) => void>();

  constructor() {
    const script = path.join(path.dirname(NODE_ARGS[2]!), '..', '..', 'test', 'fuse', 'mount-server.ts');
    this.child = spawn(process.execPath, [NODE_ARGS[0]!, NODE_ARGS[1]!, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as { id: number; ok: boolean; error?: string };
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  private request(body: object): Promise<void> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve() : reject(new Error(r.error))));
      this.child.stdin!.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  mount(args: string[]): Promise<void> {
    return this.request({ cmd: 'mount', args });
  }

  unmount(mountpoint: string): Promise<void> {
    return this.request({ cmd: 'unmount', mountpoint });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    await exited;
  }
}

let server: MountServer | undefined;
const cache = new FixtureCache(3);
beforeAll(() => {
  if (!skip) server = new MountServer();
});
afterAll(async () => {
  await server?.stop();
  await cache.dispose();
});

/** A ufsmount over fresh copies of `templates` (topmost first), driven with node:fs from here. */
async function makeMountTarget(templates: string[], whiteout: WhiteoutFormatName): Promise<OwnedTarget> {
  const base = await tempBase('ufs-oracle-fuse-');
  const lower = templates.map((_, i) => path.join(base, `l${i}`));
  const upper = path.join(base, 'upper');
  const work = path.join(base, 'work');
  const mnt = path.join(base, 'mnt');
  try {
    for (const d of [...lower, upper, work, mnt]) await fsp.mkdir(d);
    for (let i = 0; i < templates.length; i++) await copyTree(templates[i]!, lower[i]!);
    await server!.mount(['-o', `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work},whiteout=${whiteout}`, mnt]);
  } catch (e) {
    if (mountedType(mnt)) await run('umount', ['-l', mnt]);
    await removeBase(base);
    throw e;
  }
  return {
    label: `ufsmount (${whiteout})`,
    fs: fsp,
    p: (rel: string) => (rel === '' ? mnt : path.join(mnt, rel)),
    async cleanup() {
      await server!.unmount(mnt);
      await removeBase(base);
    },
  };
}

const mount = (seed: number, format: WhiteoutFormatName) => async () => makeMountTarget(await cache.layers(seed, format), format);
const kernel = (seed: number, format: WhiteoutFormatName) => async () =>
  makeKernelTarget(await cache.layers(seed, format === 'aufs' ? 'aufs-converted' : 'overlay'));

describe.each(['overlay', 'aufs'] as const)('ufsmount against the kernel overlayfs, %s whiteouts', (format) => {
  it.skipIf(skip)(`shows the kernel's merged tree of every fixture${why}`, async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = await runComparison([{ op: 'readdir', path: '' }], mount(seed, format), kernel(seed, format), { context: `${format} fixture seed ${seed}` });
      expect(r.outcomes).toHaveLength(1);
    }
  });

  it.skipIf(skip)(`property: random operation sequences give the kernel's outcomes and final tree${why}`, async () => {
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: SEEDS - 1 }), opsArb(14), async (seed, ops) => {
        const r = await runComparison(ops, mount(seed, format), kernel(seed, format), { context: `${format} fixture seed ${seed}` });
        steps += r.outcomes.length;
      }),
      { numRuns: RUNS },
    );
    expect(steps).toBeGreaterThan(RUNS);
  }, 60_000 + RUNS * 2_000);
});
