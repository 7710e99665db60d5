// What run.ts hands each suite (mode, selection, temp dir, log) and what a suite hands back.
import type { Figure, TargetInfo } from './results.js';

export interface SuiteContext {
  quick: boolean;
  /** Whether the figure `suite/bench[/variant]/target` was asked for (--only). */
  selected(key: string): boolean;
  /** A fresh directory the suite may fill (on the filesystem whose type the results record). */
  tmp: string;
  /** Keep the data sets after the run (--keep), for a look at them. */
  keep: boolean;
  log(line: string): void;
  /** The repository root (for ufsmount's sources). */
  repo: string;
}

export interface SuiteOutput {
  figures: Figure[];
  targets: TargetInfo[];
  datasets: Record<string, unknown>;
  notes?: string[];
}

/** Turns --only patterns into a selector: a key is selected when any pattern (a regex) matches it. */
export function selector(patterns: string[]): (key: string) => boolean {
  if (patterns.length === 0) return () => true;
  const res = patterns.map((p) => new RegExp(p));
  return (key) => res.some((r) => r.test(key));
}
