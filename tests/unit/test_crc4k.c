/*
 * test_crc4k.c — DATA records with per-4 KiB CRCs (HFS_DATAF_CRC4K,
 * minor 7, docs/FORMAT.md §5): what a full block's record holds, that a
 * read of part of a block asks the device for the pieces it needs only,
 * that a bad piece is served and healed from the other mirror leg (and is
 * -EIO where no copy is good, with the block's other pieces still
 * readable), and that a volume of an older minor keeps plain records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "fs/block.h"
#include "fs/hfs_int.h"
#include "tests/unit/helpers.h"

static char img[2][256];
static int nimg;

static int setup_n(int n)
{
	const char *p[2] = { img[0], img[1] };
	struct hfs_format_params fp = { .quiet = 1 };
	int i;

	nimg = n;
	for (i = 0; i < n; i++)
		if (tu_mkimage(img[i], sizeof(img[i]), 256ull << 20))
			return -1;
	return hfs_format(p, n, &fp, NULL) ? -1 : 0;
}

static int setup1(void **st) { return setup_n(1); }
static int setup2(void **st) { return setup_n(2); }

static int teardown(void **st)
{
	int i;

	for (i = 0; i < nimg; i++)
		tu_rmimage(img[i]);
	return 0;
}

static struct hfs_fs *mount_all(void)
{
	const char *p[2] = { img[0], img[1] };
	struct hfs_fs *fs;

	assert_int_equal(hfs_open(p, nimg, NULL, &fs), 0);
	return fs;
}


static uint64_t new_file(struct hfs_fs *fs) { return tu_new_ino(fs); }

static struct rec get_rec(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	struct rec r;

	tu_get_rec(fs, ino, fbo, &r);
	return r;
}

static uint64_t read_bytes(struct hfs_fs *fs)
{
	struct bc_stats bs;

	bc_get_stats(fs->bc, &bs);
	return bs.direct_read_bytes;
}

/* Flip one byte of piece p of record r on copy c. */
static void rot(struct hfs_fs *fs, const struct rec *r, unsigned p, int c)
{
	uint8_t *b = NULL;
	uint64_t raw = hfs_raw(r->addr) + (uint64_t)p * HFS_BLKSIZE;

	assert_int_equal(posix_memalign((void **)&b, 4096, HFS_BLKSIZE), 0);
	assert_int_equal(raid_read_copy(fs->rs, c, raw, b, HFS_BLKSIZE), 0);
	b[777] ^= 0x10;
	assert_int_equal(raid_write_copy(fs->rs, c, raw, b, HFS_BLKSIZE), 0);
	free(b);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);
	size_t i;

	assert_non_null(b);
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 12) * 31 + seed);
	return b;
}

/* crc4k_sum gives zlib's crc32 of each piece and of the whole block. */
static void test_sum(void **st)
{
	uint8_t *b = pattern(HFS_FBLOCK, 5);
	uint32_t pc[NPIECE];
	unsigned p;

	assert_int_equal(crc4k_sum(b, pc), (uint32_t)crc32(0, b, HFS_FBLOCK));
	for (p = 0; p < NPIECE; p++)
		assert_int_equal(pc[p], (uint32_t)crc32(0, b + p * HFS_BLKSIZE, HFS_BLKSIZE));
	free(b);
}

/* A full block written whole (direct write) and one merged from a partial
 * write both get CRC4K records; a part block (SMALL, shorter) does not.
 * Reads of part of a CRC4K block ask for its pieces only; a whole-block
 * read asks for the block. */
