/*
 * iflags.c — inode flags (chattr/lsattr): FS_IOC_GETFLAGS/SETFLAGS and
 * FS_IOC_FSGETXATTR/FSSETXATTR over FUSE_IOCTL, and the rules the flags
 * impose, which the daemon enforces itself.
 *
 * How the ioctls arrive (kernel 6.x, fs/fuse/ioctl.c): chattr's ioctl goes
 * to the VFS fileattr code, which checks ownership (inode_owner_or_capable)
 * and CAP_LINUX_IMMUTABLE for a change of +i/+a, merges the bits the call
 * does not cover from a get, then calls fuse_fileattr_set.  That opens the
 * inode (FUSE_OPEN O_RDONLY, or FUSE_OPENDIR) and sends FUSE_IOCTL with the
 * native 64-bit command (FS_IOC_SETFLAGS encodes a long) but a 4-byte int
 * argument, FUSE_IOCTL_DIR for a directory (libfuse then needs
 * FUSE_CAP_IOCTL_DIR), and a struct fsxattr for the FSxATTR pair.  So the
 * argument size is taken from the request (4 or 8 bytes), never from the
 * command's encoding.
 *
 * Why the daemon enforces: the kernel keeps no S_IMMUTABLE/S_APPEND for
 * FUSE inodes, so none of the VFS's own checks (may_open, may_delete,
 * notify_change, vfs_link, xattr_permission, vfs_fallocate) fire; every
 * operation that reaches us checks the flags here (fuse_ops.c, fuse_ns.c, fuse_data.c, namei.c).
 * What cannot be enforced (no request reaches us): mmap stores into a
 * file that was mapped shared and writable before +i, and fcntl(F_SETFL)
 * dropping O_APPEND (cached writes then still reach us only as writeback).
 * Writes through a descriptor opened before +i: op_ioctl drops the kernel's
 * cached attributes, so the next write(2) revalidates with a GETATTR that
 * carries the descriptor's handle, and op_getattr fails it with EPERM
 * (hfs_iflags_getattr_err).
 *
 * The bits are Linux's FS_*_FL values, stored as they are in i_flags
 * (docs/FORMAT.md); unknown bits are refused with EOPNOTSUPP.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <fuse_lowlevel.h>
#include "fs/dir.h"

_Static_assert(HFS_IFL_SYNC == FS_SYNC_FL && HFS_IFL_IMMUTABLE == FS_IMMUTABLE_FL &&
	       HFS_IFL_APPEND == FS_APPEND_FL && HFS_IFL_NODUMP == FS_NODUMP_FL &&
	       HFS_IFL_NOATIME == FS_NOATIME_FL && HFS_IFL_DIRSYNC == FS_DIRSYNC_FL,
	       "i_flags are the Linux FS_*_FL bits");

#ifndef FS_IOC32_GETFLAGS
#define FS_IOC32_GETFLAGS _IOR('f', 1, int)
#define FS_IOC32_SETFLAGS _IOW('f', 2, int)
#endif

/* xflags of FS_IOC_FSGETXATTR <-> our bits */
static const struct { uint32_t fl, xfl; } xmap[] = {
	{ HFS_IFL_SYNC, FS_XFLAG_SYNC },
	{ HFS_IFL_IMMUTABLE, FS_XFLAG_IMMUTABLE },
	{ HFS_IFL_APPEND, FS_XFLAG_APPEND },
	{ HFS_IFL_NODUMP, FS_XFLAG_NODUMP },
	{ HFS_IFL_NOATIME, FS_XFLAG_NOATIME },
};
/* (FS_XFLAG has no dirsync bit: FSSETXATTR keeps +D as it is) */

static uint32_t to_xflags(uint32_t fl)
{
	uint32_t x = 0;

	for (size_t i = 0; i < sizeof(xmap) / sizeof(xmap[0]); i++)
		if (fl & xmap[i].fl)
			x |= xmap[i].xfl;
	return x;
}

/* -EOPNOTSUPP for an xflag we do not keep */
static int from_xflags(uint32_t x, uint32_t *fl)
{
	*fl = 0;
	for (size_t i = 0; i < sizeof(xmap) / sizeof(xmap[0]); i++)
		if (x & xmap[i].xfl) {
			*fl |= xmap[i].fl;
			x &= ~xmap[i].xfl;
		}
	return x ? -EOPNOTSUPP : 0;
}

/* Set ino's flags to fl for a caller uid (fs->lock held).  The rules of
 * ext4's FS_IOC_SETFLAGS: owner or root (EPERM); +i/+a change only by root
 * (the kernel already checked CAP_LINUX_IMMUTABLE; this covers a caller
 * that reaches us another way); while +i stays set nothing else may change
 * (EPERM); unknown bits EOPNOTSUPP. */
