/*
 * test_held.c — held part blocks (fs/held.c): a large write's part block
 * over a hole or an unwritten record stays in memory until the write that
 * completes it, which writes it whole next to its neighbours; reads,
 * commits, unmounts and truncates settle or drop it; st_blocks counts it;
 * a write into an entry another writer is storing whole wins (H4), and
 * so does one whose phase A came before the entry (H1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fs/block.h"
#include "fs/hfs_int.h"
#include "tests/unit/fileops.h"
#include "tests/unit/helpers.h"

#define B HFS_FBLOCK

static char img[256];

static int setup(void **st)
{
	const char *p[1] = { img };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(img, sizeof(img), 256ull << 20))
		return -1;
	return hfs_format(p, 1, &fp, NULL) ? -1 : 0;
}

static int teardown(void **st)
{
	tu_rmimage(img);
	return 0;
}

static struct hfs_fs *mount_opts(const struct hfs_mount_opts *o)
{
	const char *p[1] = { img };
	struct hfs_fs *fs;

	assert_int_equal(hfs_open(p, 1, o, &fs), 0);
	return fs;
}

static uint64_t new_file(struct hfs_fs *fs) { return tu_new_ino(fs); }

static struct rec get_rec(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	struct rec r;

	tu_get_rec(fs, ino, fbo, &r);
	return r;
}

static int nheld(struct hfs_fs *fs)
{
	int n;

	pthread_mutex_lock(&fs->lock);
	n = fs->nheld;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static struct hfs_inode load(struct hfs_fs *fs, uint64_t ino)
{
	struct hfs_inode ip;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
	return ip;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed * 17 + (i >> 12));
	return p;
}

static void check(struct hfs_fs *fs, uint64_t ino, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);

	assert_non_null(got);
	assert_int_equal(tu_file_read(fs, ino, got, len, 0), (long)len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void prealloc(struct hfs_fs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	struct hfs_inode ip;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, 0, off, len), 0);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
}

static void truncate_to(struct hfs_fs *fs, uint64_t ino, uint64_t size)
{
	struct hfs_inode ip;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(hfs_file_truncate(fs, &ip, size), 0);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
}

/* Over a hole: the part block waits, and the next write lays it out
 * between its neighbours (it was a SMALL block copied on write before). */
static void test_hole_sequence(void **st)
{
	struct hfs_fs *fs = mount_opts(NULL);
	uint8_t *want = pattern(4 * B, 1);
	uint64_t ino = new_file(fs);
	struct rec r0, r1, r2;

	assert_int_equal(tu_file_write(fs, ino, want, B + B / 2, 0), 0);
	assert_int_equal(nheld(fs), 1);
	assert_false(get_rec(fs, ino, B).present);
	/* st_blocks counts it: 64 KiB stored, 32 KiB held */
	assert_int_equal(load(fs, ino).blocks, B / 512);
	assert_int_equal(load(fs, ino).held_blocks, B / 2 / 512);
	assert_int_equal(load(fs, ino).size, B + B / 2);

	assert_int_equal(tu_file_write(fs, ino, want + B + B / 2, 2 * B, B + B / 2), 0);
	r0 = get_rec(fs, ino, 0);
	r1 = get_rec(fs, ino, B);
	r2 = get_rec(fs, ino, 2 * B);
	assert_true(r1.present && r2.present);
	assert_int_equal(hfs_zone_of(r1.addr), HFS_ZONE_LARGE);
	assert_int_equal(r1.len, B);
	assert_int_equal(r1.addr, r0.addr + B);   /* its extent was taken in order */
	assert_int_equal(r2.addr, r1.addr + B);
	assert_int_equal(nheld(fs), 1);           /* block 3's half */
	check(fs, ino, want, 3 * B + B / 2);      /* a read settles it */
	assert_int_equal(nheld(fs), 0);
	assert_int_equal(load(fs, ino).blocks, (3 * B + B / 2) / 512);
	assert_int_equal(hfs_close(fs), 0);

	fs = mount_opts(NULL);
	check(fs, ino, want, 3 * B + B / 2);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
}