static void test_records_and_reads(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(3 * HFS_FBLOCK, 1), *got = malloc(3 * HFS_FBLOCK);
	uint64_t ino = new_file(fs), before;
	struct rec r;
	unsigned p;

	assert_non_null(got);
	assert_int_equal(hfs_le16(fs->vh.vh_minor), HFS_MINOR_CRC4K);
	assert_int_equal(tu_file_write(fs, ino, want, 2 * HFS_FBLOCK + 8192, 0), 0);
	/* a partial write into block 1: read, merge, stored whole again */
	memset(want + HFS_FBLOCK + 5000, 0xee, 3000);
	assert_int_equal(tu_file_write(fs, ino, want + HFS_FBLOCK + 5000, 3000, HFS_FBLOCK + 5000), 0);
	for (p = 0; p < 2; p++) {
		r = get_rec(fs, ino, p * HFS_FBLOCK);
		assert_true(rec_crc4k(&r));
		assert_int_equal(r.len, HFS_FBLOCK);
		assert_int_equal(r.crc, (uint32_t)crc32(0, want + p * HFS_FBLOCK, HFS_FBLOCK));
		assert_int_equal(r.pcrc[9], (uint32_t)crc32(0, want + p * HFS_FBLOCK + 9 * 4096, 4096));
	}
	assert_int_equal(hfs_sync(fs), 0);   /* stores the held tail (fs/held.c) */
	r = get_rec(fs, ino, 2 * HFS_FBLOCK);
	assert_true(r.present);
	assert_false(rec_crc4k(&r));   /* the 8 KiB tail */
	assert_int_equal(r.len, 8192);
	assert_int_equal(hfs_close(fs), 0);

	fs = mount_all();   /* nothing cached */
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 5 * 4096), 4096);
	assert_memory_equal(got, want + 5 * 4096, 4096);
	assert_int_equal(read_bytes(fs) - before, 4096);
	/* unaligned, across a piece boundary: two pieces */
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, HFS_FBLOCK + 4096 + 2048), 4096);
	assert_memory_equal(got, want + HFS_FBLOCK + 4096 + 2048, 4096);
	assert_int_equal(read_bytes(fs) - before, 8192);
	/* the end of block 0 and the start of block 1: a piece of each */
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, 200, HFS_FBLOCK - 100), 200);
	assert_memory_equal(got, want + HFS_FBLOCK - 100, 200);
	assert_int_equal(read_bytes(fs) - before, 8192);
	/* the whole block: one 64 KiB read, verified by d_crc */
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, HFS_FBLOCK), HFS_FBLOCK);
	assert_memory_equal(got, want + HFS_FBLOCK, HFS_FBLOCK);
	assert_int_equal(read_bytes(fs) - before, HFS_FBLOCK);
	assert_int_equal(tu_file_read(fs, ino, got, 2 * HFS_FBLOCK + 8192, 0), 2 * HFS_FBLOCK + 8192);
	assert_memory_equal(got, want, 2 * HFS_FBLOCK + 8192);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* Overlays on a CRC4K block: a read of a piece an overlay supersedes reads
 * no base piece; one that meets both reads only the base piece it needs. */
static void test_overlays(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(HFS_FBLOCK, 2), *got = malloc(HFS_FBLOCK);
	uint64_t ino = new_file(fs), before;

	assert_non_null(got);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	memset(want + 3 * 4096, 0x5c, 4096);   /* piece 3: an overlay */
	assert_int_equal(tu_file_write(fs, ino, want + 3 * 4096, 4096, 3 * 4096), 0);
	assert_int_equal(hfs_sync(fs), 0);
	assert_int_equal(hfs_close(fs), 0);
	fs = mount_all();
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, 8192, 2 * 4096 + 4096), 8192);   /* pieces 3, 4 */
	assert_memory_equal(got, want + 3 * 4096, 8192);
	assert_int_equal(read_bytes(fs) - before, 4096);   /* piece 4 of the base only */
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* Mirror: piece 6 rotted on leg 1 and piece 7 on leg 0.  Block-wide, no
 * copy verifies; piece-wise both are good somewhere.  A read of pieces
 * 6-7 (one I/O from one leg) meets exactly one bad copy: it returns the
 * good bytes and rewrites that copy.  The whole block then reads right
 * (the other bad copy healed by the whole-block path); so does it with
 * pieces 9 and 10 bad on different legs, piece by piece.  Piece 2 rotted
 * on both legs: -EIO for it, its neighbours still read. */
