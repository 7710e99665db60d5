// A child process for tests that need many short-lived mounts: it serves one ufsmount-style mount
// per request (JSON lines on stdin, answers on stdout) through the same serve() ufsmount uses, so
// each mount costs a union open and a FUSE mount instead of a process start. Never used by itself.
import '../../lib/fuse/threadpool.js';
import readline from 'node:readline';
import { serve, type Server } from '../../lib/fuse/server.js';
import { parseArgs } from '../../lib/fuse/options.js';
import { preflight } from '../../lib/fuse/preflight.js';
import { UnionFs } from '../../lib/union.js';

interface Request {
  id: number;
  cmd: 'mount' | 'unmount';
  /** ufsmount's arguments for `mount`; the mountpoint for `unmount`. */
  args?: string[];
  mountpoint?: string;
}

const servers = new Map<string, Server>();
const answer = (id: number, error?: string): void => {
  process.stdout.write(JSON.stringify(error === undefined ? { id, ok: true } : { id, ok: false, error }) + '\n');
};

async function handle(r: Request): Promise<void> {
  if (r.cmd === 'mount') {
    const cmd = parseArgs(r.args ?? []);
    if (cmd.kind !== 'mount') throw new Error('not a mount command');
    const mp = await preflight(cmd.config);
    const u = await UnionFs.open(cmd.config.union);
    servers.set(mp, await serve(cmd.config, mp, u));
  } else {
    const s = servers.get(r.mountpoint ?? '');
    if (!s) throw new Error(`nothing mounted by this server at ${r.mountpoint}`);
    servers.delete(r.mountpoint!);
    await s.close();
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const r = JSON.parse(line) as Request;
  handle(r).then(() => answer(r.id), (e: unknown) => answer(r.id, e instanceof Error ? e.message : String(e)));
}).on('close', () => {
  void Promise.allSettled([...servers.values()].map((s) => s.close())).then(() => process.exit(0));
});
