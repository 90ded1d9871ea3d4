#!/usr/bin/env bash
# DF_PROG for xfstests: "df -T -P" with the type of hfs mounts shown as
# "fuse", the FSTYP xfstests compares it with (_fs_type, _check_mounted_on).
set -o pipefail
df -T -P "$@" | sed -E 's/^([^ ]+ +)fuse\.hfs /\1fuse     /'