/* Over fallocated space: the part block waits, and is filled in place
 * whole by the write that completes it (no copy on write). */
static void test_unwritten(void **st)
{
	struct hfs_fs *fs = mount_opts(NULL);
	uint8_t *want = pattern(3 * B, 2);
	uint64_t ino = new_file(fs), blocks;
	struct rec u1, r;

	prealloc(fs, ino, 0, 3 * B);
	u1 = get_rec(fs, ino, B);
	blocks = load(fs, ino).blocks;
	assert_int_equal(tu_file_write(fs, ino, want, B + 1000, 0), 0);
	assert_int_equal(nheld(fs), 1);
	r = get_rec(fs, ino, B);
	assert_true(rec_inplace(&r) && r.addr == u1.addr);   /* still unwritten */
	assert_int_equal(load(fs, ino).held_blocks, 0);       /* counted already */
	assert_int_equal(tu_file_write(fs, ino, want + B + 1000, 2 * B - 1000, B + 1000), 0);
	r = get_rec(fs, ino, B);
	assert_int_equal(r.addr, u1.addr);
	assert_false(r.flags & HFS_DATAF_ZERO);
	assert_int_equal(nheld(fs), 0);
	assert_int_equal(load(fs, ino).blocks, blocks);
	check(fs, ino, want, 3 * B);

	/* held over an unwritten block, then settled by a commit: in place */
	ino = new_file(fs);
	prealloc(fs, ino, 0, 2 * B);
	u1 = get_rec(fs, ino, B);
	assert_int_equal(tu_file_write(fs, ino, want, B + 5000, 0), 0);
	assert_int_equal(nheld(fs), 1);
	assert_int_equal(hfs_sync(fs), 0);
	assert_int_equal(nheld(fs), 0);
	r = get_rec(fs, ino, B);
	assert_int_equal(r.addr, u1.addr);
	assert_false(r.flags & HFS_DATAF_ZERO);
	check(fs, ino, want, B + 5000);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
}

/* A commit stores what is held (H3), an unmount too; small writes and
 * -o nohold hold nothing. */
static void test_commit_and_close(void **st)
{
	struct hfs_mount_opts o = { 0 };
	struct hfs_fs *fs = mount_opts(NULL);
	uint8_t *want = pattern(2 * B, 3);
	uint64_t a = new_file(fs), b = new_file(fs), c;
	struct rec r;

	assert_int_equal(tu_file_write(fs, a, want, B + 4096, 0), 0);
	assert_int_equal(tu_file_write(fs, b, want, 8192, 0), 0);   /* small: stored */
	assert_int_equal(nheld(fs), 1);
	assert_int_equal(hfs_sync(fs), 0);
	assert_int_equal(nheld(fs), 0);
	r = get_rec(fs, a, B);
	assert_true(r.present);
	assert_int_equal(hfs_zone_of(r.addr), HFS_ZONE_SMALL);   /* a tail: 4 KiB of space */
	assert_int_equal(r.len, 4096);
	assert_int_equal(tu_file_write(fs, a, want, B + B / 4, B), 0);   /* over a block: no hold */
	assert_int_equal(nheld(fs), 1);                                  /* block 2's quarter */
	assert_int_equal(hfs_close(fs), 0);                              /* stores it */

	fs = mount_opts(NULL);
	check(fs, a, want, B);
	{
		uint8_t *got = malloc(B + B / 4);

		assert_non_null(got);
		assert_int_equal(tu_file_read(fs, a, got, B + B / 4, B), B + B / 4);
		assert_memory_equal(got, want, B + B / 4);
		free(got);
	}
	assert_int_equal(hfs_close(fs), 0);

	o.no_hold = 1;
	fs = mount_opts(&o);
	c = new_file(fs);
	assert_int_equal(tu_file_write(fs, c, want, B + 4096, 0), 0);
	assert_int_equal(nheld(fs), 0);
	assert_true(get_rec(fs, c, B).present);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
}

