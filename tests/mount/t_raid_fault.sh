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
sock=/run/hfs/$(realpath "$m" | tr / _).sock
check "control socket is mode 0600" test "$(stat -c %a "$sock")" = 600
if id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	chmod 755 "$T"   # so that nobody reaches the mount point at all
	check "nobody reaches the mount point" bash -c "runuser -u nobody -- stat '$m' >/dev/null"
	out=$(runuser -u nobody -- "$B/hfsctl" scrub "$m" 2>&1)
	check "another user cannot use the control socket" grep -q "Permission denied" <<< "$out"
	check "another user still reads the status (file)" bash -c "runuser -u nobody -- '$B/hfsctl' status '$m' | grep -q 'state:  OPTIMAL'"
fi
check "ping answers" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"set_state\": \"optimal\"'"
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

# a block no copy can serve, inside a large file: the read fails with EIO
# (never a short read that the kernel would fill with zeros)
python3 -c "import random,sys; random.seed(3); sys.stdout.buffer.write(random.randbytes(1<<20))" > "$T/pat"
check "write a 1 MiB file" cp "$T/pat" "$m/pat"
check "unmount" hfs_umount "$m" "$a"
off=$(python3 - "$a" "$T/pat" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read(); p = open(sys.argv[2], 'rb').read()
print(d.find(p[5*65536:6*65536]))
PY
)
check "found block 5 of the file on leg 0" test "$off" -gt 0
echo "comp=* op=read action=fail off=$off-$((off + 65536))" > "$rules"
check "remount with block 5 unreadable on every copy" hfs_mount "$m" -o fault="$rules" "$a"  -o degraded
out=$(python3 - "$m/pat" "$T/pat" <<'PY'
import os, sys, errno
# 128 KiB reads; a short read is fine if what it returned is right (the
# next read then starts where it stopped); per 64 KiB block: ok or EIO
fd = os.open(sys.argv[1], os.O_RDONLY); src = open(sys.argv[2], 'rb').read()
res = {}
off = 0
while off < len(src):
    try:
        d = os.pread(fd, 131072, off)
    except OSError as e:
        res[off // 65536] = "EIO" if e.errno == errno.EIO else str(e)
        off = off // 65536 * 65536 + 65536
        continue
    if not d or d != src[off:off + len(d)]:
        res[off // 65536] = "WRONG"
        break
    for b in range(off // 65536, (off + len(d) + 65535) // 65536):
        res.setdefault(b, "ok")
    off += len(d)
print(" ".join(res.get(b, "?") for b in range(16)))
PY
)
echo "   64 KiB blocks read: $out"
check "block 5 fails with EIO, the others are right" test "$out" = "ok ok ok ok ok EIO ok ok ok ok ok ok ok ok ok ok"
check "unmount again" hfs_umount "$m" "$a"
finish
