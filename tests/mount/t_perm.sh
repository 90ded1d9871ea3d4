#!/usr/bin/env bash
# Multi-user: a system mount made by root from an fstab line (a temporary
# fstab under $T given to mount -T; the real /etc/fstab is never touched)
# serves every user with the kernel's permission checks (allow_other +
# default_permissions) and POSIX ACLs enforced and inherited.  sem/perm.py
# runs operations as root and as unprivileged uids 1500-1502 (no accounts
# needed) and asserts exact errnos and modes; the ACLs survive a remount.
. "$(dirname "$0")/../lib.sh"
chmod 755 "$T"   # the unprivileged users must reach the mount point
img=$(mkimg perm.img 256M)
m=$T/m
mkdir -p "$m"
"$B/mkfs.hfs" -q "$img"
# mount.fuse3 runs "PROGRAM#DEV" sources: no helper link in /sbin needed
echo "$B/hfs#$img $m fuse defaults 0 0" > "$T/fstab"
check "mount -T fstab" timeout 60 mount -T "$T/fstab" "$m"
opts=$(awk -v m="$m" '$2 == m {print $3 " " $4}' /proc/mounts)
check "fuse.hfs with allow_other,default_permissions ($opts)" \
	bash -c "[[ '$opts' == fuse.hfs* && '$opts' == *allow_other* && '$opts' == *default_permissions* ]]"
check "fstab defaults: suid and dev (no nosuid/nodev)" bash -c "[[ '$opts' != *nosuid* && '$opts' != *nodev* ]]"
pycheck perm.py "$m"
getfacl -R -p "$m" > "$T/acl.before" 2>/dev/null
stat -c '%n %a %u %g' "$m"/* "$m"/*/* > "$T/stat.before"
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "mount again from the fstab" timeout 60 mount -T "$T/fstab" "$m"
getfacl -R -p "$m" > "$T/acl.after" 2>/dev/null
stat -c '%n %a %u %g' "$m"/* "$m"/*/* > "$T/stat.after"
check "ACLs after the remount as before" cmp "$T/acl.before" "$T/acl.after"
check "modes and owners after the remount as before" cmp "$T/stat.before" "$T/stat.after"
check "an inherited ACL still grants access after the remount" \
	bash -c "test \"\$(setpriv --reuid 1500 --regid 1500 --clear-groups cat $m/acl/d/f)\" = inherited"
check "umount" hfs_umount "$m" "$img"
finish
