// The in-process benchmarks: what each one does through a target's view of a stack. Repeatable
// operations are timed with Benchmark.js; one-shot ones (copy-up, chmod, unlink, rename) each use
// up one prepared lower object per iteration and are timed in a loop.
import type { MicroData, MicroSizes } from './data.js';
import { MISSING_REL, TARGET_REL, WORK } from './data.js';
import type { BenchHandle, MicroView } from './targets.js';

/** A repeatable operation, built (and checked once) against a view. */
export interface RepeatCase {
  op: () => Promise<unknown>;
  teardown?: () => Promise<void>;
}

export interface MicroBench {
  id: string;
  title: string;
  /** Which stack the bench runs on: a lookup stack's depth, or 'work'. */
  stack: number | 'work';
  kind: 'repeat' | 'loop';
  /** repeat: builds the operation (throws when the target gives a wrong answer). */
  prepare?: (v: MicroView, data: MicroData) => Promise<RepeatCase>;
  /** loop: how many items there are, and the timed operation on item i. */
  items?: (s: MicroSizes) => number;
  /** `floor` is true for node:fs on the flat directory (copy-up's floor is a plain copy, see docs). */
  loopOp?: (v: MicroView, i: number, floor: boolean) => Promise<unknown>;
  /** loop: checks the effect after the loop (throws when wrong). */
  verify?: (v: MicroView, data: MicroData) => Promise<void>;
}

function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

async function expectENOENT(v: MicroView, rel: string): Promise<void> {
  try {
    await v.fs.stat(v.path(rel));
  } catch (e) {
    if (isCode(e, 'ENOENT')) return;
    throw e;
  }
  throw new Error(`${rel} exists but should not`);
}

const buf4k = Buffer.alloc(4096);
const buf1m = Buffer.alloc(1 << 20);
const data1k = Buffer.alloc(1024, 0x61);

/** First write to a lower file: open for writing (copy-up), write 4 KiB at offset 0, close. */
async function firstWrite(v: MicroView, rel: string, floor: boolean): Promise<void> {
  let target = rel;
  if (floor) {
    // The floor of a copy-up: what it must do at least, copy the file, then write the copy.
    target = `${rel}.copy`;
    await (v.fs as unknown as { copyFile(a: string, b: string): Promise<void> }).copyFile(v.path(rel), v.path(target));
  }
  const h = await v.fs.open(v.path(target), 'r+');
  await h.write(buf4k, 0, 4096, 0);
  await h.close();
}

function statBench(depth: number): MicroBench {
  return {
    id: `stat-d${depth}`,
    title: `stat of a bottom-layer file, ${depth}-layer stack`,
    stack: depth,
    kind: 'repeat',
    async prepare(v) {
      const p = v.path(TARGET_REL);
      const st = (await v.fs.stat(p)) as { size: number };
      if (st.size !== 4096) throw new Error(`stat ${TARGET_REL}: size ${st.size}, expected 4096`);
      return { op: () => v.fs.stat(p) };
    },
  };
}

function enoentBench(depth: number): MicroBench {
  return {
    id: `enoent-d${depth}`,
    title: `stat of a missing name (ENOENT), ${depth}-layer stack`,
    stack: depth,
    kind: 'repeat',
    async prepare(v) {
      await expectENOENT(v, MISSING_REL);
      const p = v.path(MISSING_REL);
      return {
        op: () =>
          v.fs.stat(p).then(
            () => Promise.reject(new Error('missing name found')),
            (e: unknown) => (isCode(e, 'ENOENT') ? undefined : Promise.reject(e)),
          ),
      };
    },
  };
}

