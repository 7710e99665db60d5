// The mount-level benchmarks: shell commands run against a mounted directory (cwd = the mount),
// with untimed checks whose output must equal the plain directory's (so a fast but wrong target shows).
import path from 'node:path';
import { BIG, LISTED, MANY, type MountData, type MountSizes, type MountStack } from './data.js';
import { shq } from './proc.js';

export interface MountBench {
  id: string;
  /** What is measured; {N} stands for n(sizes), {BIG} for the big file's size. */
  title: string;
  n?: (s: MountSizes) => number;
  stack: MountStack['name'];
  /** read: one mount serves all warm runs; write: a fresh mount for every run (and the plain dir put back). */
  kind: 'read' | 'write';
  variants: Array<'warm' | 'cold'>;
  /** The timed command, run with the mounted directory as its working directory. */
  cmd(d: MountData, s: MountSizes): string;
  /** The figure from the command's output (seconds per operation) instead of its wall time. */
  parse?: (stdout: string) => number;
  /** An untimed command whose output must be the plain directory's (after the timed run, for writes). */
  check?(d: MountData, s: MountSizes): string;
  /**
   * cold: after dropping the caches, wait (`MountSizes.coldSettle`) until the machine has handed the
   * freed memory back. A virtual machine with free page reporting (virtio-balloon) gives the memory
   * just freed (the previous run's GiB of page cache, two where a FUSE server reads through the
   * lower file's cache) back to its host in batches every ~2 s, for 10 s and more; a run that fills
   * its page cache meanwhile gets pages the host must fault in again (the kernel's copy into them,
   * FUSE's `fuse_copy_do`, took 8x longer), and how many depended on how much the previous target
   * freed. Waiting until the counter goes quiet (settle.ts) lets every target start alike.
   */
  coldSettle?: boolean;
  /** write: untimed, on the fresh mount before the timed run (reads what the change will touch). */
  warmup?: string;
  /** write, plain directory: puts the data set back after a run. */
  reset?(stack: MountStack, s: MountSizes): string;
}

/** A bash loop testing each name of a list with `[ -e ]` (one stat each, no process per name). */
function statLoop(list: string, count: boolean): string {
  return count
    ? `cd ${LISTED} && mapfile -t n < ${shq(list)} && c=0 && for x in "\${n[@]}"; do [ -e "$x" ] && c=$((c+1)); done; echo $c`
    : `cd ${LISTED} && mapfile -t n < ${shq(list)} && for x in "\${n[@]}"; do [ -e "$x" ]; done; true`;
}

function fioCmd(s: MountSizes): string {
  return [
    'fio --name=randread --filename=' + BIG,
    '--readonly --rw=randread --bs=4k --ioengine=psync --invalidate=0 --randrepeat=1 --norandommap',
    `--size=${s.bigBytes} --io_size=${s.randReadBytes} --output-format=json`,
  ].join(' ');
}

/** Seconds per 4 KiB read from fio's JSON (mean completion latency plus submission). */
function parseFio(stdout: string): number {
  const start = stdout.indexOf('{');
  const j = JSON.parse(stdout.slice(start)) as { jobs: Array<{ read: { lat_ns?: { mean: number }; clat_ns?: { mean: number }; total_ios: number } }> };
  const r = j.jobs[0]!.read;
  if (!r.total_ios) throw new Error('fio did no reads');
  const ns = r.lat_ns?.mean ?? r.clat_ns?.mean;
  if (ns === undefined) throw new Error('fio reported no latency');
  return ns / 1e9;
}

function fmtSize(n: number): string {
  return n >= 1 << 30 ? `${n / (1 << 30)} GiB` : `${n / (1 << 20)} MiB`;
}

export function benchTitle(b: MountBench, s: MountSizes): string {
  return b.title.replace('{N}', (b.n?.(s) ?? 0).toLocaleString('en')).replace('{BIG}', fmtSize(s.bigBytes));
}

