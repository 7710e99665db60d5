// The import suite's targets, each unpacking the same OCI image into a fresh output: GNU tar (the
// floor: the gzip blobs, and the plain tars, in order, whiteouts not applied), `umoci unpack`,
// `skopeo copy` (blob copying only) and ufs's in-process import into a fresh store per driver.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../lib/store/store.js';
import { importFrom } from '../../lib/layers/image-transfer.js';
import { availability } from '../../lib/drivers/index.js';
import { bash, must, shq, timeCommand } from '../mount/proc.js';
import { since } from '../lib/stats.js';
import type { ImportImage } from './data.js';
import { compareManifests, comparePaths, manifestOf, manifestOfDir } from './manifest.js';

export interface ImportTarget {
  id: string;
  label: string;
  role: 'floor' | 'reference' | 'subject';
  /** What the figure does and does not include, shown with the row. */
  note?: string;
  method: 'process' | 'loop';
  /** Null when it can run here (probed under `probe`), or why not. */
  unavailable(probe: string): Promise<string | null>;
  /** One whole run into `out` (which does not exist yet); resolves with its wall time in seconds. */
  run(img: ImportImage, out: string): Promise<number>;
  /** Null when the output of a run is right, else what is wrong. */
  check(img: ImportImage, out: string): Promise<string | null>;
}

const isRoot = process.getuid?.() === 0;

async function haveCmd(name: string): Promise<string | null> {
  const r = await bash(`command -v ${name}`);
  return r.code === 0 ? null : `${name} is not installed`;
}

function tarTarget(id: string, label: string, role: 'floor' | 'reference', files: (img: ImportImage) => string[], flags: string, floorOf: string): ImportTarget {
  return {
    id,
    label,
    role,
    method: 'process',
    note: `\`tar ${flags}\` of each layer in order into one new directory: whiteouts are extracted as plain \`.wh.\` files, not applied (so the tree is not the image's); a floor for ${floorOf}`,
    unavailable: async () => {
      const r = await bash('tar --version');
      return r.code === 0 && r.stdout.includes('GNU tar') ? null : 'GNU tar is not installed';
    },
    run: (img, out) => timeCommand(`mkdir ${shq(out)} && ${files(img).map((f) => `tar ${flags} ${shq(f)} -C ${shq(out)}`).join(' && ')}`),
    // Every path of the image is there (the whiteouts' victims and `.wh.` files too, which is expected).
    check: async (img, out) => comparePaths(await manifestOfDir(out), img.expected),
  };
}

const umoci: ImportTarget = {
  id: 'umoci',
  label: 'umoci unpack',
  role: 'reference',
  method: 'process',
  note: `\`umoci unpack${isRoot ? '' : ' --rootless'} --image LAYOUT:tag BUNDLE\` (a new bundle: rootfs, config.json and umoci's mtree manifest)`,
  unavailable: () => haveCmd('umoci'),
  run: (img, out) => timeCommand(`umoci unpack${isRoot ? '' : ' --rootless'} --image ${shq(`${img.layout}:${img.tag}`)} ${shq(out)}`),
  check: async (img, out) => compareManifests(await manifestOfDir(path.join(out, 'rootfs')), img.expected),
};

const skopeo: ImportTarget = {
  id: 'skopeo',
  label: 'skopeo copy (blobs only)',
  role: 'reference',
  method: 'process',
  note: '`skopeo copy oci:LAYOUT:tag oci:OTHER:tag` into a new layout: copies and verifies the blobs, unpacks nothing (a reference for pure blob copying)',
  unavailable: () => haveCmd('skopeo'),
  run: (img, out) => timeCommand(`skopeo copy --quiet ${shq(`oci:${img.layout}:${img.tag}`)} ${shq(`oci:${out}:${img.tag}`)}`),
  check: async (img, out) => {
    const have = new Set(await fsp.readdir(path.join(out, 'blobs', 'sha256')).catch(() => [] as string[]));
    const missing = img.blobs.filter((b) => !have.has(path.basename(b)));
    return missing.length ? `${missing.length} of the ${img.blobs.length} layer blobs are not in the copy` : null;
  },
};

const availabilityCache = new Map<string, Promise<Map<string, string | null>>>();

function driverReasons(probe: string): Promise<Map<string, string | null>> {
  let p = availabilityCache.get(probe);
  if (!p) {
    p = (async () => {
      await fsp.mkdir(probe, { recursive: true });
      return new Map((await availability(probe)).map((a) => [a.name, a.reason]));
    })();
    availabilityCache.set(probe, p);
  }
  return p;
}

function ufsTarget(driver: 'overlay' | 'aufs' | 'vfs'): ImportTarget {
  return {
    id: `ufs-${driver}`,
    label: `ufs import (${driver})`,
    role: 'subject',
    method: 'loop',
    note: `in-process \`Store.open\` of a new store (driver ${driver}) + \`importFrom(store, LAYOUT, { ref })\` + \`close\`, what \`ufs image import\` does without the process start; digests verified while streaming`,
    unavailable: async (probe) => {
      const reasons = await driverReasons(probe);
      if (!reasons.has(driver)) return `the ${driver} driver is not registered`;
      return reasons.get(driver) ?? null;
    },
    run: async (img, out) => {
      const t = process.hrtime.bigint();
      const store = await Store.open({ root: out, driver });
      try {
        await importFrom(store, img.layout, { ref: img.tag, tags: [`bench/${img.tag}:latest`] });
      } finally {
        await store.close();
      }
      return since(t);
    },
    check: async (img, out) => {
      const store = await Store.open({ root: out, driver, create: false });
      try {
        const ref = `bench/${img.tag}:latest`;
        const view = await store.mountImage(ref);
        try {
          if (view.path) return compareManifests(await manifestOfDir(view.path), img.expected);
          const u = view.fs;
          if (!u) return 'the view has neither a path nor a UnionFs';
          return compareManifests(await manifestOf({ readdir: (p) => u.readdir(p), lstat: (p) => u.lstat(p) }, '/'), img.expected);
        } finally {
          await store.releaseImage(ref);
        }
      } finally {
        await store.close();
      }
    },
  };
}

/** Every target, in table order: the floors, the references, then ufs. */
export function importTargets(): ImportTarget[] {
  return [
    tarTarget('tar-gz', 'tar -xzf (floor)', 'floor', (img) => img.blobs, '-xzf', 'decompressing and writing the files'),
    tarTarget('tar', 'tar -xf, uncompressed', 'reference', (img) => img.tars, '-xf', 'writing the files (the layers decompressed beforehand, untimed)'),
    umoci,
    skopeo,
    ufsTarget('overlay'),
    ufsTarget('aufs'),
    ufsTarget('vfs'),
  ];
}

/** Removes a run's output (an overlay store's kernel mounts are gone once its Store is closed). */
export async function removeOutput(out: string): Promise<void> {
  await fsp.rm(out, { recursive: true, force: true });
  await must('sync');
}
