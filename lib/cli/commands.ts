// The command table of `ufs`: each command file registers its commands here (words, usage, options,
// a run function); ufs.ts finds the command for argv, parses its options and runs it.
import type { ParseArgsConfig } from 'node:util';
import type { Store } from '../store/store.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** What a command's run function gets. */
export interface CommandContext {
  /** Positional arguments after the command words. */
  args: string[];
  /** Option values by name (strings, booleans, or arrays of them for `multiple` options). */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Whether --json was given (listings print JSON instead of a table). */
  json: boolean;
  /** The store root (--root, UFS_ROOT, or the default). */
  root: string;
  /** The driver asked for with --driver (for a new store, or to check an existing one), if any. */
  driver: string | undefined;
  /** Driver options from --storage-opt k=v. */
  storageOpts: Record<string, string | boolean>;
  /** Opens the store (once; closed after the command). */
  store(): Promise<Store>;
  /** Writes a line (or lines) to stdout. */
  out(text: string): void;
  /** Writes a line to stderr. */
  err(text: string): void;
}

export interface CommandSpec {
  /** The command words, e.g. ['image', 'ls']. */
  words: string[];
  /** Other words for the same command, e.g. [['image', 'list']]. */
  aliases?: string[][];
  /** One line for the command list. */
  summary: string;
  /** The usage line without the leading `ufs `, e.g. 'image ls [--json] [--no-trunc]'. */
  usage: string;
  /** More text for --help (options, examples). */
  help?: string;
  options?: OptionSpecs;
  /** Whether `--json` applies (listings and inspections). */
  json?: boolean;
  /** Positional arguments: [min, max] (max Infinity for lists). */
  arity?: [number, number];
  /** Returns the exit code (0 when nothing is returned). */
  run(ctx: CommandContext): Promise<number | void>;
}

const table: CommandSpec[] = [];

/** Adds commands to the table (other modules call this: mount, pull, push, image import...). */
export function registerCommand(...specs: CommandSpec[]): void {
  for (const s of specs) {
    const key = s.words.join(' ');
    const at = table.findIndex((t) => t.words.join(' ') === key);
    if (at >= 0) table[at] = s;
    else table.push(s);
  }
}

export function commands(): readonly CommandSpec[] {
  return table;
}

/** The command whose words (or an alias) start `words`, longest match first, and how many words it took. */
export function findCommand(words: string[]): { spec: CommandSpec; used: number } | null {
  let best: { spec: CommandSpec; used: number } | null = null;
  for (const spec of table) {
    for (const w of [spec.words, ...(spec.aliases ?? [])]) {
      if (w.length > words.length || (best && w.length <= best.used)) continue;
      if (w.every((x, i) => words[i] === x)) best = { spec, used: w.length };
    }
  }
  return best;
}

/** Commands under a group word ('image' → image ls, image rm, ...). */
export function groupCommands(group: string): CommandSpec[] {
  return table.filter((s) => s.words.length > 1 && s.words[0] === group);
}