static void test_heal_mirror(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(HFS_FBLOCK, 3), *got = NULL, *c = NULL;
	uint64_t ino = new_file(fs);
	struct bc_stats bs;
	struct rec r;
	int k, good, healed;

	assert_int_equal(posix_memalign((void **)&got, 4096, HFS_FBLOCK), 0);
	assert_int_equal(posix_memalign((void **)&c, 4096, HFS_BLKSIZE), 0);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	assert_int_equal(hfs_sync(fs), 0);
	r = get_rec(fs, ino, 0);
	assert_true(rec_crc4k(&r));
	rot(fs, &r, 6, 1);
	rot(fs, &r, 7, 0);
	bc_get_stats(fs->bc, &bs);
	healed = (int)bs.repaired;
	assert_int_equal(tu_file_read(fs, ino, got, 2 * HFS_BLKSIZE, 6 * HFS_BLKSIZE), 2 * HFS_BLKSIZE);
	assert_memory_equal(got, want + 6 * HFS_BLKSIZE, 2 * HFS_BLKSIZE);
	bc_get_stats(fs->bc, &bs);
	assert_int_equal((int)bs.repaired, healed + 1);
	for (k = 0, good = 0; k < 2; k++) {
		/* piece 6 on leg 1 or piece 7 on leg 0 is good again */
		assert_int_equal(raid_read_copy(fs->rs, 1 - k, hfs_raw(r.addr) + (6 + k) * HFS_BLKSIZE, c,
						HFS_BLKSIZE), 0);
		good += !memcmp(c, want + (6 + k) * HFS_BLKSIZE, HFS_BLKSIZE);
	}
	assert_int_equal(good, 1);
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	for (k = 0; k < 2; k++) {
		/* every copy of the block good now */
		uint8_t *whole = NULL;

		assert_int_equal(posix_memalign((void **)&whole, 4096, HFS_FBLOCK), 0);
		assert_int_equal(raid_read_copy(fs->rs, k, hfs_raw(r.addr), whole, HFS_FBLOCK), 0);
		assert_memory_equal(whole, want, HFS_FBLOCK);
		free(whole);
	}
	/* pieces 9 and 10 bad on different legs: no copy of the block is
	 * good, yet a whole-block read is served piece by piece, and heals */
	rot(fs, &r, 9, 0);
	rot(fs, &r, 10, 1);
	bc_get_stats(fs->bc, &bs);
	healed = (int)bs.repaired;
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	bc_get_stats(fs->bc, &bs);
	assert_int_equal((int)bs.repaired, healed + 2);
	for (k = 0; k < 2; k++) {
		uint8_t *whole = NULL;

		assert_int_equal(posix_memalign((void **)&whole, 4096, HFS_FBLOCK), 0);
		assert_int_equal(raid_read_copy(fs->rs, k, hfs_raw(r.addr), whole, HFS_FBLOCK), 0);
		assert_memory_equal(whole, want, HFS_FBLOCK);
		free(whole);
	}
	rot(fs, &r, 2, 0);
	rot(fs, &r, 2, 1);
	assert_int_equal(tu_file_read(fs, ino, got, 100, 2 * HFS_BLKSIZE + 50), -EIO);
	assert_int_equal(tu_file_read(fs, ino, got, 2 * HFS_BLKSIZE, 0), 2 * HFS_BLKSIZE);
	assert_memory_equal(got, want, 2 * HFS_BLKSIZE);
	assert_int_equal(tu_file_read(fs, ino, got, HFS_BLKSIZE, 3 * HFS_BLKSIZE), HFS_BLKSIZE);
	assert_memory_equal(got, want + 3 * HFS_BLKSIZE, HFS_BLKSIZE);
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), -EIO);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
	free(c);
}

/* One device: a bad piece is -EIO for reads that need it, and only them. */
static void test_single_eio(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(HFS_FBLOCK, 4), *got = malloc(HFS_FBLOCK);
	uint64_t ino = new_file(fs);
	struct rec r;

	assert_non_null(got);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	assert_int_equal(hfs_sync(fs), 0);
	r = get_rec(fs, ino, 0);
	assert_true(rec_crc4k(&r));
	rot(fs, &r, 11, 0);
	assert_int_equal(hfs_close(fs), 0);
	fs = mount_all();
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 11 * 4096), -EIO);
	assert_int_equal(tu_file_read(fs, ino, got, 1, 12 * 4096 - 1), -EIO);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 10 * 4096), 4096);
	assert_memory_equal(got, want + 10 * 4096, 4096);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 12 * 4096), 4096);
	assert_memory_equal(got, want + 12 * 4096, 4096);
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), -EIO);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* A volume of minor 6 keeps writing plain records (its minor stays, so
 * the software that made it still reads every block); blocks written
 * there read back whole and in part, and a later minor-7 mount reads
 * them beside CRC4K ones. */
static void test_old_minor(void **st)
{
	uint8_t *want = pattern(2 * HFS_FBLOCK, 6), *got = malloc(2 * HFS_FBLOCK);
	struct hfs_fs *fs;
	uint64_t ino, before;
	struct rec r;

	assert_non_null(got);
	assert_int_equal(tu_img_minor(img[0], 0), HFS_VERSION_MINOR);
	tu_img_minor(img[0], HFS_MINOR_PIECES);
	fs = mount_all();
	ino = new_file(fs);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	r = get_rec(fs, ino, 0);
	assert_true(r.present);
	assert_false(rec_crc4k(&r));
	assert_int_equal(r.flags, 0);
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(tu_img_minor(img[0], 0), HFS_MINOR_PIECES);
	fs = mount_all();
	before = read_bytes(fs);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 4096), 4096);
	assert_memory_equal(got, want + 4096, 4096);
	assert_int_equal(read_bytes(fs) - before, HFS_FBLOCK);   /* a plain record: all of it */
	assert_int_equal(hfs_close(fs), 0);
	tu_img_minor(img[0], HFS_MINOR_CRC4K);
	fs = mount_all();
	assert_int_equal(tu_file_write(fs, ino, want + HFS_FBLOCK, HFS_FBLOCK, HFS_FBLOCK), 0);
	r = get_rec(fs, ino, HFS_FBLOCK);
	assert_true(rec_crc4k(&r));
	assert_int_equal(tu_file_read(fs, ino, got, 2 * HFS_FBLOCK, 0), 2 * HFS_FBLOCK);
	assert_memory_equal(got, want, 2 * HFS_FBLOCK);
	assert_int_equal(tu_file_read(fs, ino, got, 4096, HFS_FBLOCK - 2048), 4096);
	assert_memory_equal(got, want + HFS_FBLOCK - 2048, 4096);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* A CRC4K block punched in part becomes pieces that keep its pieces' CRCs;
 * the kept pieces read back right (their CRCs were not recomputed from
 * anything but the record). */
