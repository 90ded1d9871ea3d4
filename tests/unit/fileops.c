/* fileops.c — see fileops.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include "fs/hfs_int.h"
#include "tests/unit/fileops.h"

int tu_file_op_write(struct hfs_fs *fs, uint64_t ino, const void *buf, size_t len, uint64_t off,
		     int logged)
{
	struct hfs_inode ip;
	ssize_t n;
	int ret;

	pthread_mutex_lock(&fs->lock);
	hfs_redo_op(logged);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	n = ret ? ret : hfs_file_write(fs, &ip, buf, len, off);
	if (n == (ssize_t)len) {
		ret = hfs_inode_store(fs, &ip);
		if (!ret && logged)
			hfs_redo_write(fs, &ip, off, buf, len);
	} else {
		ret = n < 0 ? (int)n : -EIO;
	}
	hfs_redo_op(0);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

int tu_file_write(struct hfs_fs *fs, uint64_t ino, const void *buf, size_t len, uint64_t off)
{
	return tu_file_op_write(fs, ino, buf, len, off, 0);
}

long tu_file_read(struct hfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off)
{
	struct hfs_inode ip;
	ssize_t n;

	pthread_mutex_lock(&fs->lock);
	n = hfs_inode_load(fs, ino, &ip);
	if (!n)
		n = hfs_file_read(fs, &ip, buf, len, off);
	pthread_mutex_unlock(&fs->lock);
	return (long)n;
}

int tu_new_file(struct hfs_fs *fs, struct hfs_inode *ip)
{
	int ret;

	memset(ip, 0, sizeof(*ip));
	ip->mode = S_IFREG | 0644;
	ip->nlink = 1;
	pthread_mutex_lock(&fs->lock);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_create(fs, ip);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}
