#!/usr/bin/env bash
# The fault test device through the daemon (-o fault=FILE): a bad rules
# file refuses the mount with FILE:LINE; on a 2-leg mirror, leg 1 starts
# failing every write in the middle of a copy (the rules file is rewritten
# under the running mount): the copy completes, the leg is marked failed,
# the data is intact after a remount and fsck is clean.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
a=$(mkimg f0.img 256M); b=$(mkimg f1.img 256M)
rules=$T/rules; m=$T/m
"$B/mkfs.hfs" -q -f "$a" "$b"

printf 'comp=0 action=fail\ncomp=1 op=scribble action=fail\n' > "$rules"
out=$(timeout 60 "$B/hfs" -o fault="$rules" "$a" "$b" "$(mkdir -p "$m"; echo "$m")" 2>&1); rc=$?
check "bad rule refuses the mount" test "$rc" -ne 0
check "the message names FILE:LINE" grep -q "$rules:2: op=scribble" <<< "$out"
check "nothing mounted" bash -c "! grep -q ' $m ' /proc/mounts"
rm -f "$rules"
out=$(timeout 60 "$B/hfs" -o fault="$rules" "$a" "$b" "$m" 2>&1); rc=$?
check "missing rules file refuses the mount" bash -c "[ $rc -ne 0 ] && grep -q 'No such file' <<< '$out'"

: > "$rules"
check "mount with an empty rules file" hfs_mount "$m" -o fault="$rules",flush_interval=1 "$a" "$b"
cp -a "$SRC" "$m/tree" & cpid=$!
sleep 0.3
echo "comp=1 op=write action=fail" > "$rules"
check "copy completes while leg 1 fails" wait $cpid
check "sync" sync -f "$m/tree"
sleep 1.5   # the status file is republished after each periodic flush
st=$("$B/hfsctl" status "$m" --json)
check "status: leg 1 failed" grep -q "\"path\": \"$b\", \"state\": \"failed\", \"read_errors\": 0, \"write_errors\": [1-9]" <<< "$st"
check "status: leg 0 optimal" grep -q "\"path\": \"$a\", \"state\": \"optimal\"" <<< "$st"
check "diff -r while degraded" diff -r --no-dereference "$SRC" "$m/tree"
check "unmount" hfs_umount "$m" "$a"
check "fsck.hfs -n clean" "$B/fsck.hfs" -n "$a" "$b"
check "remount without faults" hfs_mount "$m" "$a" "$b"
check "diff -r after remount" diff -r --no-dereference "$SRC" "$m/tree"
check "unmount again" hfs_umount "$m" "$a"
finish
