// The SVG chart of one run, written by hand: horizontal bars of ratios on a log scale, one group
// per benchmark. In-process figures against node:fs, mount-level figures against the kernel, import
// figures against `tar -xzf`.
import type { Figure, RunResults, SuiteName, TargetInfo } from './results.js';
import { rowKey } from './results.js';
import { fmtRatio } from './report-md.js';

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Panel {
  title: string;
  reference: string;
  targets: TargetInfo[];
  groups: Array<{ label: string; bars: Array<{ target: string; ratio: number | null; note: string }> }>;
}

function panel(res: RunResults, suite: SuiteName, reference: string, title: string): Panel | null {
  const targets = res.targets.filter((t) => t.suite === suite && t.id !== reference && !t.unavailable);
  const byRow = new Map<string, Figure[]>();
  for (const f of res.figures) {
    if (f.suite !== suite) continue;
    const k = rowKey(f);
    byRow.set(k, [...(byRow.get(k) ?? []), f]);
  }
  const groups: Panel['groups'] = [];
  for (const [, fs] of byRow) {
    const first = fs[0]!;
    const bars = targets.map((t) => {
      const f = fs.find((x) => x.target === t.id);
      const ratio = f?.status === 'ok' ? (f.ratios[reference] ?? null) : null;
      return { target: t.id, ratio, note: f ? (f.status === 'ok' ? (ratio === null ? 'no reference' : fmtRatio(ratio)) : f.status) : '' };
    });
    if (bars.every((b) => b.note === '')) continue;
    groups.push({ label: `${first.bench}${first.variant ? ` (${first.variant})` : ''}`, bars });
  }
  if (!groups.length || !targets.length) return null;
  return { title, reference, targets, groups };
}

const W = 900;
const LABEL_W = 190;
const RIGHT_PAD = 70;
const BAR_H = 9;
const GROUP_GAP = 8;

/** Log-scale axis from lo to hi (ratios), to pixel x. */
function scale(lo: number, hi: number): (r: number) => number {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return (r) => LABEL_W + ((Math.log10(Math.min(Math.max(r, lo), hi)) - a) / (b - a)) * (W - LABEL_W - RIGHT_PAD);
}

function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

function drawPanel(p: Panel, y0: number, color: (t: string) => string): { svg: string[]; height: number } {
  const ratios = p.groups.flatMap((g) => g.bars.map((b) => b.ratio)).filter((r): r is number => r !== null && r > 0);
  const lo = Math.min(0.5, ...ratios.map((r) => r * 0.8));
  const hi = Math.max(2, ...ratios.map((r) => r * 1.25));
  const x = scale(lo, hi);
  const out: string[] = [];
  let y = y0;
  out.push(`<text x="10" y="${y + 14}" font-size="14" font-weight="bold">${xml(p.title)}</text>`);
  y += 24;
  // Legend.
  let lx = 10;
  for (const t of p.targets) {
    out.push(`<rect x="${lx}" y="${y}" width="10" height="10" fill="${color(t.id)}"/>`, `<text x="${lx + 14}" y="${y + 9}" font-size="11">${xml(t.label)}</text>`);
    lx += 24 + t.label.length * 6.2;
    if (lx > W - 150) {
      lx = 10;
      y += 16;
    }
  }
  y += 22;
  const top = y;
  for (const g of p.groups) {
    const gh = g.bars.length * (BAR_H + 1);
    out.push(`<text x="${LABEL_W - 6}" y="${y + gh / 2 + 4}" font-size="11" text-anchor="end">${xml(g.label)}</text>`);
    for (const b of g.bars) {
      if (b.ratio !== null && b.ratio > 0) {
        const x0 = x(lo);
        out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(1, x(b.ratio) - x0).toFixed(1)}" height="${BAR_H}" fill="${color(b.target)}"/>`);
        out.push(`<text x="${(x(b.ratio) + 3).toFixed(1)}" y="${y + BAR_H - 1}" font-size="8">${xml(b.note)}</text>`);
      } else if (b.note) {
        out.push(`<text x="${(x(lo) + 3).toFixed(1)}" y="${y + BAR_H - 1}" font-size="8" fill="#888">${xml(b.note)}</text>`);
      }
      y += BAR_H + 1;
    }
    y += GROUP_GAP;
  }
  // Axis: ticks, grid, and the 1× line of the reference.
  for (const t of ticks(lo, hi)) {
    const tx = x(t).toFixed(1);
    const one = t === 1;
    out.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${y}" stroke="${one ? '#000' : '#ddd'}" stroke-width="${one ? 1.2 : 0.6}"/>`);
    out.push(`<text x="${tx}" y="${y + 12}" font-size="10" text-anchor="middle">${Number(t.toPrecision(2))}×</text>`);
  }
  out.push(`<text x="${LABEL_W}" y="${y + 26}" font-size="10" fill="#555">ratio to ${xml(p.reference)} (log scale, lower is better)</text>`);
  return { svg: out, height: y + 34 - y0 };
}

export function renderSvg(res: RunResults): string {
  const ids = [...new Set(res.targets.map((t) => t.id))];
  const color = (t: string): string => PALETTE[ids.indexOf(t) % PALETTE.length]!;
  const panels = [
    panel(res, 'micro', 'node-fs', 'In-process: time per operation ÷ node:fs on a flat directory'),
    panel(res, 'mount', 'kernel', 'Mount level: wall time ÷ kernel overlayfs'),
    panel(res, 'import', 'tar-gz', 'Import of one OCI image: wall time ÷ tar -xzf of its layers'),
  ].filter((p): p is Panel => p !== null);
  const body: string[] = [];
  let y = 10;
  body.push(`<text x="10" y="${y + 14}" font-size="15" font-weight="bold">${xml(`ufs benchmarks ${res.date.slice(0, 10)} ${res.commit} (${res.mode})`)}</text>`);
  y += 28;
  if (!panels.length) body.push(`<text x="10" y="${y + 14}" font-size="12">no ratios in this run</text>`);
  for (const p of panels) {
    const d = drawPanel(p, y, color);
    body.push(...d.svg);
    y += d.height + 10;
  }
  const h = Math.max(y, 80);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
