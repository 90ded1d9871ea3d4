/*
 * bench/cpu.c — the daemon's own work per fsync'd random 4 KiB write,
 * without FUSE, for bench/cpu.sh (`make bench-cpu`).
 *
 * Why: on the shared 2-vCPU machines the FUSE benchmarks (bench.sh) move
 * by 15-30% from one run to the next, which hides a change of a few
 * percent in what hfs itself does per write.  Under callgrind this
 * program's instruction count is the same from run to run; cpu.sh runs it
 * without and with the random writes and prints the difference per write.
 *
 * What it does is what op_write and op_fsync do (fuse_data.c): per write,
 * fs->lock, hfs_op_begin, inode load, hfs_file_write, inode store and the
 * REDO record; an fsync every 32 writes, as fio's --fsync=32.  The file is
 * laid out first with 1 MiB writes and committed.  The worker-pool engine:
 * valgrind does not run io_uring (a ring's worker thread waits forever
 * under it), which is also why the image comes formatted (mkfs.hfs).
 *
 * Usage: cpu IMAGE FILE_MIB WRITES   (a fresh mkfs.hfs image; 0 writes: layout only)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fs/hfs_int.h"
#include "tests/unit/fileops.h"

#define FSYNC_EVERY 32

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	struct hfs_mount_opts mo = { .raid = { .engine = RAID_ENGINE_POOL } };
	struct hfs_fs *fs;
	struct hfs_inode ip;
	const char *dev[1];
	uint64_t fsize, off;
	long nw, i;
	uint8_t *buf;
	int ret;

	if (argc != 4 || (fsize = strtoull(argv[2], NULL, 0) << 20) == 0 || (nw = atol(argv[3])) < 0) {
		fprintf(stderr, "usage: %s IMAGE FILE_MIB WRITES\n", argv[0]);
		return 2;
	}
	dev[0] = argv[1];
	if (hfs_open(dev, 1, &mo, &fs) != 0) {
		fprintf(stderr, "%s: cannot open %s\n", argv[0], argv[1]);
		return 1;
	}
	ret = tu_new_file(fs, &ip);
	if (ret || posix_memalign((void **)&buf, 4096, 1u << 20)) {
		fprintf(stderr, "%s: create: %s\n", argv[0], strerror(ret ? -ret : ENOMEM));
		return 1;
	}
	memset(buf, 0x5a, 1u << 20);
	for (off = 0; off < fsize && !ret; off += 1u << 20)
		ret = tu_file_op_write(fs, ip.ino, buf, 1u << 20, off, 0);
	if (!ret)
		ret = hfs_sync(fs);
	for (i = 0; i < nw && !ret; i++) {
		buf[0] = (uint8_t)i;
		ret = tu_file_op_write(fs, ip.ino, buf, 4096, next_rand() % (fsize / 4096) * 4096, 1);
		if (!ret && i % FSYNC_EVERY == FSYNC_EVERY - 1) {
			pthread_mutex_lock(&fs->lock);
			ret = hfs_fsync_locked(fs);
			pthread_mutex_unlock(&fs->lock);
		}
	}
	free(buf);
	if (ret) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-ret));
		hfs_close(fs);
		return 1;
	}
	return hfs_close(fs) ? 1 : 0;
}
