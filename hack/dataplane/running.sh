#!/usr/bin/env bash
# Exits 0 when the pid file names a live data-plane harness (hack/dataplane): a stale pid
# file (a reboot, a crash) may name an unrelated process, which must never be signalled.
pidfile=${1:?pid file}
[ -f "$pidfile" ] || exit 1
pid=$(cat "$pidfile")
[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'bin/dataplane'
