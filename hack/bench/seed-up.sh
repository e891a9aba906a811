#!/usr/bin/env bash
# Measures the local seed: bring-up time from `seed down` to a Ready node with CoreDNS and
# cert-manager available, over several runs, and the memory its processes hold once up.
#
#   hack/bench/seed-up.sh [runs]          warm: binaries and images already built (default 3 runs)
#   COLD=1 hack/bench/seed-up.sh 1        cold: empty Go and kubeseed caches, every build included
#
# Prints one line per run and the RSS of every seed process (MiB). A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}

if [ "${COLD:-}" = 1 ]; then
  cold=$(mktemp -d /tmp/kubeseed-cold.XXXXXX)
  export KUBESEED_CACHE=$cold/cache GOCACHE=$cold/gocache GOMODCACHE=$cold/gomod
  echo "cold run in $cold" >&2
fi
make -s seed-tool seed-deps
for i in $(seq "$runs"); do
  make -s seed-down >/dev/null 2>&1 || true
  start=$(date +%s.%N)
  make -s seed-up >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v i="$i" -v s="$start" -v e="$end" 'BEGIN { printf "run %d: seed up in %.1f s\n", i, e - s }'
done

# RSS of the seed's host processes and of every process in its containers (shims included).
state=${KUBESEED_CACHE:-$HOME/.cache/kubeseed}/seed
total=0
for pid in $(pgrep -f "$state|containerd-shim" || true); do
  name=$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo "?")")
  kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  total=$((total + kb))
  printf '  %-28s %6d MiB\n' "$name" $((kb / 1024))
done
for cg in /sys/fs/cgroup/memory/kubepods; do
  [ -r "$cg/memory.usage_in_bytes" ] && printf '  %-28s %6d MiB\n' "pods (cgroup)" $(( $(cat "$cg/memory.usage_in_bytes") / 1048576 ))
done
printf 'host processes total: %d MiB\n' $((total / 1024))
