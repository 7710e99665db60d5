#!/usr/bin/env bash
# Runs pjdfstest inside a fresh ufsmount (two lower layers and an upper, allow_other, as root), the
# way docs/ufsmount.md "Conformance" describes, then unmounts and removes the layers.
# usage: scripts/pjdfstest.sh PJDFSTEST_DIR [TEST...]
#   TEST: a directory or file under PJDFSTEST_DIR/tests (mkdir, mkdir/03.t, mkdir/03); default: all
# env:  UFSMOUNT   the command that mounts (default: node dist/lib/cli/ufsmount.js, built by
#                  `npx tsc -p tsconfig.build.json`; `npx tsx lib/cli/ufsmount.ts` needs no build)
#       UFS_PJD_OPTS  more -o options (e.g. whiteout=aufs)
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 PJDFSTEST_DIR [TEST...]" >&2
  exit 2
fi
pjd=$(cd "$1" && pwd)
shift
[ -x "$pjd/pjdfstest" ] || { echo "$0: $pjd/pjdfstest is not built (autoreconf -ifs && ./configure && make pjdfstest)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: pjdfstest needs root" >&2; exit 2; }
command -v prove >/dev/null || { echo "$0: prove (perl) is missing" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
read -r -a mountcmd <<<"${UFSMOUNT:-node $repo/dist/lib/cli/ufsmount.js}"

tests=()
for t in "$@"; do
  t=${t%.t}
  if [ -d "$pjd/tests/$t" ]; then tests+=("$pjd/tests/$t")
  elif [ -f "$pjd/tests/$t.t" ]; then tests+=("$pjd/tests/$t.t")
  else echo "$0: no test $t in $pjd/tests" >&2; exit 2
  fi
done
[ ${#tests[@]} -gt 0 ] || tests=("$pjd/tests")

base=$(mktemp -d /tmp/ufs-pjd.XXXXXX)
mnt=$base/mnt
mkdir -p "$base/l1" "$base/l2" "$base/upper" "$base/work" "$mnt"
chmod 755 "$base" "$base"/*
cleanup() {
  cd /
  if grep -q " $mnt " /proc/mounts; then
    (cd "$repo" && "${mountcmd[@]}" -u "$mnt") || umount -l "$mnt" || true
  fi
  rm -rf "$base"
}
trap cleanup EXIT

opts="lowerdir=$base/l1:$base/l2,upperdir=$base/upper,workdir=$base/work,allow_other${UFS_PJD_OPTS:+,$UFS_PJD_OPTS}"
(cd "$repo" && "${mountcmd[@]}" -o "$opts" ufs-pjdfstest "$mnt")
cd "$mnt"
status=0
prove -r "${tests[@]}" || status=$?
exit $status
