// Reference-counted views for one driver: the first get() of a layer opens its view, later ones
// share it, and the last put() closes it. Concurrent first gets open it once.
import type { View } from './driver.js';
import { fsError } from '../errors.js';

interface Slot {
  count: number;
  view: Promise<View>;
  close: (v: View) => Promise<void>;
}

export class ViewTable {
  private readonly slots = new Map<string, Slot>();

  /** The view of `id`, opened by `open` when nobody holds it yet. */
  async get(id: string, open: () => Promise<View>, close: (v: View) => Promise<void>): Promise<View> {
    const s = this.slots.get(id);
    if (s) {
      s.count++;
      try {
        return await s.view;
      } catch (e) {
        s.count--;
        throw e;
      }
    }
    const slot: Slot = { count: 1, view: open(), close };
    this.slots.set(id, slot);
    try {
      return await slot.view;
    } catch (e) {
      this.slots.delete(id);
      throw e;
    }
  }

  /** Drops one reference; closes the view when it was the last. EINVAL when `id` has no view. */
  async put(id: string): Promise<void> {
    const s = this.slots.get(id);
    if (!s) throw fsError('EINVAL', 'put', id, undefined, `layer ${id} has no view to release`);
    if (--s.count > 0) return;
    this.slots.delete(id);
    await s.close(await s.view);
  }

  /** How many references `id` has out. */
  count(id: string): number {
    return this.slots.get(id)?.count ?? 0;
  }

  ids(): string[] {
    return [...this.slots.keys()];
  }

  /** Closes every view (whatever its count). */
  async closeAll(): Promise<void> {
    const all = [...this.slots.entries()];
    this.slots.clear();
    for (const [, s] of all) {
      try {
        await s.close(await s.view);
      } catch {
        // a view that failed to open has nothing to close
      }
    }
  }
}
