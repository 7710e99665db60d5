// The in-process benchmarks' data sets, built on disk: stacks of 1/5/20/100 layers for lookups, and
// a 5-layer "work" stack holding everything the read, write and copy-up benchmarks use, each with
// the flat directory of its merged contents (the node:fs floor).
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LayerWriter, pad, range } from '../lib/files.js';

export interface MicroSizes {
  depths: number[];
  /** Files in usr/lib of every layer of the lookup stacks (so the directory is merged at every depth). */
  filesPerLayer: number;
  /** Entries in big/ of each of the work stack's 5 layers (10,000 in all). */
  readdirPerLayer: number;
  /** The lower file the 4 KiB and 1 MiB reads go to. */
  readFileBytes: number;
  smallFiles: number;
  /** Lower files for one-shot operations: each timed iteration consumes one. */
  copyUp1m: number;
  copyUp64m: number;
  copyUp64mBytes: number;
  chmods: number;
  unlinks: number;
  renames: number;
  /** Files in each directory that is renamed. */
  renameDirFiles: number;
}

export const QUICK_SIZES: MicroSizes = {
  depths: [1, 5, 20, 100],
  filesPerLayer: 4,
  readdirPerLayer: 2000,
  readFileBytes: 16 << 20,
  smallFiles: 500,
  copyUp1m: 15,
  copyUp64m: 3,
  copyUp64mBytes: 64 << 20,
  chmods: 40,
  unlinks: 40,
  renames: 20,
  renameDirFiles: 10,
};

export const FULL_SIZES: MicroSizes = {
  depths: [1, 5, 20, 100],
  filesPerLayer: 10,
  readdirPerLayer: 2000,
  readFileBytes: 256 << 20,
  smallFiles: 1000,
  copyUp1m: 60,
  copyUp64m: 10,
  copyUp64mBytes: 64 << 20,
  chmods: 300,
  unlinks: 300,
  renames: 100,
  renameDirFiles: 10,
};

/** A stack of layer directories (topmost first) and the flat directory of its merged view. */
export interface Stack {
  name: string;
  layers: string[];
  flat: string;
}

export interface MicroData {
  sizes: MicroSizes;
  /** Lookup stacks by depth. */
  lookup: Map<number, Stack>;
  work: Stack;
}

/** Path (relative to a layer root) of the file stat'ed at the bottom of every lookup stack. */
export const TARGET_REL = 'usr/lib/target.so';
export const MISSING_REL = 'usr/lib/missing.so';

/** The work stack's layout: which names each benchmark uses (relative paths, no leading slash). */
export const WORK = {
  readdir: 'big',
  readFile: 'data/read.bin',
  small: (i: number) => `small/s${pad(i, 5)}`,
  cu1m: (i: number) => `cu1m/f${pad(i, 4)}`,
  cu64m: (i: number) => `cu64m/f${pad(i, 4)}`,
  chmod: (i: number) => `chmod/f${pad(i, 5)}`,
  unlink: (i: number) => `unlink/f${pad(i, 5)}`,
  rename: (i: number) => `rename/d${pad(i, 5)}`,
  createDir: 'new',
};

async function lookupStack(base: string, depth: number, s: MicroSizes): Promise<Stack> {
  const root = path.join(base, `lookup-${depth}`);
  const flat = path.join(root, 'flat');
  const layers = range(depth).map((i) => path.join(root, `L${pad(i, 3)}`));
  // Bottom first, so the flat copy ends up as the merged view.
  for (let i = depth - 1; i >= 0; i--) {
    const w = new LayerWriter(layers[i]!, flat);
    await w.many('usr/lib', range(s.filesPerLayer).map((j) => `lib${pad(i, 3)}-${j}.so`), 64, i);
    await w.dir('etc');
    if (i === depth - 1) await w.file(TARGET_REL, 4096, 1);
  }
  return { name: `lookup-${depth}`, layers, flat };
}

async function workStack(base: string, s: MicroSizes): Promise<Stack> {
  const root = path.join(base, 'work');
  const flat = path.join(root, 'flat');
  const layers = range(5).map((i) => path.join(root, `L${i}`));
  const bottom = 4;
  for (let i = bottom; i >= 0; i--) {
    const w = new LayerWriter(layers[i]!, flat);
    await w.many(WORK.readdir, range(s.readdirPerLayer).map((j) => `e${i}-${pad(j, 5)}`));
    await w.dir('small');
    for (let k = i; k < s.smallFiles; k += 5) await w.file(WORK.small(k), 1024, k);
    if (i === bottom) {
      await w.file(WORK.readFile, s.readFileBytes, 3);
      await w.dir(WORK.createDir);
    }
    // One-shot files sit in the upper lower layers, so a vfs driver copies them as few times as possible.
    if (i === 0) {
      for (let k = 0; k < s.copyUp1m; k++) await w.file(WORK.cu1m(k), 1 << 20, k);
      for (let k = 0; k < s.copyUp64m; k++) await w.file(WORK.cu64m(k), s.copyUp64mBytes, k);
    }
    if (i === 1) for (let k = 0; k < s.chmods; k++) await w.file(WORK.chmod(k), 4096, k);
    if (i === 2) await w.many('unlink', range(s.unlinks).map((k) => `f${pad(k, 5)}`), 1024, 5);
    if (i === 3) {
      for (let k = 0; k < s.renames; k++) {
        await w.many(WORK.rename(k), range(s.renameDirFiles).map((j) => `x${j}`), 512, k);
      }
    }
  }
  return { name: 'work', layers, flat };
}

/** Builds every micro data set under `base` (which must be empty or missing). */
export async function buildMicroData(base: string, sizes: MicroSizes, depths: number[], work: boolean): Promise<MicroData> {
  await fsp.mkdir(base, { recursive: true });
  const lookup = new Map<number, Stack>();
  for (const d of depths) lookup.set(d, await lookupStack(base, d, sizes));
  const ws = work ? await workStack(base, sizes) : { name: 'work', layers: [], flat: '' };
  return { sizes, lookup, work: ws };
}
