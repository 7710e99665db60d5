// Staging sessions: layers are created and applied outside the store lock by a session that owns
// <root>/staging/<id>.lock (flock(2) held for the session's life; the kernel drops it when the process
// dies) and <id>.json (the driver layers it is staging and the chainIDs it pins). check spares what a
// live session owns and removes what a dead one left; layer removal spares pinned layers.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomId } from '../drivers/tree-ops.js';
import { isErrno } from '../errors.js';
import { TEMP_PREFIX, writeJsonAtomic } from './atomic.js';
import { acquireLock, tryLock, type Release } from './lock.js';

export const STAGING_DIR = 'staging';

export interface SessionInfo {
  id: string;
  pid: number;
  started: string;
  /** Driver layer ids this session is staging (created or applied, not recorded yet) → their parent's. */
  staged: Record<string, string | null>;
  /** chainIDs the session uses or is making: nobody removes them while it lives. */
  pins: string[];
}

export function stagingDir(root: string): string {
  return path.join(root, STAGING_DIR);
}

export class StagingSession {
  private writes: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(readonly root: string, readonly info: SessionInfo, private readonly release: Release) {}

  get id(): string {
    return this.info.id;
  }

  /**
   * Opens a session. `shared` runs its function under the store's shared lock: check and removals
   * (exclusive) never see a lock file that is not locked yet or a session without its file.
   */
  static async open(root: string, shared: <T>(fn: () => Promise<T>) => Promise<T>): Promise<StagingSession> {
    const dir = stagingDir(root);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    return shared(async () => {
      const id = randomId(8);
      const release = await acquireLock(path.join(dir, `${id}.lock`), 'exclusive', 5);
      const s = new StagingSession(root, { id, pid: process.pid, started: new Date().toISOString(), staged: {}, pins: [] }, release);
      try {
        await s.save();
      } catch (e) {
        await s.close();
        throw e;
      }
      return s;
    });
  }

  private get file(): string {
    return path.join(stagingDir(this.root), `${this.id}.json`);
  }

  /** Writes the session file (writes queue up, each one atomic). */
  private save(): Promise<void> {
    const next = this.writes.then(() => writeJsonAtomic(this.file, this.info));
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** Announces driver layer `cacheID` on `parent` before it is created: call it under the store's shared lock. */
  stage(cacheID: string, parent: string | null): Promise<void> {
    this.info.staged[cacheID] = parent;
    return this.save();
  }

  /** The layer was recorded or removed: the session no longer answers for it. */
  unstage(cacheID: string): Promise<void> {
    if (!(cacheID in this.info.staged)) return Promise.resolve();
    delete this.info.staged[cacheID];
    return this.save();
  }

  /** Pins chainIDs: call it under the store's shared lock, then look them up under that lock. */
  pin(chains: readonly string[]): Promise<void> {
    const add = chains.filter((c) => !this.info.pins.includes(c));
    if (!add.length) return Promise.resolve();
    this.info.pins.push(...add);
    return this.save();
  }

  /** Removes the session's files (the lock last) and lets go of the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    try {
      await fsp.rm(this.file, { force: true });
      await fsp.rm(path.join(stagingDir(this.root), `${this.id}.lock`), { force: true });
    } finally {
      this.release();
    }
  }
}

export interface StagingScan {
  /** Sessions whose process holds their lock. */
  live: SessionInfo[];
  /** Files of sessions whose process is gone (or temp files of their writes). */
  stale: string[];
  /** Driver layer ids live sessions are staging. */
  staged: Set<string>;
  /** chainIDs live sessions pin. */
  pins: Set<string>;
  /** Ids of live sessions. */
  ids: Set<string>;
}

function sessionOf(name: string): string | null {
  if (name.startsWith(TEMP_PREFIX)) {
    const rest = name.slice(TEMP_PREFIX.length);
    const i = rest.indexOf('.json-');
    return i > 0 ? rest.slice(0, i) : null;
  }
  const m = /^([0-9a-f]+)\.(lock|json)$/.exec(name);
  return m ? m[1]! : null;
}

/**
 * What the staging sessions of a store hold: a session is live when its lock file is locked (its
 * process lives), whatever its age; nothing else is trusted. Run it under the store's exclusive lock.
 * `except` leaves that (live) session out of `pins` and `staged`.
 */
export async function scanStaging(root: string, except?: string): Promise<StagingScan> {
  const dir = stagingDir(root);
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) names = [];
    else throw e;
  }
  const out: StagingScan = { live: [], stale: [], staged: new Set(), pins: new Set(), ids: new Set() };
  const byId = new Map<string, string[]>();
  for (const n of names) {
    const id = sessionOf(n);
    // Anything else in the directory is not ours to keep either.
    if (id === null) out.stale.push(path.join(dir, n));
    else byId.set(id, [...(byId.get(id) ?? []), n]);
  }
  for (const [id, files] of byId) {
    let live = false;
    if (files.includes(`${id}.lock`)) {
      const got = await tryLock(path.join(dir, `${id}.lock`), 'exclusive');
      if (got) got();
      else live = true;
    }
    if (!live) {
      out.stale.push(...files.map((f) => path.join(dir, f)));
      continue;
    }
    out.ids.add(id);
    let info: SessionInfo | null = null;
    try {
      info = JSON.parse(await fsp.readFile(path.join(dir, `${id}.json`), 'utf8')) as SessionInfo;
    } catch {
      info = null; // not written yet or being replaced: a live session owns nothing on disk yet
    }
    if (!info) continue;
    out.live.push(info);
    if (id === except) continue;
    for (const [c, p] of Object.entries(info.staged ?? {})) {
      out.staged.add(c);
      if (p) out.staged.add(p);
    }
    for (const p of info.pins ?? []) out.pins.add(p);
  }
  return out;
}