/* Truncate cuts an entry (past the size reads zeros when the file grows
 * again) or drops it, giving its extent back. */
static void test_truncate(void **st)
{
	struct hfs_fs *fs = mount_opts(NULL);
	uint8_t *want = pattern(2 * B, 4), *got = malloc(2 * B);
	uint64_t ino = new_file(fs), before;

	assert_non_null(got);
	pthread_mutex_lock(&fs->lock);
	before = hfs_alloc_data_blocks(fs);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(tu_file_write(fs, ino, want, B + B / 2, 0), 0);
	truncate_to(fs, ino, B + 1000);
	assert_int_equal(nheld(fs), 1);
	truncate_to(fs, ino, 2 * B);
	assert_int_equal(tu_file_read(fs, ino, got, 2 * B, 0), 2 * B);
	assert_memory_equal(got, want, B + 1000);
	memset(want + B + 1000, 0, B - 1000);
	assert_memory_equal(got, want, 2 * B);
	assert_int_equal(nheld(fs), 0);

	ino = new_file(fs);
	assert_int_equal(tu_file_write(fs, ino, want, B + B / 2, 0), 0);
	assert_int_equal(nheld(fs), 1);
	truncate_to(fs, ino, B);
	assert_int_equal(nheld(fs), 0);   /* dropped, not stored */
	assert_false(get_rec(fs, ino, B).present);
	truncate_to(fs, ino, 0);
	pthread_mutex_lock(&fs->lock);
	/* the first file's two blocks (one whole, one 4 KiB-rounded part) remain */
	assert_int_equal(before - hfs_alloc_data_blocks(fs), (B + 4096) / HFS_BLKSIZE);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* (H4) A write into an entry another writer is storing whole: the other
 * writer's commit is skipped and the entry, newer, is stored by a settle. */
static void test_claim_race(void **st)
{
	struct hfs_fs *fs = mount_opts(NULL);
	uint8_t *a = pattern(B, 5), *c = pattern(B, 6), *want = pattern(B, 5);
	uint64_t ino = new_file(fs);
	struct hfs_held *e, *e2, *e3;
	uint32_t g1, g2, g3;
	struct hfs_inode ip;
	struct rec r;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(held_put(fs, ino, 0, 0, 0, a, B / 2, 1, &e, &g1), 1);
	held_release(fs, e, 0, 0);
	assert_int_equal(held_put(fs, ino, 0, 0, B / 2, a + B / 2, B / 2, 0, &e2, &g2), 2);
	assert_ptr_equal(e2, e);
	assert_memory_equal(held_buf(e), a, B);
	/* the claimer writes its copy; meanwhile another write lands */
	assert_int_equal(held_put(fs, ino, 0, 0, 100, c, 200, 0, &e3, &g3), 1);
	assert_false(held_current(e, g2));
	held_release(fs, e3, 0, 0);
	/* a write whose phase A came before the entry: into it (H1) */
	g2 = g3;
	assert_int_equal(held_absorb(fs, ino, 0, 1000, c + 1000, 100), 1);
	assert_false(held_current(e, g2));
	assert_int_equal(held_absorb(fs, ino, B, 0, c, 100), 0);   /* no entry there */
	held_release(fs, e, 1, 0);   /* not referenced: the entry stays, whole */
	assert_int_equal(fs->nheld, 1);
	/* the file's size, as the writers' phase C set it */
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	ip.size = B;
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	assert_int_equal(hfs_held_settle(fs, ino, 0, B), 1);
	assert_int_equal(fs->nheld, 0);
	assert_int_equal(rec_get(fs, ino, 0, &r), 0);
	assert_true(r.present && r.len == B && hfs_zone_of(r.addr) == HFS_ZONE_LARGE);
	pthread_mutex_unlock(&fs->lock);
	memcpy(want + 100, c, 200);
	memcpy(want + 1000, c + 1000, 100);
	check(fs, ino, want, B);
	assert_int_equal(hfs_close(fs), 0);
	free(a);
	free(c);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hole_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_race, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
