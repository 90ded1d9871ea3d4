#!/usr/bin/env bash
# Crash replay (short form): run a workload on a write-logged mount, then
# rebuild the device at every flush point and at random prefixes with
# unflushed writes dropped; each image must fsck clean (UNDO replayed in
# memory), mount, and hold every file fsync'd before that point exactly.
# HFS_LONG=1 runs more workloads and random prefixes.
. "$(dirname "$0")/../lib.sh"
base=$(mkimg base.img 200M)
"$B/mkfs.hfs" -q "$base"
work=$T/work.img
cp --sparse=always "$base" "$work"
m=$T/m
log=$T/wlog
check "mount with the write log" hfs_mount "$m" "$work" -o write_log=$log,flush_interval=3600
mkdir -p "$T/exp"
n=${HFS_LONG:+60}; n=${n:-15}
: > "$T/synced"
for i in $(seq 1 "$n"); do
	size=$(( (i * 7919) % 300000 + 1 ))
	head -c "$size" /dev/urandom > "$T/exp/f$i"
	mkdir -p "$m/d$((i % 4))"
	dd if="$T/exp/f$i" of="$m/d$((i % 4))/f$i" conv=fsync status=none
	# records in the log once this fsync returned: the file is durable there
	echo "$i $("$B/wlog" count "$log" | cut -d' ' -f1)" >> "$T/synced"
	# churn that is never fsync'd
	echo "churn $i" > "$m/c$i"; mv "$m/c$i" "$m/d$((i % 4))/c$i" 2>/dev/null
	[ $((i % 5)) = 0 ] && rm -f "$m/d$(((i - 1) % 4))/c$((i - 1))"
done
pkill -KILL -f "$B/hfs $work" ; sleep 0.5
fusermount3 -u -z "$m" 2>/dev/null
for i in $(seq 1 100); do flock -n "$work" true && break; sleep 0.1; done

states=0; bad=0
verify() { # verify UPTO DROPMASK
	local upto=$1 mask=$2 img=$T/crash.img
	cp --sparse=always "$base" "$img"
	"$B/wlog" replay "$log" "$img" "$upto" "$mask" >/dev/null || { echo "replay failed at $upto"; return 1; }
	"$B/fsck.hfs" -n "$img" > "$T/fsck.out" 2>&1 || { echo "fsck -n at record $upto mask $mask:"; cat "$T/fsck.out"; return 1; }
	hfs_mount "$m" "$img" || { echo "mount failed at $upto"; return 1; }
	local ok=0 i r
	while read -r i r; do
		[ "$r" -le "$upto" ] || continue
		cmp -s "$T/exp/f$i" "$m/d$((i % 4))/f$i" || { echo "f$i differs at record $upto (synced at $r)"; ok=1; }
	done < "$T/synced"
	hfs_umount "$m" "$img" || ok=1
	"$B/fsck.hfs" -n "$img" >/dev/null 2>&1 || { echo "fsck after mount at $upto"; ok=1; }
	return $ok
}
for f in $("$B/wlog" flushes "$log"); do
	states=$((states + 1))
	verify $((f + 1)) 0 || bad=$((bad + 1))
done
read -r total _ < <("$B/wlog" count "$log")
nrand=${HFS_LONG:+200}; nrand=${nrand:-20}
for k in $(seq 1 "$nrand"); do
	states=$((states + 1))
	verify $(( (RANDOM * 32768 + RANDOM) % total + 1 )) $(( RANDOM )) || bad=$((bad + 1))
done
echo "crash states checked: $states, failures: $bad"
check "every crash state consistent and durable" test "$bad" = 0
finish
