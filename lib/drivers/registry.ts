// The registry of storage drivers: each registers a factory by name; the registry says whether a
// driver can work here (and why not), and picks the default (the fastest one that works).
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Driver, DriverOptions } from './driver.js';
import { fsError } from '../errors.js';

export interface DriverFactory {
  readonly name: string;
  /** One line for `ufs driver ls`. */
  readonly description: string;
  /** Preference when choosing a default driver: lower is preferred. */
  readonly priority: number;
  /** Whether layers survive the process (a default driver must be persistent). */
  readonly persistent: boolean;
  /**
   * Null when the driver can work with a store whose driver home is `home` (probed on the
   * filesystem that holds it), or one sentence saying why not.
   */
  available(home: string, options?: DriverOptions): Promise<string | null>;
  /** Makes the driver; `home` is created when missing. */
  open(home: string, options?: DriverOptions): Promise<Driver>;
}

const factories = new Map<string, DriverFactory>();

export function registerDriver(f: DriverFactory): void {
  factories.set(f.name, f);
}

export function driverFactory(name: string): DriverFactory {
  const f = factories.get(name);
  if (!f) {
    throw fsError('EINVAL', 'driver', name, undefined, `unknown storage driver '${name}' (known: ${driverNames().join(', ')})`);
  }
  return f;
}

/** Registered driver names, in order of preference. */
export function driverNames(): string[] {
  return [...factories.values()].sort((a, b) => a.priority - b.priority).map((f) => f.name);
}

export interface DriverAvailability {
  name: string;
  description: string;
  persistent: boolean;
  available: boolean;
  /** Why it cannot work here (null when it can). */
  reason: string | null;
}

/** The nearest existing directory at or above `p`, where a probe can run. */
export async function nearestExisting(p: string): Promise<string> {
  let cur = path.resolve(p);
  for (;;) {
    try {
      if ((await fsp.stat(cur)).isDirectory()) return cur;
    } catch {
      // keep walking up
    }
    const up = path.dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
}

/** Whether each registered driver can work with driver homes under `root`. */
export async function availability(root: string, options?: DriverOptions): Promise<DriverAvailability[]> {
  const out: DriverAvailability[] = [];
  for (const name of driverNames()) {
    const f = factories.get(name)!;
    const reason = await f.available(path.join(root, name), options);
    out.push({ name, description: f.description, persistent: f.persistent, available: reason === null, reason });
  }
  return out;
}

/** The default driver for a store at `root`: the most preferred persistent one that works here. */
export async function defaultDriverName(root: string): Promise<string> {
  const list = await availability(root);
  const ok = list.find((d) => d.available && d.persistent);
  if (!ok) throw fsError('ENOTSUP', 'driver', root, undefined, `no storage driver works here: ${list.map((d) => `${d.name}: ${d.reason}`).join('; ')}`);
  return ok.name;
}

/** Opens driver `name` with its home at `home`, or says why it cannot work here (ENOTSUP). */
export async function openDriver(name: string, home: string, options?: DriverOptions): Promise<Driver> {
  const f = driverFactory(name);
  const reason = await f.available(home, options);
  if (reason !== null) throw fsError('ENOTSUP', 'driver', name, undefined, `storage driver '${name}' cannot work here: ${reason}`);
  return f.open(home, options);
}
