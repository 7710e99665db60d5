// The benchmark entry point (`npm run bench`, `make bench`): runs the in-process, mount-level and
// import suites, computes ratios and the issue's goals, and writes bench/results/<date>-<commit>.{json,md,svg}.
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitInfo, machineInfo } from './lib/machine.js';
import { computeRatios, type Figure, type RunResults, type TargetInfo } from './lib/results.js';
import { computeGoals } from './lib/goals.js';
import { renderMarkdown } from './lib/report-md.js';
import { renderSvg } from './lib/report-svg.js';
import { selector, type SuiteContext, type SuiteOutput } from './lib/suite.js';
import { runMicro } from './micro/suite.js';
import { runMount } from './mount/suite.js';
import { runImport } from './import/suite.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: tsx bench/run.ts [--quick] [--only PATTERN]... [--out DIR] [--tmp DIR] [--keep] [--no-write]

  --quick          small sizes and few runs (~6 minutes), for development; the default is the full mode (~1 hour)
  --only PATTERN   run only figures whose key matches the regular expression; keys are
                   micro/<bench>/<target>, mount/<bench>/<variant>/<target> and
                   import/rootfs/<target>, e.g. --only micro, --only 'stat-d(20|100)',
                   --only 'mount/walk', --only ufs-aufs, --only import
                   (repeatable, or comma-separated)
  --out DIR        where the results go (default bench/results)
  --tmp DIR        where the data sets are built (default: a new directory in the OS temp dir)
  --keep           keep the data sets afterwards
  --no-write       print the Markdown table only, write no files

  UFS_BENCH_IMPORT_TINY=1 makes the import suite's image a tiny synthetic tree (key
  import/tiny/<target>) instead of the Debian root filesystem: for testing the pipeline.`;

interface Args {
  quick: boolean;
  only: string[];
  out: string;
  tmp: string | null;
  keep: boolean;
  write: boolean;
  /** Internal: run this one suite in this process and write its output to `suiteOut` (see runSuite). */
  suite: string | null;
  suiteOut: string | null;
  startedMs: number | null;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      out: { type: 'string' },
      tmp: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      suite: { type: 'string' },
      'suite-out': { type: 'string' },
      'started-ms': { type: 'string' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  if (values.quick && values.full) throw new Error('--quick and --full exclude each other');
  const only = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const p of only) new RegExp(p); // fail early on a bad pattern
  return {
    quick: values.quick === true,
    only,
    out: path.resolve(values.out ?? path.join(REPO, 'bench', 'results')),
    tmp: values.tmp ?? null,
    keep: values.keep === true,
    write: values['no-write'] !== true,
    suite: values.suite ?? null,
    suiteOut: values['suite-out'] ?? null,
    startedMs: values['started-ms'] ? Number(values['started-ms']) : null,
  };
}

const SUITES: Record<string, (c: SuiteContext) => Promise<SuiteOutput>> = { micro: runMicro, mount: runMount, import: runImport };

/**
 * Runs one suite in a process of its own (this script with --suite), so that no suite measures in
 * the wake of another: after the in-process suite this process held gigabytes, and every process
 * the mount suite started then paid for copying its page tables (spawning `bash` from a 4 GiB
 * process takes ~190 ms against 3 ms from a fresh one), a fixed cost added to each timed run.
 */
async function runSuite(name: string, tmp: string, args: Args, started: number): Promise<SuiteOutput> {
  const out = path.join(tmp, `${name}-output.json`);
  const argv = [...process.execArgv, fileURLToPath(import.meta.url), '--suite', name, '--suite-out', out, '--tmp', path.join(tmp, name), '--started-ms', String(started)];
  if (args.quick) argv.push('--quick');
  if (args.keep) argv.push('--keep');
  for (const p of args.only) argv.push('--only', p);
  // A SIGINT or SIGTERM sent to this process alone (not to its group, as a terminal's ^C is) goes on
  // to the suite's process; once that has ended, this one ends by the same signal.
  let stopped: NodeJS.Signals | null = null;
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    const forward = (sig: NodeJS.Signals): void => {
      stopped = sig;
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (c, sig) => {
      done();
      resolve(c ?? (sig ? 128 : 1));
    });
  });
  if (stopped) process.kill(process.pid, stopped);
  if (code !== 0) throw Object.assign(new Error(`the ${name} suite's process exited ${code}`), { code: 'ERR_BENCH_SUITE' });
  return JSON.parse(await fsp.readFile(out, 'utf8')) as SuiteOutput;
}

