// Where a store lives by default: /var/lib/ufs as root, $XDG_DATA_HOME/ufs or ~/.local/share/ufs
// otherwise; UFS_ROOT (and --root on the command line) override it.
import os from 'node:os';
import path from 'node:path';

export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UFS_ROOT) return path.resolve(env.UFS_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/ufs';
  if (env.XDG_DATA_HOME) return path.join(path.resolve(env.XDG_DATA_HOME), 'ufs');
  return path.join(os.homedir(), '.local', 'share', 'ufs');
}
