/*
 * device.c — opening a component: regular file or block device, O_DIRECT
 * where the device allows it, size and logical sector size probed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "raid/raid_int.h"

void raid_log(const char *level, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "hfs: %s: %s:%d: %s\n", level, file, line, msg);
}

int raid_write_protected(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ro = 0, ret;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		ret = -errno;
	} else if (S_ISBLK(st.st_mode)) {
		/* blockdev --setro, losetup -r: opening for writing still
		 * works, only writes fail (EPERM), so ask the device */
		ret = ioctl(fd, BLKROGET, &ro) != 0 ? -errno : ro != 0;
	} else {
		/* an image on a read-only filesystem, or one we may not write */
		ret = access(path, W_OK) == 0 ? 0 : errno == EROFS || errno == EACCES ? 1 : -errno;
	}
	close(fd);
	return ret;
}

/* O_DIRECT can open fine yet fail on the first I/O (some filesystems):
 * probe with one aligned read of the first sector. */
static int direct_works(int fd)
{
	void *p;
	ssize_t n;

	if (posix_memalign(&p, RAID_SECTOR, RAID_SECTOR))
		return 0;
	n = pread(fd, p, RAID_SECTOR, 0);
	free(p);
	return n == RAID_SECTOR;
}

int raid_dev_open(struct raid_comp *c, const char *path, int rw, int no_direct)
{
	int flags = (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	struct stat st;
	int fd = -1, err;

	memset(c, 0, sizeof(*c));
	c->c_fd = -1;
	snprintf(c->c_path, sizeof(c->c_path), "%s", path);
	if (!no_direct) {
		fd = open(path, flags | O_DIRECT);
		if (fd >= 0 && !direct_works(fd)) {
			close(fd);
			fd = -1;
		}
		if (fd < 0 && errno != ENOENT && errno != EACCES && errno != EROFS)
			RAID_WARN("%s: O_DIRECT not usable, using buffered I/O", path);
		else if (fd >= 0)
			c->c_direct = 1;
	}
	if (fd < 0)
		fd = open(path, flags);
	if (fd < 0)
		return -errno;
	/* One writer per device: a second mount (or mkfs under a mount) would
	 * corrupt it.  The lock goes away with the process.  A lock held for
	 * a moment (a script polling with flock -n until a daemon let go) is
	 * waited out: 0.5 s, then the device is busy. */
	for (int tries = 0; flock(fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0; tries++) {
		if (errno != EWOULDBLOCK || tries == 50) {
			err = errno == EWOULDBLOCK ? -EBUSY : -errno;
			close(fd);
			return err;
		}
		usleep(10 * 1000);
	}
	if (fstat(fd, &st) != 0)
		goto err_errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;
		int ss, ro = 0;

		if (ioctl(fd, BLKGETSIZE64, &sz) != 0 || ioctl(fd, BLKSSZGET, &ss) != 0 ||
		    ioctl(fd, BLKROGET, &ro) != 0)
			goto err_errno;
		if (rw && ro) {
			close(fd);   /* write-protected: every write would fail */
			return -EROFS;
		}
		c->c_size = sz;
		c->c_sector = (uint32_t)ss;
		c->c_blkdev = 1;
	} else if (S_ISREG(st.st_mode)) {
		c->c_size = (uint64_t)st.st_size;
		c->c_sector = 512;
	} else {
		close(fd);
		return -ENOTBLK;
	}
	if (c->c_sector > RAID_SECTOR || (c->c_sector & (c->c_sector - 1))) {
		RAID_ERR("%s: logical sector size %u not supported (max %u)", path,
			 c->c_sector, RAID_SECTOR);
		close(fd);
		return -EINVAL;
	}
	c->c_fd = fd;
	c->c_state = RAID_COMP_OPTIMAL;
	return 0;
err_errno:
	err = -errno;
	close(fd);
	return err;
}

/* A component opened read-only becomes writable in place: a new read-write
 * open under the same fd number (dup2), holding the exclusive lock.  The
 * shared lock goes first (a second open's exclusive lock would conflict
 * with our own shared one); on failure it is taken back. */
int raid_dev_upgrade(struct raid_comp *c)
{
	int fd, err;

	if (c->c_fd < 0)
		return -ENODEV;
	if (raid_write_protected(c->c_path) == 1)
		return -EROFS;
	if ((fcntl(c->c_fd, F_GETFL) & O_ACCMODE) == O_RDWR)
		return flock(c->c_fd, LOCK_EX | LOCK_NB) ? -EBUSY : 0;
	fd = open(c->c_path, O_RDWR | O_CLOEXEC | (c->c_direct ? O_DIRECT : 0));
	if (fd < 0)
		return -errno;
	flock(c->c_fd, LOCK_UN);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		if (flock(c->c_fd, LOCK_SH | LOCK_NB) != 0)
			RAID_WARN("%s: lost its shared lock", c->c_path);
		return err;
	}
	if (dup2(fd, c->c_fd) < 0) {
		err = -errno;
		close(fd);
		flock(c->c_fd, LOCK_SH | LOCK_NB);
		return err;
	}
	close(fd);   /* the lock stays with the open file, now c_fd's */
	return 0;
}

void raid_dev_close(struct raid_comp *c)
{
	if (c->c_fd >= 0)
		close(c->c_fd);
	c->c_fd = -1;
}
