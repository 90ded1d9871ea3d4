/*
 * test_iflags.c — the inode-flag rules of fs/iflags.c that need no mount:
 * which opens and which setattrs +i and +a refuse (the mount test
 * t_iflags.sh checks them end to end, against ext4's errnos).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <fuse_lowlevel.h>
#include "fs/hfs_int.h"

static struct hfs_inode with(uint32_t flags)
{
	struct hfs_inode ip;

	memset(&ip, 0, sizeof(ip));
	ip.mode = 0100644;
	ip.flags = flags;
	return ip;
}

static void test_open(void **state)
{
	struct hfs_inode none = with(0), imm = with(HFS_IFL_IMMUTABLE), app = with(HFS_IFL_APPEND);

	(void)state;
	assert_int_equal(hfs_iflags_may_open(&none, O_RDWR | O_TRUNC), 0);
	assert_int_equal(hfs_iflags_may_open(&imm, O_RDONLY), 0);
	assert_int_equal(hfs_iflags_may_open(&imm, O_WRONLY), -EPERM);
	assert_int_equal(hfs_iflags_may_open(&imm, O_RDWR | O_APPEND), -EPERM);
	assert_int_equal(hfs_iflags_may_open(&imm, O_RDONLY | O_TRUNC), -EPERM);
	assert_int_equal(hfs_iflags_may_open(&app, O_RDONLY), 0);
	assert_int_equal(hfs_iflags_may_open(&app, O_WRONLY | O_APPEND), 0);
	assert_int_equal(hfs_iflags_may_open(&app, O_RDWR | O_APPEND), 0);
	assert_int_equal(hfs_iflags_may_open(&app, O_WRONLY), -EPERM);
	assert_int_equal(hfs_iflags_may_open(&app, O_WRONLY | O_APPEND | O_TRUNC), -EPERM);
	assert_int_equal(hfs_iflags_fixed(&none), 0);
	assert_int_equal(hfs_iflags_fixed(&imm), -EPERM);
	assert_int_equal(hfs_iflags_fixed(&app), -EPERM);
	assert_int_equal(hfs_iflags_no_add(&app), 0);
	assert_int_equal(hfs_iflags_no_add(&imm), -EPERM);
}

static void test_setattr(void **state)
{
	struct hfs_inode none = with(HFS_IFL_NODUMP | HFS_IFL_SYNC), imm = with(HFS_IFL_IMMUTABLE),
			 app = with(HFS_IFL_APPEND);
	const int cmtime = FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME;
	const int touch = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | cmtime;
	const int utime = FUSE_SET_ATTR_ATIME | cmtime;

	(void)state;
	assert_int_equal(hfs_iflags_may_setattr(&none, FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE, 0), 0);
	/* +i: nothing, but the kernel's flush of cached write times while a writer is open */
	assert_int_equal(hfs_iflags_may_setattr(&imm, FUSE_SET_ATTR_MODE, 1), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&imm, FUSE_SET_ATTR_UID, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&imm, FUSE_SET_ATTR_SIZE, 1), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&imm, touch, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&imm, cmtime, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&imm, cmtime, 1), 0);
	assert_int_equal(hfs_iflags_may_setattr(&imm, FUSE_SET_ATTR_MTIME, 1), 0);
	/* +a: touch yes, explicit times, chmod/chown/truncate no */
	assert_int_equal(hfs_iflags_may_setattr(&app, touch, 0), 0);
	assert_int_equal(hfs_iflags_may_setattr(&app, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
						 FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW, 0), 0);
	assert_int_equal(hfs_iflags_may_setattr(&app, utime, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&app, cmtime, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&app, cmtime, 2), 0);
	assert_int_equal(hfs_iflags_may_setattr(&app, FUSE_SET_ATTR_MODE, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&app, FUSE_SET_ATTR_GID, 0), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&app, FUSE_SET_ATTR_SIZE, 1), -EPERM);
	assert_int_equal(hfs_iflags_may_setattr(&app, cmtime | FUSE_SET_ATTR_SIZE, 1), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_setattr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
