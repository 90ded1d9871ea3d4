#!/usr/bin/env bash
# Crash replay (tests/crash/crashtool.c): every workload on a write-logged
# mount of the real daemon; every flush point and random record prefixes
# (unflushed writes kept, dropped, reordered or torn by a seed) rebuilt and
# checked: fsck -n clean, mounts, the tree is a state the workload had
# between its sync points, fsync'd files exact, clean unmount, fsck -n clean.
# Short form: 12 random points per workload (>= 500 states); HFS_LONG=1: 250
# per workload and a random seed.  HFS_CRASH_SEED=N replays a run; failures
# are kept in HFS_CRASH_KEEP (default /tmp/hfs-crash-kept) for --replay.
. "$(dirname "$0")/../lib.sh"
keep=${HFS_CRASH_KEEP:-/tmp/hfs-crash-kept}
if [ -n "${HFS_LONG:-}" ]; then
	n=250; seed=${HFS_CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
else
	n=12; seed=${HFS_CRASH_SEED:-20261201}
fi
"$B/crashtool" -s "$seed" -n "$n" -k "$keep" "$T/crash" | tee "$T/out"
rc=${PIPESTATUS[0]}
states=$(awk '/^crashtool: [0-9]+ workloads/ {print $4}' "$T/out")
wls=$(awk '/^crashtool: [0-9]+ workloads/ {print $2}' "$T/out")
check "crash replay: every state consistent and durable (seed $seed)" test "$rc" = 0
check "at least 20 workloads ($wls)" test "${wls:-0}" -ge 20
min=500; [ -n "${HFS_LONG:-}" ] && min=5000
check "at least $min crash states ($states)" test "${states:-0}" -ge "$min"
[ "$rc" = 0 ] || echo "failed states are kept in $keep (crashtool --replay DIR)"
finish