export const MOUNT_BENCHES: MountBench[] = [
  {
    id: 'walk',
    title: "metadata walk: `find MNT -printf '%s %m\\n'` (root filesystem, 3 layers)",
    stack: 'rootfs',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: () => `find . -printf '%s %m\\n' > /dev/null`,
    check: () =>
      "{ find . -mindepth 1 ! -type d -printf '%P %y %s %m\\n'; find . -mindepth 1 -type d -printf '%P %y %m\\n'; } | LC_ALL=C sort | md5sum",
  },
  {
    id: 'ls-lR',
    title: '`ls -lR MNT` (root filesystem, 3 layers)',
    stack: 'rootfs',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: () => 'ls -lR . > /dev/null',
  },
  {
    id: 'read-all',
    title: 'read every file: `tar cf - . | wc -c` (root filesystem)',
    stack: 'rootfs',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: () => 'tar cf - . 2>/dev/null | wc -c > /dev/null',
    check: () => 'tar cf - . 2>/dev/null | wc -c',
  },
  {
    id: 'seq-read',
    title: 'sequential read of the {BIG} lower file (`dd bs=1M`)',
    stack: 'data',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: () => `dd if=${BIG} of=/dev/null bs=1M status=none`,
    coldSettle: true,
    check: () => `stat -c %s ${BIG}`,
  },
  {
    id: 'rand-read',
    title: '4 KiB random reads of the {BIG} lower file (fio, psync; time per read)',
    stack: 'data',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: (_d, s) => fioCmd(s),
    coldSettle: true,
    parse: parseFio,
  },
  {
    id: 'stat-present',
    title: 'stat of {N} present names (bottom layer of 20)',
    n: (s) => s.statNames,
    stack: 'stack20',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: (d) => statLoop(d.presentList, false),
    check: (d) => statLoop(d.presentList, true),
  },
  {
    id: 'stat-absent',
    title: 'stat of {N} absent names (20 layers)',
    n: (s) => s.statNames,
    stack: 'stack20',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: (d) => statLoop(d.absentList, false),
    check: (d) => statLoop(d.absentList, true),
  },
  {
    id: 'list-20',
    title: '`ls -f` of a directory merged from 20 layers',
    stack: 'stack20',
    kind: 'read',
    variants: ['cold', 'warm'],
    cmd: () => `ls -f ${LISTED} > /dev/null`,
    check: () => `ls -f ${LISTED} | LC_ALL=C sort | md5sum`,
  },
  {
    id: 'copyup-append',
    title: 'append one byte to the {BIG} lower file (copy-up)',
    stack: 'data',
    kind: 'write',
    variants: ['warm'],
    warmup: `cat ${BIG} > /dev/null`,
    cmd: () => `printf x >> ${BIG}`,
    check: () => `stat -c %s ${BIG}; tail -c 1 ${BIG}`,
    reset: (_st, s) => `truncate -s ${s.bigBytes} ${BIG}`,
  },
  {
    id: 'chmod-big',
    title: 'chmod of the {BIG} lower file (metadata copy-up)',
    stack: 'data',
    kind: 'write',
    variants: ['warm'],
    warmup: `cat ${BIG} > /dev/null`,
    cmd: () => `chmod 600 ${BIG}`,
    check: () => `stat -c '%a %s' ${BIG}`,
    reset: () => `chmod 644 ${BIG}`,
  },
  {
    id: 'create-small',
    title: 'create {N} small files (bash `echo x > f$i`)',
    n: (s) => s.createFiles,
    stack: 'data',
    kind: 'write',
    variants: ['warm'],
    cmd: (_d, s) => `mkdir new && cd new && for ((i = 0; i < ${s.createFiles}; i++)); do echo x > f$i; done`,
    check: () => 'ls new | wc -l; cat new/f1',
    reset: () => 'rm -rf new',
  },
  {
    id: 'rm-rf',
    title: '`rm -rf` of a lower directory of {N} files',
    n: (s) => s.manyFiles,
    stack: 'data',
    kind: 'write',
    variants: ['warm'],
    warmup: `find ${MANY} > /dev/null`,
    cmd: () => `rm -rf ${MANY}`,
    check: () => 'ls -A | LC_ALL=C sort',
    reset: (st) => `rm -rf ${MANY} && cp -a ${shq(path.join(st.layers[1]!, MANY))} ${MANY}`,
  },
];
