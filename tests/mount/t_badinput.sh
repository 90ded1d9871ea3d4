#!/usr/bin/env bash
# Bad input at mount time: a clear message and a non-zero exit, never a
# crash or a hang; a damaged header copy still mounts from the other one.
. "$(dirname "$0")/../lib.sh"
m=$T/m; mkdir -p "$m"

expect_fail() { # expect_fail DESCRIPTION PATTERN CMD...
	local what=$1 pat=$2; shift 2
	out=$(timeout 30 "$@" 2>&1); rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qi -- "$pat" <<<"$out" && ! grep -q " ${EXPECT_MNT:-$m} " /proc/mounts; then
		ok "$what (rc $rc)"
	else
		fail "$what: rc $rc, output: $out"
	fi
}

zero=$(mkimg zero.img 100M)
expect_fail "mount an empty image" "not an hfs volume" "$B/hfs" "$zero" "$m"
junk=$(mkimg junk.img 100M)
head -c 2M /dev/urandom | dd of="$junk" conv=notrunc status=none
expect_fail "mount random garbage" "not an hfs volume" "$B/hfs" "$junk" "$m"
if command -v mkfs.ext4 >/dev/null; then
	ext=$(mkimg ext.img 100M); mkfs.ext4 -q -F "$ext" >/dev/null 2>&1
	expect_fail "mount an ext4 image" "not an hfs volume" "$B/hfs" "$ext" "$m"
fi
img=$(mkimg a.img 200M)
"$B/mkfs.hfs" -q "$img"
expect_fail "bad mount option" "bad option" "$B/hfs" "$img" "$m" -o engine=warp
expect_fail "mountpoint is not a directory" "not a directory" "$B/hfs" "$img" "$img"
expect_fail "missing device" "No such file" "$B/hfs" "$T/nope.img" "$m"
expect_fail "hfsctl status with a bad option" "unknown option" "$B/hfsctl" status --bogus "$img"
out=$("$B/hfsctl" status --help 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "^usage: hfsctl status" <<<"$out"; then
	ok "hfsctl status --help prints the usage"
else
	fail "hfsctl status --help: rc $rc, output: $out"
fi

# flip one bit in header copy 1 (the data area starts 1 MiB into the image)
printf '\x01' | dd of="$img" bs=1 seek=$((1048576 + 16384 + 300)) conv=notrunc status=none
check "mount with one damaged header copy" hfs_mount "$m" "$img"
check "usable" bash -c "echo x > '$m/f' && test \"\$(cat '$m/f')\" = x"
check "unmount" hfs_umount "$m" "$img"
# both copies garbage
head -c 32768 /dev/urandom | dd of="$img" bs=1 seek=1048576 conv=notrunc status=none
expect_fail "both header copies damaged" "volume header" "$B/hfs" "$img" "$m"

# a mirror with a missing leg
l0=$(mkimg l0.img 200M); l1=$(mkimg l1.img 200M)
"$B/mkfs.hfs" -q "$l0" "$l1"
check "mirror mounts" hfs_mount "$m" "$l0" "$l1"
echo keep > "$m/k"
check "unmount" hfs_umount "$m" "$l0"
expect_fail "mirror with a leg missing" "degraded" "$B/hfs" "$l0" "$m"
check "mounts with -o degraded" hfs_mount "$m" "$l0" -o degraded
check "data there degraded" test "$(cat "$m/k")" = keep
check "unmount" hfs_umount "$m" "$l0"
# a second mount of a mounted device shares it: t_mount_share.sh
finish
