// `ufs system df`: what the store's images, layers and containers take: per image its size, the
// part shared with other images and its unique part (as `docker system df -v` shows).
import type { Digest } from '../layers/digest.js';
import { diskUsage } from '../drivers/tree-ops.js';
import type { StoreInternals } from './store.js';

export interface ImageUsage {
  id: Digest;
  tags: string[];
  /** Sum of its layers' sizes. */
  size: number;
  /** The part in layers other images use too. */
  shared: number;
  /** The part in layers only this image uses. */
  unique: number;
  containers: number;
}

export interface ContainerUsage {
  id: string;
  name: string;
  image: Digest;
  /** Bytes of data in its read-write layer. */
  size: number;
}

export interface DiskFree {
  images: ImageUsage[];
  containers: ContainerUsage[];
  layers: { count: number; size: number };
  /** Bytes on disk under the driver's home (a vfs store holds full copies), null for memory. */
  driverDiskUsage: number | null;
}

export async function diskFree(s: StoreInternals): Promise<DiskFree> {
  return s.read(async (m) => {
    const usedBy = new Map<string, number>();
    for (const img of Object.values(m.images)) for (const l of img.layers) usedBy.set(l, (usedBy.get(l) ?? 0) + 1);
    const images: ImageUsage[] = Object.values(m.images).map((img) => {
      let size = 0;
      let shared = 0;
      for (const c of img.layers) {
        const sz = m.layers[c]?.size ?? 0;
        size += sz;
        if ((usedBy.get(c) ?? 0) > 1) shared += sz;
      }
      const containers = Object.values(m.containers).filter((c) => c.image === img.id).length;
      return { id: img.id, tags: img.tags, size, shared, unique: size - shared, containers };
    });
    const containers: ContainerUsage[] = [];
    for (const c of Object.values(m.containers)) {
      const parent = c.parent ? m.layers[c.parent]?.cacheID ?? null : null;
      const size = await s.driver.diffSize(c.rwLayer, parent).catch(() => 0);
      containers.push({ id: c.id, name: c.name, image: c.image, size });
    }
    const layers = Object.values(m.layers);
    const driverDiskUsage = s.driver.capabilities().persistent ? await diskUsage(s.driver.home) : null;
    return { images, containers, layers: { count: layers.length, size: layers.reduce((a, l) => a + l.size, 0) }, driverDiskUsage };
  });
}
