// OCI layouts for the import tests, made with GNU tar (reproducible flags, so equal trees give equal
// diffIDs and images can share layers) and the project's OciLayout writer.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { OciLayout } from '../../lib/layers/oci-layout.js';
import { newImageConfig, type Descriptor } from '../../lib/layers/image-config.js';
import { chainIDs, sha256, type Digest } from '../../lib/layers/digest.js';
import { tree } from './helpers.js';

/** A layer tree's uncompressed tar, byte for byte the same for the same tree. */
export function tarOf(dir: string): Buffer {
  return execFileSync('tar', ['-C', dir, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
}

/** Files of a layer: `count` files of `size` bytes under `prefix`. */
export function files(prefix: string, count: number, size = 4096): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < count; i++) out[`${prefix}/d${i % 8}/f${i}`] = `${prefix} ${i}\n`.repeat(Math.ceil(size / (prefix.length + 8))).slice(0, size);
  return out;
}

export interface MadeImage {
  dir: string;
  diffIDs: Digest[];
  chainIDs: Digest[];
  blobs: Descriptor[];
}

/** Writes an OCI layout at `dir` holding one image of `layers` (bottom first), named `ref`. */
export async function makeImage(dir: string, layers: Record<string, string>[], ref = 'latest'): Promise<MadeImage> {
  const layout = await OciLayout.create(dir);
  const blobs: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  for (const [i, f] of layers.entries()) {
    const src = await tree(`${dir}.src/${i}`, f);
    const tar = tarOf(src);
    const w = await layout.writeLayer({ open: () => Readable.from([tar]), diffID: sha256(tar) }, { compression: 'gzip' });
    blobs.push(w.descriptor);
    diffIDs.push(w.diffID);
  }
  await layout.writeManifest(newImageConfig(diffIDs, { created: new Date(0) }), blobs, { ref });
  return { dir, diffIDs, chainIDs: chainIDs(diffIDs), blobs };
}

/** Replaces a layer blob of a layout with a valid gzip of another tar: its digest no longer matches. */
export async function corruptBlob(img: MadeImage, index: number, otherTree: string): Promise<void> {
  const d = img.blobs[index]!.digest;
  const file = path.join(img.dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  await fs.chmod(file, 0o644).catch(() => undefined);
  await fs.writeFile(file, gzipSync(tarOf(otherTree)));
}
