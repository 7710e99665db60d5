// The mount-level data sets: the three-layer root filesystem (rootfs.ts), a "data" stack with the
// big file and the directory of many files, and a 20-layer stack for name lookups and listings;
// each with a flat copy of its merged view (the plain-directory floor).
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LayerWriter, pad, range } from '../lib/files.js';
import { buildRootfs, type RootfsInfo } from './rootfs.js';

/** Layer directories (topmost first), in the overlay format, and the flat copy of the merged view. */
export interface MountStack {
  name: 'rootfs' | 'data' | 'stack20';
  layers: string[];
  flat: string;
}

export interface MountSizes {
  /** The big lower file: sequential and random reads, copy-up. */
  bigBytes: number;
  /** Files in the lower directory removed with rm -rf. */
  manyFiles: number;
  /** Files created by the small-file benchmark. */
  createFiles: number;
  /** Present and absent names stat'ed through the 20-layer stack. */
  statNames: number;
  /** Files each of the 19 upper layers of the 20-layer stack adds to the listed directory. */
  stackExtras: number;
  /** 4 KiB random reads per fio run. */
  randReadBytes: number;
  warmRuns: number;
  /** Warm runs are spread over this many mounts of each target (rounded up to whole runs per mount). */
  warmMounts: number;
  coldRuns: number;
  writeRuns: number;
  /** How a cold run of the big file waits after dropping the caches (see settle.ts and benches.ts). */
  coldSettle: { minMs: number; quietMs: number; maxMs: number };
}

export const QUICK_MOUNT: MountSizes = {
  bigBytes: 128 << 20,
  manyFiles: 2000,
  createFiles: 2000,
  statNames: 2000,
  stackExtras: 50,
  randReadBytes: 8 << 20,
  warmRuns: 3,
  warmMounts: 1,
  coldRuns: 2,
  writeRuns: 2,
  // A fixed second: the quick mode's big file is 128 MiB, and its figures are for development.
  coldSettle: { minMs: 1000, quietMs: 0, maxMs: 1000 },
};

export const FULL_MOUNT: MountSizes = {
  bigBytes: 1 << 30,
  manyFiles: 10000,
  createFiles: 10000,
  statNames: 10000,
  stackExtras: 500,
  randReadBytes: 64 << 20,
  warmRuns: 10,
  warmMounts: 5,
  coldRuns: 5,
  writeRuns: 5,
  coldSettle: { minMs: 3000, quietMs: 3000, maxMs: 40_000 },
};

export const BIG = 'big.bin';
export const MANY = 'many';
export const LISTED = 'd';

export interface MountData {
  stacks: Map<MountStack['name'], MountStack>;
  /** Files of names, one a line, for the stat benchmarks (relative to LISTED). */
  presentList: string;
  absentList: string;
  rootfs: RootfsInfo | null;
}

async function dataStack(base: string, s: MountSizes): Promise<MountStack> {
  const layers = range(3).map((i) => path.join(base, `L${i}`));
  const flat = path.join(base, 'flat');
  await new LayerWriter(layers[2]!, flat).file(BIG, s.bigBytes, 11);
  await new LayerWriter(layers[1]!, flat).many(MANY, range(s.manyFiles).map((i) => `m${pad(i, 6)}`), 100, 2);
  const top = new LayerWriter(layers[0]!, flat);
  await top.file('etc/hostname', 16, 3);
  return { name: 'data', layers, flat };
}

async function stack20(base: string, s: MountSizes): Promise<MountStack> {
  const layers = range(20).map((i) => path.join(base, `L${pad(i, 2)}`));
  const flat = path.join(base, 'flat');
  for (let i = 19; i >= 0; i--) {
    const w = new LayerWriter(layers[i]!, flat);
    if (i === 19) await w.many(LISTED, range(s.statNames).map((k) => `p${pad(k, 6)}`));
    else await w.many(LISTED, range(s.stackExtras).map((k) => `x${pad(i, 2)}-${pad(k, 5)}`));
  }
  return { name: 'stack20', layers, flat };
}

export async function buildMountData(base: string, s: MountSizes, which: Set<MountStack['name']>): Promise<MountData> {
  await fsp.mkdir(base, { recursive: true });
  const stacks = new Map<MountStack['name'], MountStack>();
  let rootfs: RootfsInfo | null = null;
  if (which.has('rootfs')) {
    const r = await buildRootfs(path.join(base, 'rootfs'));
    stacks.set('rootfs', r.stack);
    rootfs = r.info;
  }
  if (which.has('data')) stacks.set('data', await dataStack(path.join(base, 'data'), s));
  if (which.has('stack20')) stacks.set('stack20', await stack20(path.join(base, 'stack20'), s));
  const presentList = path.join(base, 'names-present.txt');
  const absentList = path.join(base, 'names-absent.txt');
  await fsp.writeFile(presentList, range(s.statNames).map((k) => `p${pad(k, 6)}\n`).join(''));
  await fsp.writeFile(absentList, range(s.statNames).map((k) => `a${pad(k, 6)}\n`).join(''));
  return { stacks, presentList, absentList, rootfs };
}
