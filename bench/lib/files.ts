// Deterministic file contents and tree writing for the data sets: every byte comes from a seeded
// generator, so two runs (or two machines) build the same layers.
import fsp from 'node:fs/promises';
import path from 'node:path';

const BLOCK = 1 << 20;
const blocks = new Map<number, Buffer>();

/** A 1 MiB block of pseudo-random bytes (xorshift32 from `seed`), cached per seed. */
export function block(seed: number): Buffer {
  let b = blocks.get(seed);
  if (b) return b;
  b = Buffer.allocUnsafe(BLOCK);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < BLOCK; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  blocks.set(seed, b);
  return b;
}

/** `size` bytes of content for file number `seed` (small files get a distinct slice). */
export function content(size: number, seed: number): Buffer {
  const b = block(seed % 8);
  if (size <= BLOCK) {
    const off = (seed * 4099) % (BLOCK - size + 1);
    return b.subarray(off, off + size);
  }
  return b;
}

/** Writes a file of `size` deterministic bytes, creating parent directories. */
export async function writeFileOfSize(file: string, size: number, seed: number, mode = 0o644): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  if (size <= BLOCK) {
    await fsp.writeFile(file, content(size, seed), { mode });
    return;
  }
  const fh = await fsp.open(file, 'w', mode);
  try {
    const b = block(seed % 8);
    for (let pos = 0; pos < size; pos += BLOCK) await fh.write(b, 0, Math.min(BLOCK, size - pos), pos);
  } finally {
    await fh.close();
  }
}

/**
 * Writes files into a layer directory and, the same bytes, into the flat directory that shows what
 * the merged view holds (the floor's copy). Layers are written bottom first, so a later write wins.
 */
export class LayerWriter {
  constructor(
    readonly layer: string,
    readonly flat: string | null,
  ) {}

  async file(rel: string, size: number, seed: number, mode = 0o644): Promise<void> {
    await writeFileOfSize(path.join(this.layer, rel), size, seed, mode);
    if (this.flat) {
      const to = path.join(this.flat, rel);
      await fsp.mkdir(path.dirname(to), { recursive: true });
      await fsp.copyFile(path.join(this.layer, rel), to);
      await fsp.chmod(to, mode);
    }
  }

  async dir(rel: string): Promise<void> {
    await fsp.mkdir(path.join(this.layer, rel), { recursive: true });
    if (this.flat) await fsp.mkdir(path.join(this.flat, rel), { recursive: true });
  }

  /** Many empty (or tiny) files in one directory, written with bounded concurrency. */
  async many(relDir: string, names: string[], size = 0, seedBase = 0): Promise<void> {
    await this.dir(relDir);
    const data = content(size, seedBase);
    const targets = [this.layer, ...(this.flat ? [this.flat] : [])];
    const width = 64;
    for (let i = 0; i < names.length; i += width) {
      await Promise.all(names.slice(i, i + width).flatMap((n) => targets.map((t) => fsp.writeFile(path.join(t, relDir, n), data))));
    }
  }
}

/** Zero-padded decimal: pad(7, 5) = '00007'. */
export function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
