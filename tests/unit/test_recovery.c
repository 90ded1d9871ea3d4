/*
 * test_recovery.c — the crash protocol below FUSE: header copy selection,
 * UNDO replay after a flush that died before its commit, allocator
 * delayed reuse and ENOSPC, garbage headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "bufcache/bc_test.h"
#include "fs/hfs_int.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

static char img[256];

static struct hfs_fs *mount1(void)
{
	const char *p[1] = { img };
	struct hfs_fs *fs;

	assert_int_equal(hfs_open(p, 1, NULL, &fs), 0);
	return fs;
}

static int setup(void **st)
{
	const char *p[1] = { img };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(img, sizeof(img), 200ull << 20) || hfs_format(p, 1, &fp, NULL))
		return -1;
	return 0;
}

static int teardown(void **st)
{
	tu_rmimage(img);
	return 0;
}

static void put(struct hfs_fs *fs, uint64_t obj, uint32_t v)
{
	struct hfs_key k = hfs_mkkey(obj, HFS_REC_INODE, 0);
	uint8_t val[100];

	memset(val, (int)v, sizeof(val));
	assert_int_equal(hfs_op_begin(fs), 0);
	if (hfs_bt_update(fs, &k, val, sizeof(val)) == -ENOENT)
		assert_int_equal(hfs_bt_insert(fs, &k, val, sizeof(val)), 0);
}

static int get(struct hfs_fs *fs, uint64_t obj)
{
	struct hfs_key k = hfs_mkkey(obj, HFS_REC_INODE, 0);
	uint8_t val[100];
	size_t len;
	int ret = hfs_bt_lookup(fs, &k, val, sizeof(val), &len);

	return ret ? ret : val[0];
}

/* Fail the volume-header write: UNDO and META reach the disk, the commit
 * does not — exactly a power cut between steps 4 and 5 of the flush. */
static struct raid_set *crash_rs;
static void fail_on_volume(void *priv, enum bc_type t, uint64_t off)
{
	if (t == BC_VOLUME)
		raid_test_fail(crash_rs, 0, 0, 1);
}

static void test_undo_replay(void **st)
{
	struct hfs_fs *fs = mount1();
	uint64_t free_before;
	int i;

	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < 3000; i++)
		put(fs, 1000 + (uint64_t)i, 1);
	assert_int_equal(hfs_flush_locked(fs), 0);        /* commit A */
	free_before = hfs_alloc_free_blocks(fs);
	for (i = 0; i < 3000; i++)
		put(fs, 1000 + (uint64_t)i, 2);            /* in place */
	for (i = 0; i < 3000; i++)
		put(fs, 10000 + (uint64_t)i, 3);           /* splits: new nodes */
	crash_rs = fs->rs;
	bc_test_set_write_trace(fs->bc, fail_on_volume, NULL);
	assert_int_not_equal(hfs_flush_locked(fs), 0);    /* dies before the commit */
	assert_true(fs->readonly);
	pthread_mutex_unlock(&fs->lock);
	hfs_close(fs);

	/* the META blocks on disk now hold the uncommitted state: replay */
	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < 3000; i += 7)
		assert_int_equal(get(fs, 1000 + (uint64_t)i), 1);
	for (i = 0; i < 3000; i += 7)
		assert_int_equal(get(fs, 10000 + (uint64_t)i), -ENOENT);
	assert_int_equal(hfs_alloc_free_blocks(fs), free_before);
	/* and the filesystem is usable after recovery, and again after a crash-free remount */
	put(fs, 20000, 4);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(get(fs, 20000), 4);
	assert_int_equal(get(fs, 1500), 1);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
}

/* A logged write as op_write makes it (fs/redo.c R1). */
static void redo_write(struct hfs_fs *fs, uint64_t ino, uint64_t off, int c, size_t len)
{
	struct hfs_inode ip;
	uint8_t buf[8192];

	memset(buf, c, sizeof(buf));
	hfs_redo_op(1);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(hfs_file_write(fs, &ip, buf, len, off), (ssize_t)len);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	hfs_redo_write(fs, &ip, off, buf, len);
	hfs_redo_op(0);
}

