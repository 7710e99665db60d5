// Reads vitest's JSON report and prints the plain closing line CI reads:
// "N passed, N failed, N skipped", plus the reasons tests were skipped.
import { readFileSync, existsSync } from 'node:fs';

const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.log('0 passed, 1 failed');
  console.error(`summary: no vitest JSON report at ${file ?? '(none given)'}`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
let passed = 0, failed = 0, skipped = 0;
const skippedTitles = [];
for (const suite of report.testResults ?? []) {
  for (const t of suite.assertionResults ?? []) {
    if (t.status === 'passed') passed++;
    else if (t.status === 'failed') failed++;
    else { skipped++; skippedTitles.push(t.fullName ?? t.title); }
  }
  // A file that failed to load has no assertions but counts as a failure.
  if ((suite.assertionResults ?? []).length === 0 && suite.status === 'failed') failed++;
}
if (skippedTitles.length) {
  console.log(`skipped tests (${skippedTitles.length}):`);
  for (const t of skippedTitles) console.log(`  - ${t}`);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
