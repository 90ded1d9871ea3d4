#!/usr/bin/env bash
# fallocate(FALLOC_FL_KEEP_SIZE) past EOF: the blocks count, the size does
# not change, fsck accepts them, removing the file frees them (it once
# left them behind when the size was 0) (it once called them "beyond its size"), a
# punch past EOF frees them (it once stopped at EOF), truncate drops them.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg pa.img 256M)
m=$T/m
check "mkfs" "$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
head -c 102400 /dev/urandom > "$T/ref"
cp "$T/ref" "$m/f"
check "fallocate -n past EOF" fallocate -n -o 1048576 -l 1048576 "$m/f"
check "size unchanged" test "$(stat -c %s "$m/f")" = 102400
check "blocks: data + 1 MiB" test "$(stat -c %b "$m/f")" = $((200 + 2048))
check "umount" hfs_umount "$m" "$img"
check "fsck clean with blocks past EOF" "$B/fsck.hfs" -n "$img"
check "mount again" hfs_mount "$m" "$img"
check "blocks kept" test "$(stat -c %b "$m/f")" = $((200 + 2048))
check "punch past EOF" fallocate -p -o 1048576 -l 1048576 "$m/f"
check "blocks freed" test "$(stat -c %b "$m/f")" = 200
check "content kept" cmp "$m/f" "$T/ref"
check "fallocate -n again" fallocate -n -o 65536 -l 1048576 "$m/f"
check "truncate up over preallocation" truncate -s 3145728 "$m/f"
head -c $((3145728 - 102400)) /dev/zero >> "$T/ref"
check "zeros past old EOF" cmp "$m/f" "$T/ref"
check "fallocate -n past EOF" fallocate -n -o 4194304 -l 1048576 "$m/f"
check "truncate down drops everything past it" truncate -s 51200 "$m/f"
check "blocks of 50 KiB" test "$(stat -c %b "$m/f")" = 104
check "huge punch is bounded" timeout 20 fallocate -p -o 0 -l $((1 << 50)) "$m/f"
check "all freed" test "$(stat -c %b "$m/f")" = 0
: > "$m/e"
check "fallocate -n on an empty file" fallocate -n -l 1048576 "$m/e"
check "empty file has blocks" test "$(stat -c %b "$m/e")" = 2048
check "truncate to the same size drops them" truncate -s 0 "$m/e"
check "no blocks" test "$(stat -c %b "$m/e")" = 0
check "fallocate -n on an empty file" fallocate -n -l 1048576 "$m/e"
rm "$m/e"      # once left its data records behind (truncate to 0 skipped a size-0 file)
# FALLOC_FL_ZERO_RANGE (once EOPNOTSUPP): inside, across EOF, past EOF with -n
head -c 307200 /dev/urandom > "$T/zref"; cp "$T/zref" "$m/z"
check "zero range" fallocate -z -o 10240 -l 102400 "$m/z"
dd if=/dev/zero of="$T/zref" bs=1024 seek=10 count=100 conv=notrunc status=none
check "zeroed content" cmp "$m/z" "$T/zref"
check "zero range across EOF grows the file" fallocate -z -o 296960 -l 20480 "$m/z"
check "new size" test "$(stat -c %s "$m/z")" = 317440
check "zero range -n past EOF keeps the size" fallocate -n -z -o 409600 -l 131072 "$m/z"
check "size kept" test "$(stat -c %s "$m/z")" = 317440
check "zeros to the end" cmp -n 296960 "$m/z" "$T/zref"
check "tail is zero" test "$(tail -c 20480 "$m/z" | tr -d '\0' | wc -c)" = 0
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