static void expect(struct hfs_fs *fs, uint64_t ino, uint64_t off, int c, size_t len)
{
	struct hfs_inode ip;
	uint8_t buf[8192];
	size_t i;

	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(hfs_file_read(fs, &ip, buf, len, off), (ssize_t)len);
	for (i = 0; i < len; i++)
		if (buf[i] != c)
			fail_msg("byte %llu: %#x, expected %#x", (unsigned long long)(off + i), buf[i], c);
}

/* fsync by REDO records: one UNDO write and device flush, no commit; a
 * commit that dies before its header rolls back, and the mount replays the
 * fsync'd writes (but not the one written after the last fsync); an
 * unlogged change makes the next fsync commit. */
static void test_redo_replay(void **st)
{
	struct hfs_fs *fs = mount1();
	struct hfs_inode ip;
	uint64_t ino, seq;
	int i;

	pthread_mutex_lock(&fs->lock);
	memset(&ip, 0, sizeof(ip));
	ip.mode = S_IFREG | 0644;
	ip.nlink = 1;
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_inode_create(fs, &ip), 0);
	ino = ip.ino;
	for (i = 0; i < 16; i++)
		redo_write(fs, ino, (uint64_t)i * 4096, 'a', 4096);
	seq = bc_seq(fs->bc);
	assert_int_equal(hfs_fsync_locked(fs), 0);        /* the create: a commit */
	assert_int_equal(bc_seq(fs->bc), seq + 1);
	assert_int_equal(fs->redo_fsyncs, 0);
	for (i = 0; i < 16; i += 2)
		redo_write(fs, ino, (uint64_t)i * 4096, 'b', 4096);
	redo_write(fs, ino, 70000, 'c', 5000);             /* unaligned, grows the file */
	assert_int_equal(hfs_fsync_locked(fs), 0);        /* REDO: no commit */
	assert_int_equal(bc_seq(fs->bc), seq + 1);
	assert_int_equal(fs->redo_fsyncs, 1);
	assert_int_equal(hfs_fsync_locked(fs), 0);        /* nothing new: nothing written */
	assert_int_equal(fs->redo_fsyncs, 1);
	redo_write(fs, ino, 4096, 'd', 4096);              /* never fsync'd */
	crash_rs = fs->rs;
	bc_test_set_write_trace(fs->bc, fail_on_volume, NULL);
	assert_int_not_equal(hfs_flush_locked(fs), 0);    /* dies before the commit */
	pthread_mutex_unlock(&fs->lock);
	hfs_close(fs);

	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(fs->vh.vh_redo_seq, 0);           /* replayed and committed */
	for (i = 0; i < 16; i++)
		expect(fs, ino, (uint64_t)i * 4096, i % 2 ? 'a' : 'b', 4096);
	expect(fs, ino, 70000, 'c', 5000);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(ip.size, 75000);
	/* an unlogged change (a B-tree record of its own) makes fsync commit */
	redo_write(fs, ino, 0, 'e', 4096);
	put(fs, 5000, 1);
	seq = bc_seq(fs->bc);
	assert_int_equal(hfs_fsync_locked(fs), 0);
	assert_int_equal(bc_seq(fs->bc), seq + 1);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
}

static void flip(uint64_t off)
{
	int fd = open(img, O_RDWR);
	char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)(off + (1u << 20))), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)(off + (1u << 20))), 1);
	close(fd);
}

