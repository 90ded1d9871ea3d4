/*
 * fileops.h — file operations on an open hfs_fs as the FUSE handlers do
 * them, with no cmocka in them, so that bench/cpu.c links them too.
 */
#ifndef HFS_TEST_FILEOPS_H
#define HFS_TEST_FILEOPS_H

#include <stdint.h>
#include <stddef.h>

struct hfs_fs;
struct hfs_inode;

/* A write as op_write does it (lock, op_begin, load, write, store, unlock);
 * logged != 0 also keeps its REDO record, as op_write does for a write an
 * fsync may log (hfs_redo_op, hfs_redo_write).  0 or -errno; a short write
 * is -EIO. */
int tu_file_op_write(struct hfs_fs *fs, uint64_t ino, const void *buf, size_t len, uint64_t off,
		     int logged);
/* tu_file_op_write without the REDO record. */
int tu_file_write(struct hfs_fs *fs, uint64_t ino, const void *buf, size_t len, uint64_t off);
/* A read as op_read does it: the bytes read or -errno. */
long tu_file_read(struct hfs_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off);
/* A new empty regular file (mode 0644) in *ip: 0 or -errno. */
int tu_new_file(struct hfs_fs *fs, struct hfs_inode *ip);

#endif
