#!/usr/bin/env bash
# MOUNT_PROG for xfstests: "-t fuse.hfs [-o opts] DEV DIR" runs the hfs daemon
# of this build tree ($HFS_BIN), so a run tests the tree it was started from
# and never an installed copy; every other mount goes to mount(8) unchanged.
set -u
type="" opts="" pos=()
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	-t) type=$2; shift 2 ;;
	-t*) type=${1#-t}; shift ;;
	-o) opts=${opts:+$opts,}$2; shift 2 ;;
	-o*) opts=${opts:+$opts,}${1#-o}; shift ;;
	-*) exec mount "${args[@]}" ;;    # flags hfs does not take: mount(8)'s business
	*) pos+=("$1"); shift ;;
	esac
done
case ",$opts," in *,remount,*) exec mount "${args[@]}" ;; esac
# tests that mount with "-t $FSTYP" say plain fuse: in a run, that is hfs
[ "$type" = fuse ] && type=fuse.hfs
# no type (_mount IMAGE DIR of a filesystem a test made): mount(8) cannot
# tell hfs, so look for its component label ("HFSRAID1" at byte 0)
if [ -z "$type" ] && [ ${#pos[@]} -eq 2 ] && [ -r "${pos[0]}" ] && [ ! -d "${pos[0]}" ] &&
   [ "$(head -c 8 "${pos[0]}" 2>/dev/null | tr -d '\0')" = HFSRAID1 ]; then
	type=fuse.hfs
fi
if [ "$type" != fuse.hfs ] || [ ${#pos[@]} -ne 2 ]; then
	exec mount "${args[@]}"
fi
exec "$HFS_BIN" "${pos[0]}" "${pos[1]}" ${opts:+-o "$opts"}