static void test_header_copies(void **st)
{
	const char *p[1] = { img };
	struct hfs_volhdr_ondisk vh;
	struct raid_set *rs;
	struct raid_opts ro = { 0 };
	struct hfs_fs *fs;
	int newest;

	/* two commits of the same state: both header copies describe it */
	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	put(fs, 777, 5);
	assert_int_equal(hfs_flush_locked(fs), 0);
	assert_int_equal(hfs_commit_locked(fs), 0);   /* a plain flush would skip: nothing dirty */
	pthread_mutex_unlock(&fs->lock);
	fs->readonly = true;   /* stop here: no further commit at close */
	hfs_close(fs);
	assert_int_equal(raid_open(p, 1, &ro, &rs), 0);
	newest = hfs_read_header(rs, &vh);
	assert_true(newest == 0 || newest == 1);
	raid_close(rs);
	/* a flipped bit in the newest copy: the other one is used */
	flip(HFS_HDR_OFF(newest) + 200);
	assert_int_equal(raid_open(p, 1, &ro, &rs), 0);
	assert_int_equal(hfs_read_header(rs, &vh), !newest);
	raid_close(rs);
	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(get(fs, 777), 5);
	assert_true(get(fs, HFS_ROOT_INO) >= 0);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);   /* the commit rewrites a good copy */
	/* both copies bad: a clear error */
	flip(HFS_HDR_OFF(0) + 300);
	flip(HFS_HDR_OFF(1) + 300);
	assert_int_equal(raid_open(p, 1, &ro, &rs), 0);
	assert_true(hfs_read_header(rs, &vh) < 0);
	raid_close(rs);
	assert_true(hfs_open(p, 1, NULL, &fs) < 0);
}

static void test_alloc_delayed_reuse(void **st)
{
	struct hfs_fs *fs = mount1();
	uint64_t a, b, c;
	int i, n = 0;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &a), 0);
	assert_int_equal(hfs_raw(a) % HFS_FBLOCK, 0);
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_BTREE, HFS_BUFSIZE, &b), 0);
	assert_int_equal(hfs_raw(b) % HFS_BUFSIZE, 0);
	assert_int_equal(hfs_free(fs, a, HFS_FBLOCK), 0);
	assert_int_equal(hfs_free(fs, a, HFS_FBLOCK), -EUCLEAN);   /* double free */
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &c), 0);
	assert_int_not_equal(c, a);                               /* not before commit */
	assert_int_equal(hfs_flush_locked(fs), 0);
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &c), 0);
	assert_int_equal(c, a);                                   /* reused after */
	/* fill to ENOSPC, then free one and allocate again */
	for (;;) {
		uint64_t z;
		int ret;

		if (n % 64 == 0)
			assert_int_equal(hfs_op_begin(fs), 0);
		ret = hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &z);
		if (ret == -ENOSPC)
			break;
		assert_int_equal(ret, 0);
		n++;
	}
	assert_true(n > 1000);
	assert_int_equal(hfs_free(fs, c, HFS_FBLOCK), 0);
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &a), -ENOSPC);
	assert_int_equal(hfs_flush_locked(fs), 0);
	assert_int_equal(hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &a), 0);
	i = (int)hfs_alloc_free_blocks(fs);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
	fs = mount1();   /* the free map and the header agree after a remount */
	assert_int_equal((int)hfs_alloc_free_blocks(fs), i);
	assert_int_equal(hfs_close(fs), 0);
}

static void test_not_hfs(void **st)
{
	char other[256];
	const char *p[1] = { other };
	struct hfs_fs *fs;
	struct hfs_format_params fp = { .quiet = 1 };

	assert_int_equal(tu_mkimage(other, sizeof(other), 100ull << 20), 0);
	assert_true(hfs_open(p, 1, NULL, &fs) < 0);            /* no label at all */
	assert_int_equal(hfs_format(p, 1, &fp, NULL), 0);
	assert_int_equal(hfs_format(p, 1, &fp, NULL), -EEXIST); /* refuses without force */
	fp.force = 1;
	assert_int_equal(hfs_format(p, 1, &fp, NULL), 0);
	tu_rmimage(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_undo_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redo_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_delayed_reuse, setup, teardown),
		cmocka_unit_test(test_not_hfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
