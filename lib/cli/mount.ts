// `ufs mount` and `ufs umount`: ufsmount's mounts from the ufs command (an image read-only, a
// container read-write, or directories given with -o lowerdir=...), run through the ufsmount program.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerCommand, type CommandContext } from './commands.js';
import { fsError } from '../errors.js';

/** The ufsmount entry beside this file (ufsmount.js when built, ufsmount.ts when run by tsx). */
function ufsmountScript(): string {
  for (const name of ['./ufsmount.js', './ufsmount.ts']) {
    const f = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(f)) return f;
  }
  throw fsError('ENOENT', 'spawn', fileURLToPath(new URL('./ufsmount.js', import.meta.url)), undefined, 'ufsmount not found beside the ufs command');
}

/** Runs ufsmount with `argv` (stdio shared); resolves with its exit code. */
function runUfsmount(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const script = ufsmountScript();
    // Sources (.ts) need tsx's loader; a parent running them through tsx already has it in execArgv.
    const loader = script.endsWith('.ts') && !process.execArgv.some((a) => a.includes('tsx')) ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...process.execArgv, ...loader, script, ...argv], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}

function optionArgs(ctx: CommandContext): string[] {
  const o = (ctx.values.options as string[] | undefined) ?? [];
  return [
    ...o.flatMap((x) => ['-o', x]),
    ...(ctx.values.foreground ? ['-f'] : []),
    ...(ctx.values.debug ? ['-d'] : []),
  ];
}

registerCommand(
  {
    words: ['mount'],
    summary: 'Mount an image (read-only) or a container (read-write) with FUSE',
    usage: 'mount IMAGE|CONTAINER MOUNTPOINT [-o OPTIONS] [-f]  |  mount -o lowerdir=...[,upperdir=,workdir=] MOUNTPOINT',
    help: [
      'Runs ufsmount (see docs/ufsmount.md); returns once the mount is live, the server stays in the background.',
      '  -o OPTIONS        ufsmount options: allow_other, default_permissions, ro, timeout=S, ...',
      '  -f, --foreground  serve in the foreground until unmounted (Ctrl-C unmounts)',
      '  -d, --debug       libfuse request log on stderr (implies -f)',
      'Unmount with `ufs umount MOUNTPOINT` (or umount, fusermount -u).',
    ].join('\n'),
    options: {
      options: { type: 'string', short: 'o', multiple: true },
      foreground: { type: 'boolean', short: 'f' },
      debug: { type: 'boolean', short: 'd' },
    },
    arity: [1, 2],
    async run(ctx) {
      const fromStore = ctx.args.length === 2 && !((ctx.values.options as string[] | undefined) ?? []).some((o) => /(^|,)lowerdir=/.test(o));
      return runUfsmount([...optionArgs(ctx), ...(fromStore ? ['--root', ctx.root] : []), ...ctx.args]);
    },
  },
  {
    words: ['umount'],
    aliases: [['unmount']],
    summary: 'Unmount a ufs FUSE mount (its server exits)',
    usage: 'umount MOUNTPOINT [-z]',
    options: { lazy: { type: 'boolean', short: 'z' } },
    arity: [1, 1],
    async run(ctx) {
      return runUfsmount(['-u', ...(ctx.values.lazy ? ['-z'] : []), ctx.args[0]!]);
    },
  },
);
