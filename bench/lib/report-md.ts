// The Markdown report of one run: the goals with PASS/BEHIND, then one table per suite with every
// figure (mean ± relative margin of error; mount rows: the median run, the fastest and the slowest) and
// its ratios to the floor and the references.
// The import suite's table has one line per target (what each includes is noted under it).
import type { Figure, RunResults, SuiteName, TargetInfo } from './results.js';
import { central, rowKey } from './results.js';
import { fmtSeconds } from './goals.js';

export function fmtRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return '–';
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(0)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function short(s: string, n = 70): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** `x` as a bare number in the unit fmtSeconds gives `ref` (for a range next to it). */
function inUnitOf(x: number, ref: number): string {
  const scale = ref < 1e-6 ? 1e9 : ref < 1e-3 ? 1e6 : ref < 1 ? 1e3 : 1;
  const v = x * scale;
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function cell(f: Figure | undefined): string {
  if (!f) return '';
  if (f.status !== 'ok') return esc(`${f.status === 'n/a' ? 'n/a' : 'error'}: ${short(f.reason ?? '')}`);
  const c = central(f)!;
  if (f.suite === 'mount' && f.min !== undefined && f.max !== undefined) {
    // the median run, and the fastest and slowest
    return `${fmtSeconds(c)} (${inUnitOf(f.min, c)}–${inUnitOf(f.max, c)})${f.check ? ' ⚠ check failed' : ''}`;
  }
  const spread = Number.isFinite(f.rme) ? ` ±${f.rme!.toFixed(f.rme! < 10 ? 1 : 0)}%` : '';
  return `${fmtSeconds(f.mean!)}${spread}${f.check ? ' ⚠ check failed' : ''}`;
}

interface Row {
  key: string;
  title: string;
  bench: string;
  variant?: string;
  byTarget: Map<string, Figure>;
}

function rows(figures: Figure[], suite: SuiteName): Row[] {
  const out = new Map<string, Row>();
  for (const f of figures) {
    if (f.suite !== suite) continue;
    const k = rowKey(f);
    let r = out.get(k);
    if (!r) {
      r = { key: k, title: f.title, bench: f.bench, byTarget: new Map(), ...(f.variant ? { variant: f.variant } : {}) };
      out.set(k, r);
    }
    r.byTarget.set(f.target, f);
  }
  return [...out.values()];
}

function microTable(res: RunResults, targets: TargetInfo[]): string[] {
  const rs = rows(res.figures, 'micro');
  if (!rs.length) return [];
  const lines = [
    '## In-process (micro-benchmarks)',
    '',
    'Time per operation (mean ±95 % margin of error), and in the line below the ratio to `node:fs` on the flat directory',
    '(lower is better; 1.00× is the floor). Copy-up rows: the floor is `copyFile` + the same write (what a copy-up must do at least).',
    '',
    `| benchmark | ${targets.map((t) => esc(t.label)).join(' | ')} |`,
    `| --- | ${targets.map(() => '---:').join(' | ')} |`,
  ];
  for (const r of rs) {
    const cells = targets.map((t) => {
      const f = r.byTarget.get(t.id);
      const c = cell(f);
      return f?.status === 'ok' && t.role !== 'floor' ? `${c}<br>**${fmtRatio(f.ratios['node-fs'])}**` : c;
    });
    lines.push(`| ${esc(r.title)} | ${cells.join(' | ')} |`);
  }
  return lines;
}

const MOUNT_RATIOS: Array<[string, string, string]> = [
  ['ufsmount', 'kernel', 'ufsmount ÷ kernel'],
  ['ufsmount', 'fuse-overlayfs', 'ufsmount ÷ fuse-overlayfs'],
  ['ufsmount-hl', 'fuse-overlayfs', 'ufsmount (high-level binding) ÷ fuse-overlayfs'],
  ['fuse-overlayfs', 'kernel', 'fuse-overlayfs ÷ kernel'],
  ['kernel', 'plain', 'kernel ÷ plain dir'],
];

function mountTable(res: RunResults, targets: TargetInfo[]): string[] {
  const rs = rows(res.figures, 'mount');
  if (!rs.length) return [];
  const lines = [
    '## Mount level (whole processes against a mountpoint)',
    '',
    'Wall time of the median run of the command and, in brackets, of the fastest and the slowest run (fio rows: time per',
    '4 KiB read), then ratios of the medians between targets measured in this run (lower is better). The median, because',
    'a virtual disk makes one run in five or so 2-5x slower, which would move a mean of five runs by half. Cold: mounted',
    'afresh, `sync; echo 3 > /proc/sys/vm/drop_caches` before every run, after one untimed round; warm: the runs spread over',
    'a few mounts of each target (all targets mounted at once), one untimed run on each mount first; writes: a fresh mount',
    'per run, an untimed `sync` before each run. In every row the targets take turns run by run.',
    '',
    `| benchmark | | ${targets.map((t) => esc(t.label)).join(' | ')} | ${MOUNT_RATIOS.map((r) => r[2]).join(' | ')} |`,
    `| --- | --- | ${targets.map(() => '---:').join(' | ')} | ${MOUNT_RATIOS.map(() => '---:').join(' | ')} |`,
  ];
  for (const r of rs) {
    const cells = targets.map((t) => cell(r.byTarget.get(t.id)));
    const ratios = MOUNT_RATIOS.map(([a, b]) => {
      const fa = r.byTarget.get(a);
      const fb = r.byTarget.get(b);
      return fa?.status === 'ok' && fb?.status === 'ok' ? fmtRatio(central(fa)! / central(fb)!) : '–';
    });
    lines.push(`| ${esc(r.title)} | ${r.variant ?? ''} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  return lines;
}

function importTable(res: RunResults, targets: TargetInfo[]): string[] {
  const rs = rows(res.figures, 'import');
  if (!rs.length) return [];
  const lines = [
    '## Import (unpacking one OCI image)',
    '',
    'Wall time of one whole run into a fresh directory or store (mean ±95 % margin of error; one untimed, checked',
    'warm-up run first, so the layout is in the page cache), and the ratio to `tar -xzf` of the layers and to',
    '`umoci unpack` measured in this run (lower is better).',
  ];
  for (const r of rs) {
    lines.push('', `**${esc(r.title)}**`, '', '| target | time | ÷ tar -xzf | ÷ umoci unpack |', '| --- | ---: | ---: | ---: |');
    for (const t of targets) {
      const f = r.byTarget.get(t.id);
      if (!f) continue;
      lines.push(`| ${esc(t.label)} | ${cell(f)} | ${fmtRatio(f.ratios['tar-gz'])} | ${fmtRatio(f.ratios['umoci'])} |`);
    }
    const noted = targets.filter((t) => r.byTarget.get(t.id)?.note);
    if (noted.length) lines.push('', ...noted.map((t) => `- ${esc(t.label)}: ${esc(r.byTarget.get(t.id)!.note!)}`));
  }
  return lines;
}

function goalsSection(res: RunResults): string[] {
  if (!res.goals.length) return [];
  const lines = ['## The figures to reach (issue 7)', '', '| goal | subject | measured | limit | verdict |', '| --- | --- | ---: | ---: | --- |'];
  for (const g of res.goals) {
    const verdict = g.verdict === 'BEHIND' && g.withinNoise ? 'BEHIND (within noise)' : g.verdict;
    lines.push(`| ${esc(g.text)} | ${g.subject} | ${fmtRatio(g.value)} | ${fmtRatio(g.limit)} | **${verdict}** |`);
  }
  lines.push('');
  for (const g of res.goals) lines.push(`- ${g.verdict} ${g.id}: ${esc(g.detail)}${g.value !== null ? ` → ${fmtRatio(g.value)} (limit ${fmtRatio(g.limit)})` : ''}`);
  return lines;
}

function machineLine(res: RunResults): string {
  const m = res.machine;
  return `${m.cpu}, ${m.cores} cores, ${fmtBytes(m.memoryBytes)} RAM, ${m.os}, kernel ${m.kernel}, Node ${m.node}, data on ${m.tmpFs} (${m.tmpDir}), load average at start ${m.loadAverage.join(' ')}`;
}

export function renderMarkdown(res: RunResults): string {
  const micro = res.targets.filter((t) => t.suite === 'micro');
  const mount = res.targets.filter((t) => t.suite === 'mount');
  const imports = res.targets.filter((t) => t.suite === 'import');
  const lines = [
    `# ufs benchmarks: ${res.date.slice(0, 10)}, commit ${res.commit}${res.dirty ? ' (with uncommitted changes)' : ''}`,
    '',
    `- mode: **${res.mode}**${res.only.length ? `, only: \`${res.only.join('`, `')}\`` : ''}; ${res.durationSec.toFixed(0)} s in all`,
    `- machine: ${machineLine(res)}`,
    `- figures: ${res.figures.filter((f) => f.status === 'ok').length} measured, ${res.figures.filter((f) => f.status === 'n/a').length} n/a, ${res.figures.filter((f) => f.status === 'error').length} errors`,
    '',
    ...goalsSection(res),
    '',
    ...microTable(res, micro),
    '',
    ...mountTable(res, mount),
    '',
    ...importTable(res, imports),
    '',
  ];
  const na = res.targets.filter((t) => t.unavailable);
  if (na.length) {
    lines.push('## Targets not measured', '');
    for (const t of na) lines.push(`- ${t.suite} ${t.label}: n/a: ${esc(t.unavailable!)}`);
    lines.push('');
  }
  const checks = res.figures.filter((f) => f.check);
  if (checks.length) {
    lines.push('## Failed checks (the target answered differently from the plain directory)', '');
    for (const f of checks) lines.push(`- ${rowKey(f)} ${f.target}: ${esc(f.check!)}`);
    lines.push('');
  }
  const errors = res.figures.filter((f) => f.status === 'error');
  if (errors.length) {
    lines.push('## Errors', '');
    for (const f of errors) lines.push(`- ${rowKey(f)} ${f.target}: ${esc(f.reason ?? '')}`);
    lines.push('');
  }
  if (res.notes.length) {
    lines.push('## Notes', '');
    for (const n of res.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n').replace(/\n{3,}/g, '\n\n');
}
