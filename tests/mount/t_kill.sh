#!/usr/bin/env bash
# Process crash: SIGKILL the daemon in the middle of a write-heavy workload;
# the remount recovers (UNDO replay), fsck is clean, and every file that
# was fsync'd before the kill has exactly its fsync'd content.  Then the
# crash tool's kill mode: its workloads killed at random points, each image
# checked like a power cut (fsck -n clean, mounts, the tree is a state the
# workload had since its last sync point, fsync'd files exact, fsck clean).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg k.img 1G)
m=$T/m
"$B/mkfs.hfs" -q "$img"
for round in 1 2 3; do
	check "round $round: mount" hfs_mount "$m" "$img" -o flush_interval=1
	mkdir -p "$m/r$round"
	# durable files: written and fsync'd (dd conv=fsync) before the kill
	for i in 1 2 3 4 5; do
		head -c $((i * 40000 + round)) /dev/urandom > "$T/durable$round.$i"
		dd if="$T/durable$round.$i" of="$m/r$round/durable$i" conv=fsync status=none
	done
	# background churn that the kill interrupts
	( for j in $(seq 1 400); do
		head -c $((j * 997 % 200000)) /dev/urandom > "$m/r$round/churn$((j % 37))" 2>/dev/null
		mkdir -p "$m/r$round/d$((j % 11))" 2>/dev/null
		mv "$m/r$round/churn$((j % 37))" "$m/r$round/d$((j % 11))/" 2>/dev/null
	  done ) 2>/dev/null &
	churn=$!
	sleep "0.$((RANDOM % 9 + 1))"
	pkill -KILL -f "hfs.* $img $m\$" || pkill -KILL -f "$B/hfs $img"
	wait $churn 2>/dev/null
	fusermount3 -u -z "$m" 2>/dev/null
	for i in $(seq 1 100); do flock -n "$img" true && break; sleep 0.1; done
	check "round $round: fsck -n after the kill (replay in memory)" bash -c "'$B/fsck.hfs' -n '$img' >/dev/null"
	check "round $round: remount after the kill" hfs_mount "$m" "$img"
	for r in $(seq 1 $round); do
		for i in 1 2 3 4 5; do
			check "round $round: fsync'd file r$r/durable$i intact" cmp "$T/durable$r.$i" "$m/r$r/durable$i"
		done
	done
	check "round $round: unmount" hfs_umount "$m" "$img"
	check "round $round: fsck clean" "$B/fsck.hfs" -n "$img"
done
seeds=${HFS_LONG:+1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16}; seeds=${seeds:-1 2 3 4}
for s in $seeds; do
	check "kill mode, seed $s: every killed state consistent" \
		"$B/crashtool" --kill -s "$s" "$T/kill"
done
finish
