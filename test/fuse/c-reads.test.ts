// Reads served from the layer file's descriptor (ufs-ll: splice or pread in C, no JavaScript): the bytes of
// lower, upper and copied-up files through a live mount, a read-only handle across a copy-up, reads
// racing copy-ups (python3 reader, dd writer), and the binding's counters (UFS_FUSE_STATS) showing
// where the reads were answered. The content checks run with every binding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { binding, canMount, cleanupAll, makeLayers, mountedType, run, ufsmount, waitFor, type Layers } from './helpers.js';

afterAll(cleanupAll);

const MiB = 1 << 20;
const RACE_FILES = 12;
const RACE_SIZE = 256 * 1024;

/** Deterministic bytes: the sha256 stream of `seed`. */
function pattern(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, k = 0; i < size; k++) i += crypto.createHash('sha256').update(`${seed}:${k}`).digest().copy(out, i);
  return out;
}

// One reader and one writer per file: the reader (opened on the lower file) preads random pages with
// the page cache dropped before each read (so every read reaches the server) while dd overwrites the
// file (copying it up); each byte read must be the old or the new one, and after dd has finished,
// every read must give the new bytes. Prints {reads, readsAfter, bad}.
const RACER = `
import json, os, subprocess, sys, threading, random
mnt, data, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
reads = after = 0
bad = []
for i in range(n):
    old = open(os.path.join(data, 'a%d' % i), 'rb').read()
    new_file = os.path.join(data, 'b%d' % i)
    new = open(new_file, 'rb').read()
    p = os.path.join(mnt, 'race', 'f%d' % i)
    fd = os.open(p, os.O_RDONLY)
    done = threading.Event()
    def write():
        subprocess.run(['dd', 'if=' + new_file, 'of=' + p, 'bs=64K', 'conv=notrunc', 'status=none'], check=True)
        done.set()
    t = threading.Thread(target=write)
    t.start()
    k = 0
    while k < 40:
        finished = done.is_set()
        off = random.randrange(0, size // 4096) * 4096
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        b = os.pread(fd, 4096, off)
        reads += 1
        if finished:
            k += 1
            after += 1
            if b != new[off:off + 4096]: bad.append([i, off, 'stale after the write'])
        elif b != old[off:off + 4096] and b != new[off:off + 4096]:
            if len(b) != 4096 or any(c != x and c != y for c, x, y in zip(b, old[off:off + 4096], new[off:off + 4096])):
                bad.append([i, off, 'neither old nor new'])
    t.join()
    os.close(fd)
print(json.dumps({'reads': reads, 'readsAfter': after, 'bad': bad[:5]}))
`;

