/*
 * dirty.c — the writeback budget: how much space hfs keeps for file data
 * the kernel has accepted into its page cache but not yet written back.
 *
 * With FUSE's writeback cache, write(2) and stores through a shared
 * mapping only dirty pages; the data reaches the daemon later, as WRITE
 * requests of the kernel's writeback (fi->writepage), and those must find
 * space: the writer was told its data was taken.  The daemon cannot see
 * the dirty pages, but it can bound them:
 *
 *  (B1) the kernel keeps a FUSE mount's dirty plus under-writeback pages
 *       below the limit of the mount's bdi (FUSE bdis have strictlimit and
 *       max_ratio 1% of the dirty threshold, /sys/class/bdi/MAJ:MIN/
 *       max_bytes); at mount the daemon lowers that limit to D = half the
 *       reserve where it may (root), and reads back what it is;
 *  (B2) an inode has dirty pages only while an open that may write
 *       through the cache exists: the kernel writes the pages back at
 *       close (fuse_flush) and again before RELEASE (fuse_release, which
 *       comes after the last munmap of a mapping), so when the daemon's
 *       count of such opens (fs->cached_writers) is 0, nothing is dirty.
 *
 * The reserve R (hfs_alloc_wb_reserve: 32 MiB, at most 1/8 of the volume,
 * and at least 2*D when the kernel's limit could not be lowered) is kept
 * from new allocations only while such an open exists (hfs_dirty_reserve):
 * a direct write, or any write when nothing is open through the cache,
 * may use all free space, so space freed by rm is usable again at once.
 * The other half of R covers what the kernel dirties beyond D before its
 * throttling catches it (each task checks every few pages) and the
 * B-tree nodes of the data records.  Creates, links and xattrs always
 * leave R (fs->keep_reserve, alloc.c): a full volume does not fill up
 * with empty files, and statfs f_bavail leaves R out.
 *
 * Called from: hfs_fuse_run once, after the mount and before the loop
 * (the bdi comes from mountinfo, fs/mountinfo.c: a stat of the mount
 * point would wait for this daemon).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/hfs_int.h"

/* Kernels without max_bytes: the FUSE default, 1% (max_ratio) of the
 * dirty threshold, which is dirty_bytes or dirty_ratio% of memory (an
 * upper bound: the kernel takes the ratio of available memory only). */
static uint64_t estimate_limit(const char *bdi)
{
	char path[128];
	uint64_t ratio = 1, bytes = 0, pct = 20, mem_kib = 0;
	FILE *f;
	char line[256];

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/max_ratio", bdi);
	(void)hfs_knob_read(path, &ratio);
	(void)hfs_knob_read("/proc/sys/vm/dirty_bytes", &bytes);
	(void)hfs_knob_read("/proc/sys/vm/dirty_ratio", &pct);
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %" SCNu64, &mem_kib) == 1)
			break;
	if (f)
		fclose(f);
	if (!bytes)
		bytes = mem_kib * 1024 / 100 * pct;
	return bytes / 100 * ratio;
}

/* ---- public -------------------------------------------------------------- */

void hfs_dirty_setup(struct hfs_fs *fs, const char *mnt, const char *bdi)
{
	uint64_t base = hfs_alloc_wb_reserve(fs) * HFS_BLKSIZE, cap, d = 0, r;
	uint64_t target = base / 2;
	char path[128];
	int lowered = 0;

	cap = hfs_le64(fs->vh.vh_size) / 8;
	if (!bdi) {
		HFS_INFO("no bdi found for %s: writeback reserve %" PRIu64 " MiB, kernel's dirty "
			 "limit unknown", mnt ? mnt : "?", base >> 20);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/max_bytes", bdi);
	if (hfs_knob_read(path, &d) == 0) {
		/* only ever lower it: a limit someone raised on purpose for a
		 * bigger volume still gets a reserve to match (below) */
		if (d > target && hfs_knob_write(path, target) == 0 && hfs_knob_read(path, &d) == 0)
			lowered = 1;
	} else {
		d = estimate_limit(bdi);
	}
	r = base > 2 * d ? base : 2 * d;
	if (r > cap) {
		HFS_WARN("the kernel may hold %" PRIu64 " KiB of dirty data for %s, more than half "
			 "of the %" PRIu64 " KiB writeback reserve: near full, cached writes can fail "
			 "at writeback (ENOSPC at fsync/close)", d >> 10, mnt, cap >> 10);
		r = cap;
	}
	pthread_mutex_lock(&fs->lock);
	fs->dirty_limit = (d + HFS_BLKSIZE - 1) / HFS_BLKSIZE;
	fs->wb_reserve = r / HFS_BLKSIZE;
	pthread_mutex_unlock(&fs->lock);
	HFS_INFO("bdi %s: dirty limit %" PRIu64 " KiB%s, writeback reserve %" PRIu64 " KiB",
		 bdi, d >> 10, lowered ? " (lowered)" : "", r >> 10);
}

uint64_t hfs_dirty_reserve(struct hfs_fs *fs)
{
	return fs->cached_writers ? hfs_alloc_wb_reserve(fs) : 0;
}

uint64_t hfs_dirty_room(struct hfs_fs *fs)
{
	uint64_t d = hfs_alloc_data_blocks(fs), r = hfs_dirty_reserve(fs);

	return d > r ? (d - r) * HFS_BLKSIZE : 0;
}
