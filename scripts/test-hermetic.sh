#!/usr/bin/env bash
# Runs the built test suite on hosts unlike the developer's, to show it passes anywhere (docs/testing.md):
#   other-kernel  another kernel release (setarch --uname-2.6: uname reports 2.6.x)
#   no-kvm        /dev/kvm hidden (a private mount namespace whose /dev lacks it), as root
#   non-root      as user nobody (no /dev/kvm access, perf limited by kernel.perf_event_paranoid, no lock dir)
#   one-cpu       confined to one CPU, the last one allowed, so not CPU 0 where there are two (taskset, as a
#                 cpuset or a farm's pinning would)
# Usage: scripts/test-hermetic.sh [--filter REGEX] [VARIANT...]   (default: all four)
# Needs root (namespaces, setpriv) and a built suite (`swift build --build-tests`); each variant runs the
# Swift Testing binary directly and prints its closing line. Exit 0 when every variant passed.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=()
variants=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=(--filter "$2"); shift 2 ;;
    other-kernel|no-kvm|non-root|one-cpu) variants+=("$1"); shift ;;
    *) echo "test-hermetic: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
[ ${#variants[@]} -gt 0 ] || variants=(other-kernel no-kvm non-root one-cpu)
if [ "$(id -u)" -ne 0 ]; then echo "test-hermetic: SKIP: needs root (mount namespaces, setpriv)"; exit 0; fi
bin="$(swift build --show-bin-path)/lbrprobePackageTests.xctest"
[ -x "$bin" ] || { echo "test-hermetic: no built suite at $bin (run swift build --build-tests)" >&2; exit 66; }
scratch=$(mktemp -d /tmp/lbrprobe-hermetic.XXXXXX)
chmod 0777 "$scratch"
trap 'rm -rf "$scratch"' EXIT
suite=("$bin" --testing-library swift-testing "${filter[@]}")

# A /dev without kvm: the real /dev is bound aside, a tmpfs takes its place, and every entry but kvm comes back
# (device nodes and links copied, directories such as pts and shm bound).
hide_kvm='set -e
old=$(mktemp -d /tmp/lbrprobe-olddev.XXXXXX)
mount --bind /dev "$old"
mount -t tmpfs -o mode=0755 tmpfs /dev
for e in "$old"/* "$old"/.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n=$(basename "$e")
  [ "$n" = kvm ] && continue
  if [ -d "$e" ] && [ ! -L "$e" ]; then mkdir -p "/dev/$n"; mount --bind "$e" "/dev/$n"
  else cp -a "$e" "/dev/$n"; fi
done
test ! -e /dev/kvm
exec "$@"'

status=0
for v in "${variants[@]}"; do
  log="$scratch/$v.log"
  case "$v" in
    other-kernel) cmd=(setarch x86_64 --uname-2.6 "${suite[@]}") ;;
    no-kvm) cmd=(unshare --mount --propagation private sh -c "$hide_kvm" hide-kvm "${suite[@]}") ;;
    non-root) cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups
                   env HOME="$scratch" TMPDIR="$scratch" "${suite[@]}") ;;
    one-cpu) last=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*.*[,-]\([0-9]*\)$/\1/p; s/^Cpus_allowed_list:[[:space:]]*\([0-9]*\)$/\1/p' /proc/self/status)
             cmd=(taskset -c "$last" "${suite[@]}") ;;
  esac
  rc=0
  "${cmd[@]}" >"$log" 2>&1 || rc=$?
  closing=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^. Test run with ' | tail -1)
  skipped=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -cE ' (skipped|was cancelled)' || true)
  echo "test-hermetic $v: exit $rc, $skipped skipped or cancelled; ${closing:-no closing line}"
  if [ "$rc" -ne 0 ]; then
    status=1
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'recorded an issue' | cut -c1-300 | head -20 | sed "s/^/  $v: /"
  fi
done
exit "$status"
