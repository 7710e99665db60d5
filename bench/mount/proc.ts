// Child processes for the mount-level suite: run a shell command (failing with its stderr), time
// one whole run of a command, and drop the kernel's caches for a cold run.
import { spawn } from 'node:child_process';
import { since } from '../lib/stats.js';

export interface RunOut {
  code: number;
  stdout: string;
  stderr: string;
}

/** Quotes a string for bash (single quotes). */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs `bash -c cmd`; resolves with its exit code and output (never rejects on a non-zero exit). */
export function bash(cmd: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunOut> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', cmd], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-1 << 20)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16384)));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs `bash -c cmd` and throws (with the last line of its stderr) when it fails. */
export async function must(cmd: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await bash(cmd, opts);
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    throw new Error(`\`${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd}\` exited ${r.code}${last ? `: ${last}` : ''}`);
  }
  return r.stdout;
}

/**
 * Times one run of `bash -c cmd` from spawn to exit, output discarded (stdout and stderr to
 * /dev/null, so the terminal costs nothing). Throws when the command fails.
 */
export function timeCommand(cmd: string, cwd?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn('bash', ['-c', cmd], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    child.on('error', reject);
    child.on('close', (code) => {
      const s = since(t);
      if (code === 0) resolve(s);
      else reject(new Error(`\`${cmd.slice(0, 100)}\` exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
}

/** Writes dirty data back and drops the page, dentry and inode caches (root only). */
export async function dropCaches(): Promise<void> {
  await must('sync; echo 3 > /proc/sys/vm/drop_caches');
}

/** Null when caches can be dropped here, or why not. */
export async function canDropCaches(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'dropping the caches needs root';
  const r = await bash('sync; echo 3 > /proc/sys/vm/drop_caches');
  return r.code === 0 ? null : `cannot drop the caches: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`;
}

/** Seconds to wait (for a FUSE server to notice its unmount, say). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