static void test_punch(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(HFS_FBLOCK, 7), *got = malloc(HFS_FBLOCK);
	uint64_t ino = new_file(fs);
	struct hfs_inode ip;
	struct rec r0, r;
	unsigned p;

	assert_non_null(got);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	r0 = get_rec(fs, ino, 0);
	assert_true(rec_crc4k(&r0));
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					    4 * 4096, 2 * 4096), 0);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
	memset(want + 4 * 4096, 0, 2 * 4096);
	r = get_rec(fs, ino, 0);
	assert_true(rec_pieces(&r));
	for (p = 0; p < NPIECE; p++)
		if (p == 4 || p == 5)
			assert_int_equal(r.paddr[p], 0);
		else
			assert_int_equal(r.pcrc[p], r0.pcrc[p]);
	assert_int_equal(hfs_close(fs), 0);
	fs = mount_all();
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* fallocate [off, off + len) of ino (mode 0), in 8 MiB operations */
static void prealloc(struct hfs_fs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	struct hfs_inode ip;

	pthread_mutex_lock(&fs->lock);
	while (len) {
		uint64_t n = len < (8u << 20) ? len : (8u << 20);

		assert_int_equal(hfs_op_begin(fs), 0);
		assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
		assert_int_equal(hfs_file_fallocate(fs, &ip, 0, off, n), 0);
		assert_int_equal(hfs_inode_store(fs, &ip), 0);
		off += n;
		len -= n;
	}
	pthread_mutex_unlock(&fs->lock);
}

/* A preallocated block filled in place (D7) becomes CRC4K where the B-tree
 * has room beyond the writeback reserve, and keeps its 24-byte record
 * where it has not (no B-tree growth in fallocated space of a full
 * volume); a copy-on-write rewrite is CRC4K. */
static void test_inplace(void **st)
{
	struct hfs_fs *fs = mount_all();
	uint8_t *want = pattern(HFS_FBLOCK, 8), *got = malloc(HFS_FBLOCK);
	uint64_t ino = new_file(fs), filler, left;
	struct rec r0, r1, r;

	assert_non_null(got);
	prealloc(fs, ino, 0, 2 * HFS_FBLOCK);
	r0 = get_rec(fs, ino, 0);
	r1 = get_rec(fs, ino, HFS_FBLOCK);
	assert_true(r0.present && (r0.flags & HFS_DATAF_ZERO));
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, 0), 0);
	r = get_rec(fs, ino, 0);
	assert_int_equal(r.addr, r0.addr);   /* in place */
	assert_int_equal(r.flags, HFS_DATAF_CRC4K);
	assert_true(rec_crc4k(&r));
	assert_int_equal(tu_file_read(fs, ino, got, 4096, 4096), 4096);
	assert_memory_equal(got, want + 4096, 4096);

	/* the volume full up to its writeback reserve: block 1 in place,
	 * its record as it was in size */
	filler = new_file(fs);
	pthread_mutex_lock(&fs->lock);
	left = hfs_alloc_data_blocks(fs) - hfs_alloc_wb_reserve(fs);
	pthread_mutex_unlock(&fs->lock);
	prealloc(fs, filler, 0, (left + 16) / 16 * HFS_FBLOCK);
	pthread_mutex_lock(&fs->lock);
	assert_true(hfs_alloc_data_blocks(fs) <= hfs_alloc_wb_reserve(fs));
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(tu_file_write(fs, ino, want, HFS_FBLOCK, HFS_FBLOCK), 0);
	r = get_rec(fs, ino, HFS_FBLOCK);
	assert_int_equal(r.addr, r1.addr);
	assert_int_equal(r.flags, 0);
	assert_false(rec_crc4k(&r));
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, HFS_FBLOCK), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	memset(want + 100, 0x33, 200);
	assert_int_equal(tu_file_write(fs, ino, want + 100, 200, 100), 0);   /* copy on write */
	r = get_rec(fs, ino, 0);
	assert_true(r.addr != r0.addr);
	assert_true(rec_crc4k(&r));
	assert_int_equal(tu_file_read(fs, ino, got, HFS_FBLOCK, 0), HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum),
		cmocka_unit_test_setup_teardown(test_records_and_reads, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_overlays, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_heal_mirror, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_single_eio, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_old_minor, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_punch, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_inplace, setup1, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
