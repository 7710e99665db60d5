// Helpers of the store tests: temp directories, trees from a spec, and running the worker (or
// the ufs command) in a child process.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');

export async function tmpdir(tag: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `ufs-${tag}-`));
}

export async function tree(dir: string, files: Record<string, string>): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const [p, v] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await fs.writeFile(path.join(dir, p), v);
  }
  return dir;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript file of the repo with node + tsx; `killAfterMs` sends SIGKILL after that long. */
export function runTs(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', path.join(repo, file), ...args], {
      cwd: repo,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.stdin.end(opts.input ?? '');
    const timer = opts.killAfterMs !== undefined ? setTimeout(() => c.kill('SIGKILL'), opts.killAfterMs) : null;
    c.on('error', reject);
    c.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function worker(op: string, root: string, args: string[], opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number } = {}): Promise<RunResult> {
  return runTs('test/store/worker.ts', [op, root, ...args], opts);
}
