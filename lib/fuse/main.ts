// ufsmount's process logic: parse, check, then either serve in the foreground (-f) or start a
// detached server and return once it reports the mount live through a pipe (mount-helper style).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { isFuse, isStale, mountAt, unmount } from './mountinfo.js';
import { parseArgs, UsageError, USAGE, type MountConfig } from './options.js';
import { preflight, PreflightError } from './preflight.js';
import { serve } from './server.js';
import type { FuseTarget } from './target.js';

/** Opens the filesystem to serve (UnionFs.open for ufsmount) from the parsed options. */
export type OpenTarget = (config: MountConfig) => Promise<FuseTarget>;

/** Set in the detached server's environment: the fd on which it reports `ready` or `error ...`. */
export const STATUS_FD_ENV = 'UFSMOUNT_STATUS_FD';
const DEFAULT_THREADPOOL = '64';

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n')[0] ?? msg;
  return line.startsWith('ufsmount:') ? line : `ufsmount: ${line}`;
}

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await fs.promises.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    if (pkg.version) return pkg.version;
  } catch { /* built layout: one level further up */ }
  try {
    const pkg = JSON.parse(await fs.promises.readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `ufsmount -u MOUNTPOINT`: unmounts a live ufsmount (its server then exits) or clears a stale one. */
async function doUnmount(mountpoint: string, lazy: boolean): Promise<number> {
  const stale = await isStale(mountpoint);
  let real = mountpoint;
  try {
    real = await fs.promises.realpath(mountpoint);
  } catch { /* stale or gone: use it as given */ }
  const m = await mountAt(real);
  if (!m && !stale) {
    process.stderr.write(`ufsmount: ${mountpoint} is not mounted\n`);
    return 1;
  }
  if (m && !isFuse(m)) {
    process.stderr.write(`ufsmount: ${mountpoint} is not a FUSE mount (${m.fstype})\n`);
    return 1;
  }
  const err = await unmount(real, lazy || stale);
  if (err !== undefined) {
    process.stderr.write(`ufsmount: cannot unmount ${mountpoint}: ${err}\n`);
    return 1;
  }
  return 0;
}

/** Serves in this process until the mount ends; `report` tells a waiting parent how it started. */
async function runServer(config: MountConfig, openTarget: OpenTarget, report?: (line: string) => void): Promise<number> {
  let target: FuseTarget | undefined;
  try {
    const mountpoint = await preflight(config);
    target = await openTarget(config);
    // Paths arrive from the mount root, longer than the caller's (which the kernel held to PATH_MAX).
    if ('pathMax' in target) target.pathMax = Infinity;
    const server = await serve(config, mountpoint, target);
    report?.('ready');
    await server.ended;
    return 0;
  } catch (e) {
    await target?.close().catch(() => undefined);
    const line = firstLine(e);
    if (report) report(`error ${line}`);
    else process.stderr.write(line + '\n');
    return 1;
  }
}

/** The parent of a background mount: starts the server and waits for its `ready`. */
function runDetached(argv: readonly string[]): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, [STATUS_FD_ENV]: '3' };
  env.UV_THREADPOOL_SIZE ??= DEFAULT_THREADPOOL;
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env,
  });
  return new Promise((resolve) => {
    let status = '';
    let stderr = '';
    let done = false;
    const finish = (code: number, message?: string): void => {
      if (done) return;
      done = true;
      if (message) process.stderr.write(message + '\n');
      child.stderr?.destroy();
      (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void } | null)?.destroy();
      if (code === 0) child.unref();
      resolve(code);
    };
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4096);
    });
    const statusStream = child.stdio[3] as NodeJS.ReadableStream | null;
    let failure: string | undefined;
    statusStream?.on('data', (d: Buffer) => {
      status += d.toString();
      const nl = status.indexOf('\n');
      if (nl < 0) return;
      const line = status.slice(0, nl);
      if (line === 'ready') return finish(0);
      failure = line.replace(/^error /, '');
      const libfuse = stderr.trim().split('\n').filter((l) => l.startsWith('fuse:')).pop();
      if (libfuse) failure += ` (${libfuse})`;
      setTimeout(() => finish(1, failure), 2000).unref();
    });
    statusStream?.on('error', () => undefined);
    child.on('error', (e) => finish(1, `ufsmount: cannot start the server: ${e.message}`));
    // 'close', not 'exit': the status pipe has been read to its end by then.
    child.on('close', (code, signal) => {
      const last = stderr.trim().split('\n').pop();
      finish(1, failure ?? `ufsmount: the server exited (${signal ?? `code ${code}`}) before the mount was ready${last ? `: ${last}` : ''}`);
    });
  });
}

/** ufsmount's whole behaviour; resolves with the exit code. */
export async function ufsmountMain(argv: readonly string[], openTarget: OpenTarget): Promise<number> {
  let cmd;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(e.message + '\n');
      return e.exitCode;
    }
    throw e;
  }
  switch (cmd.kind) {
    case 'help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case 'version':
      process.stdout.write(`ufsmount ${await version()}\n`);
      return 0;
    case 'unmount':
      return doUnmount(cmd.mountpoint, cmd.lazy);
    case 'mount':
      break;
  }
  const config = cmd.config;
  const statusFd = process.env[STATUS_FD_ENV];
  if (statusFd !== undefined) {
    // The detached server: report through the pipe, then let go of the parent's stderr.
    delete process.env[STATUS_FD_ENV];
    process.stderr.on('error', () => undefined);
    const fd = Number(statusFd);
    const report = (line: string): void => {
      try {
        fs.writeSync(fd, line + '\n');
        fs.closeSync(fd);
      } catch { /* the parent is gone */ }
    };
    return runServer(config, openTarget, report);
  }
  if (config.foreground) return runServer(config, openTarget);
  // Background: fail fast in the parent on everything that can be checked without mounting.
  try {
    await preflight(config);
  } catch (e) {
    process.stderr.write((e instanceof PreflightError ? e.message : firstLine(e)) + '\n');
    return 1;
  }
  return runDetached(argv);
}
