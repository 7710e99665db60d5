// What a result is tied to: the machine (CPU, cores, memory, kernel, Node), the commit of the
// working tree, and the filesystem the data sets live on.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Machine } from './results.js';

function tryRun(cmd: string, args: string[], cwd?: string): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...(cwd ? { cwd } : {}) }).trim();
  } catch {
    return null;
  }
}

function osName(): string {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
    if (m?.[1]) return m[1];
  } catch {
    // not Linux, or no os-release
  }
  return `${os.type()} ${os.release()}`;
}

/** The filesystem type holding `dir` (ext4, tmpfs, xfs, btrfs...): the mount's (`stat -f` names ext4 "ext2/ext3"). */
export function fsType(dir: string): string {
  return tryRun('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir]) || (tryRun('stat', ['-f', '-c', '%T', dir]) ?? 'unknown');
}

export function machineInfo(tmpDir: string): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    os: osName(),
    node: process.version,
    tmpDir,
    tmpFs: fsType(tmpDir),
    root: process.getuid?.() === 0,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export interface CommitInfo {
  commit: string;
  dirty: boolean;
}

export function commitInfo(repo: string): CommitInfo {
  const commit = tryRun('git', ['rev-parse', '--short=10', 'HEAD'], repo) ?? 'nocommit';
  const status = tryRun('git', ['status', '--porcelain', '--untracked-files=no'], repo);
  return { commit, dirty: status !== null && status.length > 0 };
}