/** The child's side of runSuite: one suite, its output to a file. */
async function suiteMain(args: Args): Promise<void> {
  const run = SUITES[args.suite!];
  if (!run || !args.suiteOut || !args.tmp) throw new Error(`--suite needs one of ${Object.keys(SUITES).join(', ')}, --suite-out and --tmp`);
  const started = args.startedMs ?? Date.now();
  const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  const tmp = path.resolve(args.tmp);
  await fsp.mkdir(tmp, { recursive: true });
  const out = await run({ quick: args.quick, selected: selector(args.only), tmp, keep: args.keep, log, repo: REPO });
  await fsp.writeFile(args.suiteOut, JSON.stringify(out));
  const rss = process.memoryUsage().rss / 2 ** 20;
  const peak = process.resourceUsage().maxRSS / 1024;
  if (out.figures.length) log(`${args.suite}: done; this process's memory: ${rss.toFixed(0)} MiB now, ${peak.toFixed(0)} MiB at most`);
  // A suite may leave handles (a driver's watcher, a timer) that would keep this process alive.
  process.exit(0);
}

function stamp(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.suite) return suiteMain(args);
  const started = Date.now();
  const tmp = args.tmp ? path.resolve(args.tmp) : await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-bench-'));
  await fsp.mkdir(tmp, { recursive: true });
  const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  const machine = machineInfo(tmp);
  const { commit, dirty } = commitInfo(REPO);
  log(`ufs bench, ${args.quick ? 'quick' : 'full'} mode, commit ${commit}${dirty ? ' (dirty)' : ''}, data in ${tmp} (${machine.tmpFs})`);

  const figures: Figure[] = [];
  const targets: TargetInfo[] = [];
  const datasets: Record<string, unknown> = {};
  const notes: string[] = [];
  try {
    for (const name of Object.keys(SUITES)) {
      // Each suite skips itself when --only selects none of its figures; each runs in a process of its own.
      try {
        const out = await runSuite(name, tmp, args, started);
        figures.push(...out.figures);
        targets.push(...out.targets);
        Object.assign(datasets, out.datasets);
        notes.push(...(out.notes ?? []));
      } catch (e) {
        const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
        log(`${name} suite failed: ${msg}`);
        notes.push(`the ${name} suite stopped early: ${msg.split('\n')[0]}`);
      }
    }
  } finally {
    if (!args.keep && !args.tmp) await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }

  computeRatios(figures);
  const results: RunResults = {
    schema: 'ufs-bench/1',
    date: new Date().toISOString(),
    commit,
    dirty,
    mode: args.quick ? 'quick' : 'full',
    only: args.only,
    argv: process.argv.slice(2),
    durationSec: (Date.now() - started) / 1000,
    machine,
    datasets,
    targets,
    figures,
    goals: computeGoals(figures),
    notes,
  };
  const md = renderMarkdown(results);
  for (const g of results.goals) {
    process.stdout.write(`${g.verdict === 'BEHIND' && g.withinNoise ? 'BEHIND (within noise)' : g.verdict} ${g.id}: ${g.value === null ? g.detail : `${g.value.toFixed(2)}× (limit ${g.limit}×; ${g.detail})`}\n`);
  }
  if (!args.write) {
    process.stdout.write(md);
    return;
  }
  await fsp.mkdir(args.out, { recursive: true });
  const name = `${stamp()}-${commit}`;
  const svg = renderSvg(results);
  await fsp.writeFile(path.join(args.out, `${name}.json`), JSON.stringify(results, null, 1) + '\n');
  await fsp.writeFile(path.join(args.out, `${name}.md`), md);
  await fsp.writeFile(path.join(args.out, `${name}.svg`), svg);
  await fsp.writeFile(path.join(args.out, 'latest.md'), md);
  await fsp.writeFile(path.join(args.out, 'latest.svg'), svg);
  log(`wrote ${path.join(args.out, name)}.{json,md,svg} and latest.{md,svg}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