describe.skipIf(!canMount)('reads through a mount, served from the layer file', () => {
  let L: Layers;
  let m: (rel: string) => string;
  let stats: string;
  const lower = pattern('lower', 3 * MiB + 123);
  const upper = pattern('upper', 1.5 * MiB);
  const cu = pattern('copyup', 2 * MiB);

  beforeAll(async () => {
    L = await makeLayers();
    m = (rel) => path.join(L.mnt, rel);
    stats = path.join(L.base, 'stats.json');
    await fsp.writeFile(path.join(L.l2, 'big.bin'), lower);
    await fsp.writeFile(path.join(L.upper, 'up.bin'), upper);
    await fsp.writeFile(path.join(L.l2, 'cu.bin'), cu);
    await fsp.mkdir(path.join(L.l2, 'race'));
    await fsp.mkdir(path.join(L.base, 'data'));
    for (let i = 0; i < RACE_FILES; i++) {
      const a = pattern(`a${i}`, RACE_SIZE);
      await fsp.writeFile(path.join(L.l2, 'race', `f${i}`), a);
      await fsp.writeFile(path.join(L.base, 'data', `a${i}`), a);
      await fsp.writeFile(path.join(L.base, 'data', `b${i}`), pattern(`b${i}`, RACE_SIZE));
    }
    const r = await ufsmount(['-o', L.opts, L.mnt], { ...process.env, UFS_FUSE_STATS: stats });
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    if (L && mountedType(L.mnt)) await ufsmount(['-u', L.mnt]);
  });

  /** Random reads of `rel` against `want` (one open handle), then the bytes around and past the end. */
  async function checkReads(rel: string, want: Buffer): Promise<void> {
    const h = await fsp.open(m(rel), 'r');
    try {
      await fc.assert(fc.asyncProperty(fc.nat(want.length + 8192), fc.integer({ min: 1, max: 300_000 }), async (pos, len) => {
        const buf = Buffer.alloc(len);
        const { bytesRead } = await h.read(buf, 0, len, pos);
        expect(bytesRead).toBe(Math.max(0, Math.min(len, want.length - pos)));
        expect(buf.subarray(0, bytesRead).equals(want.subarray(pos, pos + bytesRead))).toBe(true);
      }), { numRuns: 150 });
      const tail = Buffer.alloc(4096);
      expect((await h.read(tail, 0, 4096, want.length - 100)).bytesRead).toBe(100);
      expect(tail.subarray(0, 100).equals(want.subarray(want.length - 100))).toBe(true);
      expect((await h.read(tail, 0, 4096, want.length)).bytesRead).toBe(0);
      expect((await h.read(tail, 0, 4096, want.length + 5000)).bytesRead).toBe(0);
    } finally {
      await h.close();
    }
    expect((await fsp.readFile(m(rel))).equals(want)).toBe(true);
  }

  it('gives the bytes of a lower file (over 1 MiB), at random offsets, to EOF and past it', async () => {
    await checkReads('big.bin', lower);
    const r = await run('bash', ['-c', `dd if="${m('big.bin')}" bs=1M status=none | cmp - "${path.join(L.l2, 'big.bin')}"`]);
    expect(r.code).toBe(0);
  });

  it('gives the bytes of an upper file', async () => {
    await checkReads('up.bin', upper);
  });

  it('keeps a read-only handle on a lower file reading the new bytes after another handle copies it up', async () => {
    const want = Buffer.from(cu);
    const reader = await fsp.open(m('cu.bin'), 'r');
    const first = Buffer.alloc(4096);
    await reader.read(first, 0, 4096, 0); // served from the lower file
    expect(first.equals(want.subarray(0, 4096))).toBe(true);
    const writer = await fsp.open(m('cu.bin'), 'r+');
    // Writes 256 KiB apart, each read back through the reader (pages it never read before: the
    // kernel asks the server) between the writes.
    for (let k = 1; k < 8; k++) {
      const at = k * 256 * 1024 + 100;
      const bytes = Buffer.from(`write ${k} `.repeat(20));
      await writer.write(bytes, 0, bytes.length, at);
      bytes.copy(want, at);
      const got = Buffer.alloc(8192);
      const { bytesRead } = await reader.read(got, 0, 8192, at - 100);
      expect(bytesRead).toBe(8192);
      expect(got.equals(want.subarray(at - 100, at - 100 + 8192))).toBe(true);
      const before = Buffer.alloc(4096);
      await reader.read(before, 0, 4096, (k - 1) * 256 * 1024 + 64 * 1024);
      expect(before.equals(want.subarray((k - 1) * 256 * 1024 + 64 * 1024, (k - 1) * 256 * 1024 + 68 * 1024))).toBe(true);
    }
    await writer.close();
    await reader.close();
    expect(fs.existsSync(path.join(L.upper, 'cu.bin'))).toBe(true);
    await checkReads('cu.bin', want);
    expect((await fsp.readFile(path.join(L.l2, 'cu.bin'))).equals(cu)).toBe(true);
  });

  it('never gives stale or foreign bytes to reads racing copy-ups', async () => {
    const r = await run('python3', ['-c', RACER, L.mnt, path.join(L.base, 'data'), String(RACE_FILES), String(RACE_SIZE)], { timeout: 120_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { reads: number; readsAfter: number; bad: unknown[] };
    expect(out.bad).toEqual([]);
    expect(out.readsAfter).toBe(RACE_FILES * 40);
    for (let i = 0; i < RACE_FILES; i++) {
      expect((await fsp.readFile(m(`race/f${i}`))).equals(await fsp.readFile(path.join(L.base, 'data', `b${i}`)))).toBe(true);
    }
  }, 150_000);

  it.runIf(binding === 'ufs-ll')('answered every read in C (the binding counters, written at unmount)', async () => {
    expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
    await waitFor(() => fs.existsSync(stats), 20_000, 'the stats file');
    const s = JSON.parse(await fsp.readFile(stats, 'utf8')) as ReadCounters;
    expect(s.readsJs).toBe(0);
    expect(s.readsC).toBeGreaterThan(RACE_FILES * 40);
    // reads of 8 KiB and more went by splice(2) (the 1 MiB dd and the big random reads: many), the
    // racers' 4 KiB preads by pread
    expect(s.readsSplice).toBeGreaterThan(20);
    expect(s.readsSplice).toBeLessThan(s.readsC - RACE_FILES * 40);
  });
});

interface ReadCounters { readsC: number; readsJs: number; readsSplice: number }

/**
 * Mounts fresh layers with `env` set, reads a 2 MiB lower file whole through the mount (its bytes
 * must be right), unmounts, and gives the binding's read counters.
 */
async function readWith(env: Record<string, string>, seed: string): Promise<ReadCounters> {
  const L = await makeLayers();
  const stats = path.join(L.base, 'stats.json');
  const want = pattern(seed, 2 * MiB + 7);
  await fsp.writeFile(path.join(L.l2, 'f.bin'), want);
  const r = await ufsmount(['-o', L.opts, L.mnt], { ...process.env, UFS_FUSE_STATS: stats, ...env });
  if (r.code !== 0) throw new Error(r.stderr);
  expect((await fsp.readFile(path.join(L.mnt, 'f.bin'))).equals(want)).toBe(true);
  expect((await ufsmount(['-u', L.mnt])).code).toBe(0);
  await waitFor(() => fs.existsSync(stats), 20_000, 'the stats file');
  return JSON.parse(await fsp.readFile(stats, 'utf8')) as ReadCounters;
}

describe.skipIf(!canMount || binding !== 'ufs-ll')('reads with UFS_FUSE_SPLICE=0', () => {
  it('are answered in C by pread, the same bytes', async () => {
    const s = await readWith({ UFS_FUSE_SPLICE: '0' }, 'nosplice');
    expect(s.readsC).toBeGreaterThan(0);
    expect(s.readsSplice).toBe(0);
  });
});

describe.skipIf(!canMount || binding !== 'ufs-ll')('reads with UFS_FUSE_JS_READS=1', () => {
  it('go to JavaScript and give the same bytes', async () => {
    const s = await readWith({ UFS_FUSE_JS_READS: '1' }, 'js');
    expect(s.readsC).toBe(0);
    expect(s.readsJs).toBeGreaterThan(0);
  });
});