static int set_flags(struct hfs_fs *fs, uint64_t ino, uint32_t uid, uint32_t fl)
{
	struct hfs_inode ip;
	int ret;

	if (fl & ~HFS_IFL_KNOWN)
		return -EOPNOTSUPP;
	if (fs->readonly)
		return -EROFS;
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (ret)
		return ret;
	if (!S_ISREG(ip.mode) && !S_ISDIR(ip.mode))
		return -ENOTTY;
	if ((fl & HFS_IFL_DIRSYNC) && !S_ISDIR(ip.mode))
		return -EOPNOTSUPP;   /* +D is for directories (as ext4 answers) */
	if (uid != 0 && uid != ip.uid)
		return -EPERM;
	if (((fl ^ ip.flags) & (HFS_IFL_IMMUTABLE | HFS_IFL_APPEND)) && uid != 0)
		return -EPERM;
	if ((ip.flags & fl & HFS_IFL_IMMUTABLE) && fl != ip.flags)
		return -EPERM;
	if (fl == ip.flags)
		return 0;
	ip.flags = fl;
	hfs_now(&ip.ctime);   /* a metadata change (generic/277) */
	return hfs_inode_store(fs, &ip);
}

int hfs_iflags_ioctl(struct hfs_fs *fs, uint64_t ino, uint32_t uid, unsigned int cmd,
		     const void *in, size_t in_size, void *out, size_t out_cap, size_t *out_len)
{
	struct hfs_inode ip;
	struct fsxattr fa;
	uint32_t fl;
	int ret;

	*out_len = 0;
	switch (cmd) {
	case FS_IOC_GETFLAGS:
	case FS_IOC32_GETFLAGS:
		if (out_cap < sizeof(uint32_t))
			return -EINVAL;
		ret = hfs_inode_load(fs, ino, &ip);
		if (ret)
			return ret;
		fl = ip.flags;
		/* a long on the caller's side: the bytes past the int are 0 */
		*out_len = out_cap >= sizeof(uint64_t) ? sizeof(uint64_t) : sizeof(uint32_t);
		memset(out, 0, *out_len);
		memcpy(out, &fl, sizeof(fl));
		return 0;
	case FS_IOC_SETFLAGS:
	case FS_IOC32_SETFLAGS:
		if (in_size < sizeof(uint32_t))
			return -EINVAL;
		memcpy(&fl, in, sizeof(fl));
		return set_flags(fs, ino, uid, fl);
	case FS_IOC_FSGETXATTR:
		if (out_cap < sizeof(fa))
			return -EINVAL;
		ret = hfs_inode_load(fs, ino, &ip);
		if (ret)
			return ret;
		memset(&fa, 0, sizeof(fa));
		fa.fsx_xflags = to_xflags(ip.flags);
		memcpy(out, &fa, sizeof(fa));
		*out_len = sizeof(fa);
		return 0;
	case FS_IOC_FSSETXATTR:
		if (in_size < sizeof(fa))
			return -EINVAL;
		memcpy(&fa, in, sizeof(fa));
		/* no extent size hints, no project quotas */
		if (fa.fsx_extsize || fa.fsx_cowextsize || fa.fsx_projid)
			return -EINVAL;
		ret = from_xflags(fa.fsx_xflags, &fl);
		if (!ret)
			ret = hfs_inode_load(fs, ino, &ip);
		return ret ? ret : set_flags(fs, ino, uid, fl | (ip.flags & HFS_IFL_DIRSYNC));
	default:
		return -ENOTTY;
	}
}

int hfs_iflags_dirsync(struct hfs_fs *fs, uint64_t dir)
{
	struct hfs_inode d;

	/* a sync (+S) directory is also dirsync, as on ext4 (IS_DIRSYNC) */
	if (hfs_inode_load(fs, dir, &d) || !(d.flags & (HFS_IFL_DIRSYNC | HFS_IFL_SYNC)))
		return 0;
	return hfs_flush_locked(fs);
}

int hfs_iflags_may_open(const struct hfs_inode *ip, int oflags)
{
	int wr = (oflags & O_ACCMODE) != O_RDONLY;

	if ((ip->flags & HFS_IFL_IMMUTABLE) && (wr || (oflags & O_TRUNC)))
		return -EPERM;
	if ((ip->flags & HFS_IFL_APPEND) && ((wr && !(oflags & O_APPEND)) || (oflags & O_TRUNC)))
		return -EPERM;
	return 0;
}

int hfs_iflags_may_setattr(const struct hfs_inode *ip, int set, int writers)
{
	int only_cmtime = !(set & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) &&
			  (set & FUSE_SET_ATTR_MTIME);

	if (!(ip->flags & (HFS_IFL_IMMUTABLE | HFS_IFL_APPEND)))
		return 0;
	/* The kernel's writeback cache sends the mtime/ctime of cached writes
	 * as a setattr of just those two, while (or when) a writer's
	 * descriptor closes: data written before the flag was set, or
	 * appended since: let those through.  Anything else on +i fails. */
	if (only_cmtime && writers)
		return 0;
	if (ip->flags & HFS_IFL_IMMUTABLE)
		return -EPERM;
	/* append-only: no chmod/chown, no truncate, no explicit times;
	 * touch (both times "now") is allowed, as on ext4.  Under the
	 * writeback cache the kernel sends a regular file's "now" mtime as
	 * a value (it keeps the times itself), so "now" is told by the atime:
	 * touch sends ATIME_NOW with it, utime(2) with times sends neither. */
	if (set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE))
		return -EPERM;
	if ((set & FUSE_SET_ATTR_ATIME) && !(set & FUSE_SET_ATTR_ATIME_NOW))
		return -EPERM;
	if ((set & FUSE_SET_ATTR_MTIME) && !(set & (FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME_NOW)))
		return -EPERM;
	return 0;
}