/** Every in-process benchmark for the stack depths in `depths`. */
export function microBenches(depths: number[]): MicroBench[] {
  const out: MicroBench[] = [...depths.map(statBench), ...depths.map(enoentBench)];
  out.push(
    {
      id: 'readdir-10k',
      title: 'readdir of a directory merged from 5 layers (10,000 entries)',
      stack: 'work',
      kind: 'repeat',
      async prepare(v, data) {
        const p = v.path(WORK.readdir);
        const n = (await v.fs.readdir(p)).length;
        if (n !== data.sizes.readdirPerLayer * 5) throw new Error(`readdir: ${n} entries, expected ${data.sizes.readdirPerLayer * 5}`);
        return { op: () => v.fs.readdir(p) };
      },
    },
    {
      id: 'read-4k',
      title: '4 KiB read of a lower file (open handle, sequential positions)',
      stack: 'work',
      kind: 'repeat',
      async prepare(v, data) {
        const h: BenchHandle = await v.fs.open(v.path(WORK.readFile), 'r');
        const blocks = Math.floor(data.sizes.readFileBytes / 4096);
        let k = 0;
        return { op: () => h.read(buf4k, 0, 4096, (k++ % blocks) * 4096), teardown: () => h.close() };
      },
    },
    {
      id: 'read-1m',
      title: '1 MiB read of a lower file (open handle, sequential positions)',
      stack: 'work',
      kind: 'repeat',
      async prepare(v, data) {
        const h: BenchHandle = await v.fs.open(v.path(WORK.readFile), 'r');
        const blocks = Math.floor(data.sizes.readFileBytes / (1 << 20));
        let k = 0;
        return { op: () => h.read(buf1m, 0, 1 << 20, (k++ % blocks) << 20), teardown: () => h.close() };
      },
    },
    {
      id: 'open-read-close',
      title: 'open + read + close of a small (1 KiB) lower file',
      stack: 'work',
      kind: 'repeat',
      async prepare(v, data) {
        const n = data.sizes.smallFiles;
        let k = 0;
        return {
          async op() {
            const h = await v.fs.open(v.path(WORK.small(k++ % n)), 'r');
            await h.read(buf4k, 0, 4096, 0);
            await h.close();
          },
        };
      },
    },
    {
      id: 'create-small',
      title: 'create + write 1 KiB + close of a new file',
      stack: 'work',
      kind: 'repeat',
      async prepare(v) {
        let k = 0;
        return {
          async op() {
            const h = await v.fs.open(v.path(`${WORK.createDir}/c${k++}`), 'wx');
            await h.write(data1k, 0, 1024, 0);
            await h.close();
          },
        };
      },
    },
    {
      id: 'copyup-1m',
      title: 'first write to a 1 MiB lower file (copy-up)',
      stack: 'work',
      kind: 'loop',
      items: (s) => s.copyUp1m,
      loopOp: (v, i, floor) => firstWrite(v, WORK.cu1m(i), floor),
    },
    {
      id: 'copyup-64m',
      title: 'first write to a 64 MiB lower file (copy-up)',
      stack: 'work',
      kind: 'loop',
      items: (s) => s.copyUp64m,
      loopOp: (v, i, floor) => firstWrite(v, WORK.cu64m(i), floor),
    },
    {
      id: 'chmod',
      title: 'chmod of a 4 KiB lower file (metadata copy-up)',
      stack: 'work',
      kind: 'loop',
      items: (s) => s.chmods,
      loopOp: (v, i) => v.fs.chmod(v.path(WORK.chmod(i)), 0o600),
      async verify(v) {
        const st = (await v.fs.stat(v.path(WORK.chmod(1)))) as { mode: number };
        if ((st.mode & 0o777) !== 0o600) throw new Error(`chmod did not take: mode ${(st.mode & 0o777).toString(8)}`);
      },
    },
    {
      id: 'unlink',
      title: 'unlink of a lower file (whiteout)',
      stack: 'work',
      kind: 'loop',
      items: (s) => s.unlinks,
      loopOp: (v, i) => v.fs.unlink(v.path(WORK.unlink(i))),
      verify: (v) => expectENOENT(v, WORK.unlink(1)),
    },
    {
      id: 'rename-dir',
      title: 'rename of a lower directory (holding 10 files)',
      stack: 'work',
      kind: 'loop',
      items: (s) => s.renames,
      loopOp: (v, i) => v.fs.rename(v.path(WORK.rename(i)), v.path(`${WORK.rename(i)}-moved`)),
      async verify(v, data) {
        await expectENOENT(v, WORK.rename(1));
        const n = (await v.fs.readdir(v.path(`${WORK.rename(1)}-moved`))).length;
        const want = data.sizes.renameDirFiles;
        if (n !== want) throw new Error(`renamed directory holds ${n} entries, expected ${want}`);
      },
    },
  );
  return out;
}
