# hooks.sh — sourced by the local.config that run.sh writes.
#
# xfstests treats FSTYP=fuse as a filesystem it cannot create or check:
# _scratch_mkfs only empties the mounted scratch directory, _scratch_mkfs_sized
# is "not supported" (so every ENOSPC test would be notrun) and the
# consistency checks do nothing.  hfs has mkfs.hfs and fsck.hfs, so these
# hooks give xfstests the real thing:
#   _scratch_mkfs              mkfs.hfs -f of SCRATCH_DEV
#   _try_scratch_mkfs_sized N  mkfs.hfs -f -S N (_scratch_mkfs_sized calls it)
#   _try_mkfs_dev ... DEV      mkfs.hfs -f DEV (_mkfs_dev calls it)
#   _check_test_fs, _check_scratch_fs   unmount, fsck.hfs -n, mount again
#   _repair_test_fs            fsck.hfs -y
# local.config is sourced by common/config before common/rc defines its
# functions, so definitions made here would be overwritten.  A RETURN trap
# runs after every file that bash sources completes, so it (re)installs the
# hooks right after common/rc has (re)defined its functions; it keeps $? of
# the sourced file.  Nothing in the xfstests tree is changed.

_hfs_log() { [ -n "${seqres:-}" ] && echo "$*" >> "$seqres.full"; return 0; }

_hfs_mkfs() { # _hfs_mkfs DEV [mkfs.hfs options]
	local dev=$1 out rc; shift
	out=$("$HFS_MKFS" -f -q $MKFS_OPTIONS "$@" "$dev" 2>&1); rc=$?
	_hfs_log "mkfs.hfs -f -q $MKFS_OPTIONS $* $dev -> $rc $out"
	[ $rc -eq 0 ] || echo "mkfs.hfs $* $dev failed: $out" >&2
	return $rc
}

_hfs_is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

_hfs_check() { # _hfs_check DEV MNT test|scratch
	local dev=$1 mnt=$2 which=$3 mounted="" out rc
	if _hfs_is_mounted "$mnt"; then
		mounted=1
		$UMOUNT_PROG "$mnt" || { echo "_check_hfs_filesystem: cannot unmount $mnt"; return 1; }
	fi
	out=$("$HFS_FSCK" -n "$dev" 2>&1); rc=$?
	if [ $rc -ne 0 ]; then
		echo "_check_hfs_filesystem: filesystem on $dev is inconsistent (fsck.hfs -n exit $rc, see ${seqres:-}.full)"
		_hfs_log "_check_hfs_filesystem: fsck.hfs -n $dev exit $rc"
		_hfs_log "$out"
	fi
	if [ -n "$mounted" ]; then
		if [ "$which" = test ]; then _test_mount; else _scratch_mount; fi
	fi
	[ $rc -eq 0 ]
}

_hfs_install_hooks() {
	declare -F _scratch_mkfs >/dev/null || return 0      # common/rc not read yet
	declare -f _scratch_mkfs | grep -q _hfs_mkfs && return 0
	_scratch_mkfs() { # options given are for other filesystems
		[ $# -eq 0 ] || _hfs_log "_scratch_mkfs: ignored options: $*"
		_hfs_mkfs "$SCRATCH_DEV"
	}
	_try_scratch_mkfs_sized() { _hfs_mkfs "$SCRATCH_DEV" -S "$1"; }
	# a filesystem on a loop device a test made: the device is the last argument
	_try_mkfs_dev() { _hfs_mkfs "${@: -1}"; }
	_check_test_fs() { _hfs_check "$TEST_DEV" "$TEST_DIR" test; }
	_check_scratch_fs() { _hfs_check "${1:-$SCRATCH_DEV}" "$SCRATCH_MNT" scratch; }
	_repair_test_fs() {
		_hfs_is_mounted "$TEST_DIR" && $UMOUNT_PROG "$TEST_DIR"
		"$HFS_FSCK" -y "$TEST_DEV" >> "${seqres:-/dev/null}.full" 2>&1
	}
	return 0
}
trap '_hfs_install_hooks' RETURN
