// The `ufs` command line: global options (--root, --driver, --storage-opt), finding the command in
// the table, parsing its options with node:util parseArgs, help texts, and errors as exit codes.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { commands, findCommand, groupCommands, type CommandContext, type CommandSpec } from './commands.js';
import { EXIT, UsageError, errorLine, exitCodeOf } from './output.js';
import { Store } from '../store/store.js';
import { defaultRoot } from '../store/paths.js';
import './all-commands.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = {
  out: (t) => {
    if (t !== '') process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  },
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

const GLOBAL_HELP = `Global options (before or after the command):
  --root DIR            the store (default: $UFS_ROOT, /var/lib/ufs as root, ~/.local/share/ufs otherwise)
  --driver NAME         storage driver of a new store (default: the fastest that works here);
                        for an existing store it must be the one it uses
  --storage-opt K=V     driver option, e.g. kernelMount=true (overlay, as root)
  -h, --help            help for ufs or for a command

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 refused (in use, exists, would not round-trip),
            5 driver unavailable here, 6 check found problems, 7 store locked by another process`;

function usageOf(spec: CommandSpec): string {
  return `Usage: ufs ${spec.usage}\n\n${spec.summary}${spec.help ? `\n\n${spec.help}` : ''}\n\n${GLOBAL_HELP}`;
}

function topHelp(): string {
  const groups = new Map<string, CommandSpec[]>();
  for (const c of commands()) {
    const g = c.words.length > 1 ? c.words[0]! : '';
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  const lines = ['Usage: ufs [--root DIR] COMMAND [ARGS...]', '', 'Manage a ufs store of layers, images and containers.', '', 'Commands:'];
  const all = [...commands()].sort((a, b) => a.words.join(' ').localeCompare(b.words.join(' ')));
  const width = Math.max(...all.map((c) => c.words.join(' ').length));
  for (const c of all) lines.push(`  ${c.words.join(' ').padEnd(width)}   ${c.summary}`);
  lines.push('', "Run 'ufs COMMAND --help' for more about a command.", '', GLOBAL_HELP);
  return lines.join('\n');
}

function groupHelp(group: string, list: CommandSpec[]): string {
  const width = Math.max(...list.map((c) => c.words.join(' ').length));
  return [`Usage: ufs ${group} COMMAND`, '', 'Commands:', ...list.map((c) => `  ${c.words.join(' ').padEnd(width)}   ${c.summary}`), '', `Run 'ufs ${group} COMMAND --help' for more.`].join('\n');
}

interface Globals {
  root: string | undefined;
  driver: string | undefined;
  storageOpts: Record<string, string | boolean>;
  rest: string[];
}

/** Takes the global options out of argv wherever they are. */
function globals(argv: string[]): Globals {
  const g: Globals = { root: undefined, driver: undefined, storageOpts: {}, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(root|driver|storage-opt)(?:=(.*))?$/.exec(a);
    if (!m) {
      if (a === '--') {
        g.rest.push(...argv.slice(i));
        break;
      }
      g.rest.push(a);
      continue;
    }
    let v = m[2];
    if (v === undefined) {
      v = argv[++i];
      if (v === undefined) throw new UsageError(`option --${m[1]} needs a value`);
    }
    if (m[1] === 'root') g.root = v;
    else if (m[1] === 'driver') g.driver = v;
    else {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new UsageError(`--storage-opt takes KEY=VALUE, not '${v}'`);
      const val = v.slice(eq + 1);
      g.storageOpts[v.slice(0, eq)] = val === 'true' ? true : val === 'false' ? false : val;
    }
  }
  return g;
}

/** Runs `ufs` with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  let store: Store | null = null;
  try {
    const g = globals(argv);
    const words: string[] = [];
    for (const a of g.rest) {
      if (a.startsWith('-')) break;
      words.push(a);
    }
    const wantsHelp = g.rest.includes('--help') || g.rest.includes('-h');
    if (words.length === 0) {
      if (wantsHelp || g.rest.length === 0) {
        io.out(topHelp());
        return g.rest.length === 0 && !wantsHelp ? EXIT.USAGE : EXIT.OK;
      }
      if (g.rest.includes('--version')) {
        io.out('ufs 0.1.0');
        return EXIT.OK;
      }
      throw new UsageError(`unknown option '${g.rest[0]}' (see 'ufs --help')`);
    }
    const found = findCommand(words);
    if (!found) {
      const group = groupCommands(words[0]!);
      if (group.length && words.length === 1) {
        io.out(groupHelp(words[0]!, group));
        return wantsHelp ? EXIT.OK : EXIT.USAGE;
      }
      throw new UsageError(`unknown command '${words.join(' ')}' (see 'ufs --help')`);
    }
    const { spec, used } = found;
    const argsAfter = g.rest.slice(g.rest.indexOf(words[used - 1]!) + 1);
    if (wantsHelp) {
      io.out(usageOf(spec));
      return EXIT.OK;
    }
    const options = { ...(spec.options ?? {}), ...(spec.json ? { json: { type: 'boolean' as const } } : {}) };
    let parsed;
    try {
      parsed = parseArgs({ args: argsAfter, options, allowPositionals: true, strict: true });
    } catch (e) {
      const m = (e as Error).message;
      const short = /^(Unknown option '[^']*'|Option '[^']*' argument missing|Option '[^']*' does not take an argument)/i.exec(m)?.[1] ?? m.split('\n')[0]!.split('. ')[0];
      throw new UsageError(`${short} (see 'ufs ${spec.words.join(' ')} --help')`);
    }
    const [min, max] = spec.arity ?? [0, 0];
    const n = parsed.positionals.length;
    if (n < min || n > max) {
      throw new UsageError(`'ufs ${spec.words.join(' ')}' takes ${min === max ? min : max === Infinity ? `at least ${min}` : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${n}\nUsage: ufs ${spec.usage}`);
    }
    const root = path.resolve(g.root ?? defaultRoot());
    const ctx: CommandContext = {
      args: parsed.positionals,
      values: parsed.values as CommandContext['values'],
      json: parsed.values.json === true,
      root,
      driver: g.driver,
      storageOpts: g.storageOpts,
      store: async () => {
        store ??= await Store.open({ root, ...(g.driver ? { driver: g.driver } : {}), driverOptions: g.storageOpts });
        return store;
      },
      out: (t) => io.out(t),
      err: (t) => io.err(t),
    };
    const code = await spec.run(ctx);
    return code ?? EXIT.OK;
  } catch (e) {
    const line = errorLine(e);
    io.err(`ufs: ${line.replace(/\n/g, '\n     ')}`);
    if (process.env.UFS_DEBUG && e instanceof Error && e.stack) io.err(e.stack);
    return exitCodeOf(e);
  } finally {
    if (store) await (store as Store).close().catch(() => undefined);
  }
}
