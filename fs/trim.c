/*
 * trim.c — FITRIM (fstrim(8)): hand the free space back to the devices.
 *
 * The ioctl reaches the daemon through FUSE's ioctl op (on the root
 * directory when fstrim is given the mount point; any inode of the
 * filesystem will do, as on ext4).  FITRIM is _IOWR('X', 121, struct
 * fstrim_range), so even as a restricted ioctl (on a directory) the kernel
 * copies the 24-byte range in and back out by its _IOC encoding.
 *
 * Algorithm, batch by batch over the raw range asked for:
 *   1. fs->lock: hfs_alloc_trim_hold picks the runs of blocks free in the
 *      last committed free map and untouched since (not allocated, not
 *      freed-but-uncommitted, not held by another trim) of at least
 *      minlen, and holds them: the allocator skips held blocks.
 *   2. no lock: raid_discard each run (every mirror leg, each stripe
 *      column's part; raid/discard.c).
 *   3. fs->lock: release the holds.
 * Why only committed-free blocks: a crash rolls back to the last commit
 * (UNDO), and a block freed since is still referenced by that state; its
 * bytes must survive until the free commits.  Why the hold: a block
 * allocated while its discard is in flight could have its new data
 * discarded after it was written.  Nothing on disk changes: a discard
 * only touches bytes no state references, so no UNDO and no commit.
 * A batch scans about TRIM_BATCH bytes (or one run that long), so at most
 * that much free space is held at a time: an allocation that finds only
 * held space gets ENOSPC, as long as one batch's discards take.
 *
 * Errors as ext4's FITRIM: EPERM (not root), EROFS (read-only mount),
 * EINVAL (minlen over a big-block, start at or beyond the end, len under
 * a block), EOPNOTSUPP (a device supports no discard), EIO (shut down, a
 * device failed the discard).  On success range.len = bytes discarded.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <fuse_lowlevel.h>
#include "fs/hfs_int.h"
#include "fs/shutdown.h"
#include "fs/trim.h"

_Static_assert(HFS_IOC_FITRIM == FITRIM && sizeof(struct hfs_fstrim_range) ==
	       sizeof(struct fstrim_range), "FITRIM encoding");

#define TRIM_BATCH   (64ull << 20)   /* free space held at most at a time */
#define TRIM_MAX_EXT 256             /* runs per batch */

/* The mount may have turned read-only or been shut down meanwhile. */
static int trim_writable(struct hfs_fs *fs)
{
	if (hfs_is_shut_down(fs))
		return -EIO;
	return fs->readonly ? -EROFS : 0;
}

int hfs_trim(struct hfs_fs *fs, uint64_t start, uint64_t len, uint64_t minlen,
	     uint64_t *trimmed)
{
	struct hfs_extent ext[TRIM_MAX_EXT];
	uint64_t size, end, pos, done = 0;
	int ret, n, i;

	*trimmed = 0;
	pthread_mutex_lock(&fs->lock);
	ret = trim_writable(fs);
	size = hfs_le64(fs->vh.vh_size);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		return ret;
	if (minlen > HFS_BIGBLOCK || start >= size || len < HFS_BLKSIZE)
		return -EINVAL;
	end = len > size - start ? size : start + len;
	pos = (start + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE;
	end = end / HFS_BLKSIZE * HFS_BLKSIZE;
	if (minlen < HFS_BLKSIZE)
		minlen = HFS_BLKSIZE;
	while (pos < end) {
		pthread_mutex_lock(&fs->lock);
		ret = trim_writable(fs);
		n = ret ? 0 : hfs_alloc_trim_hold(fs, &pos, end, minlen, TRIM_BATCH, ext,
						  TRIM_MAX_EXT);
		pthread_mutex_unlock(&fs->lock);
		if (ret || n < 0) {
			ret = ret ? ret : n;
			break;
		}
		for (i = 0; i < n && !ret; i++) {
			ret = raid_discard(fs->rs, ext[i].raw, ext[i].len);
			if (!ret)
				done += ext[i].len;
		}
		pthread_mutex_lock(&fs->lock);
		hfs_alloc_trim_release(fs, ext, n);
		pthread_mutex_unlock(&fs->lock);
		if (ret)
			break;
	}
	*trimmed = done;
	if (ret && ret != -EOPNOTSUPP)
		HFS_WARN("FITRIM stopped after %llu bytes: %s", (unsigned long long)done,
			 strerror(-ret));
	return ret;
}

void hfs_ioctl_trim(fuse_req_t req, const void *in, size_t in_size, size_t out_size)
{
	struct hfs_fs *fs = fuse_req_userdata(req);
	struct fstrim_range r;
	uint64_t trimmed;
	int ret;

	if (fuse_req_ctx(req)->uid != 0) {   /* CAP_SYS_ADMIN, as far as we can tell */
		fuse_reply_err(req, EPERM);
		return;
	}
	if (in_size < sizeof(r) || out_size < sizeof(r)) {
		fuse_reply_err(req, EINVAL);   /* the kernel copies both ways (_IOWR) */
		return;
	}
	memcpy(&r, in, sizeof(r));
	ret = hfs_trim(fs, r.start, r.len, r.minlen, &trimmed);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	r.len = trimmed;
	fuse_reply_ioctl(req, 0, &r, sizeof(r));
}
