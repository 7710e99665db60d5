// Named crash points for tests: with UFS_CRASH_AT=<name> in the environment, the process kills
// itself (SIGKILL) when it reaches that point, to prove the store survives a crash exactly there.
export function crashPoint(name: string): void {
  if (process.env.UFS_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
