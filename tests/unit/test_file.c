/*
 * test_file.c — file data: the CRC every block carries, and data sections
 * (reads and writes that drop fs->lock around device I/O, section.c (D1)-(D6)):
 * concurrent whole-block and partial writes, readers and flushes must give
 * exactly the bytes a serial execution would, also after a remount; and
 * blocks stored as 4 KiB pieces (pieces.c): punches that free pieces,
 * the same concurrency with every block in pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "fs/block.h"
#include "fs/hfs_int.h"
#include "tests/unit/helpers.h"

static char img[256];

static int setup(void **st)
{
	const char *p[1] = { img };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(img, sizeof(img), 512ull << 20) || hfs_format(p, 1, &fp, NULL))
		return -1;
	return 0;
}

static int teardown(void **st)
{
	tu_rmimage(img);
	return 0;
}

static int PIECES;                 /* mount with -o pieces: every block as 4 KiB pieces */

static struct hfs_fs *mount1(void)
{
	const char *p[1] = { img };
	struct hfs_mount_opts o = { .force_pieces = PIECES };
	struct hfs_fs *fs;

	assert_int_equal(hfs_open(p, 1, &o, &fs), 0);
	return fs;
}

/* hfs_crc32 must give zlib's values: every record on disk depends on it. */
static void test_crc32_is_zlib(void **st)
{
	size_t n = 3u << 16, len, o;
	uint8_t *b = malloc(n + 64);
	uint32_t a, z;

	assert_non_null(b);
	for (len = 0; len < n + 64; len++)
		b[len] = (uint8_t)tu_rand();
	for (len = 0; len < 300; len++)
		for (o = 0; o < 8; o++)
			assert_int_equal(hfs_crc32(0, b + o, len),
					 (uint32_t)crc32(0L, b + o, (uInt)len));
	assert_int_equal(hfs_crc32(0, b, n), (uint32_t)crc32(0L, b, (uInt)n));
	/* continuing a CRC */
	a = hfs_crc32(hfs_crc32(0, b, 1000), b + 1000, 65536);
	z = (uint32_t)crc32(crc32(0L, b, 1000), b + 1000, 65536);
	assert_int_equal(a, z);
	free(b);
}

/* ---- concurrent data I/O ------------------------------------------------------ */

#define NTHR_MAX 12
static int NTHR = 4;               /* writers: 4 leave overlays only, 12 (> HFS_OVL_MAX) force merges */
#define NBLK    24                 /* blocks of the shared file */
#define ROUNDS  12
#define PAGE    4096u

struct ctx {
	struct hfs_fs *fs;
	uint64_t ino;
	int id;
	int err;
	volatile int *stop;
};

static uint8_t pat(int id, int round, uint64_t pos)
{
	return (uint8_t)(id * 37 + round * 11 + (pos >> 12) * 3 + 1);
}


/*
 * Writer id owns page id of every 64 KiB block (a partial write: read,
 * merge, write — the blocks are shared by all writers, so merges race) and
 * whole block NBLK + id (a direct whole-block write).  Each round rewrites
 * both with new bytes; the last round is what must be on disk.
 */
static void *writer(void *arg)
{
	struct ctx *c = arg;
	uint8_t *page = malloc(PAGE), *blk = malloc(HFS_FBLOCK);
	int r, b;

	if (!page || !blk) {
		c->err = -ENOMEM;
		goto out;
	}
	for (r = 0; r < ROUNDS && !c->err; r++) {
		for (b = 0; b < NBLK && !c->err; b++) {
			uint64_t pos = (uint64_t)b * HFS_FBLOCK + (uint64_t)c->id * PAGE;

			memset(page, pat(c->id, r, pos), PAGE);
			c->err = tu_file_write(c->fs, c->ino, page, PAGE, pos);
		}
		if (!c->err) {
			uint64_t pos = (uint64_t)(NBLK + c->id) * HFS_FBLOCK;

			memset(blk, pat(c->id, r, pos), HFS_FBLOCK);
			c->err = tu_file_write(c->fs, c->ino, blk, HFS_FBLOCK, pos);
		}
	}
out:
	free(page);
	free(blk);
	return NULL;
}

/* Flushes while the writers run: each must wait for open sections (D1). */
static void *flusher(void *arg)
{
	struct ctx *c = arg;

	while (!*c->stop && !c->err) {
		c->err = hfs_sync(c->fs);
		usleep(2000);
	}
	return NULL;
}

/* Readers see whole pages of one round of one writer, or zeros (D3). */
static void *reader(void *arg)
{
	struct ctx *c = arg;
	size_t len = (size_t)NBLK * HFS_FBLOCK;
	uint8_t *buf = malloc(len);

	if (!buf) {
		c->err = -ENOMEM;
		return NULL;
	}
	while (!*c->stop && !c->err) {
		ssize_t n = tu_file_read(c->fs, c->ino, buf, len, 0);
		size_t i;

		if (n < 0) {
			c->err = (int)n;
			break;
		}
		for (i = 0; i < (size_t)n; i += PAGE) {
			size_t j;

			for (j = 1; j < PAGE; j++)
				if (buf[i + j] != buf[i])
					c->err = -EBADMSG;   /* a torn page */
		}
	}
	free(buf);
	return NULL;
}

static void check_final(struct hfs_fs *fs, uint64_t ino)
{
	size_t len = (size_t)(NBLK + NTHR) * HFS_FBLOCK, i;
	uint8_t *buf = malloc(len);
	struct hfs_inode ip;

	assert_non_null(buf);
	assert_int_equal(tu_file_read(fs, ino, buf, len, 0), (ssize_t)len);
	for (i = 0; i < len; i += PAGE) {
		int b = (int)(i / HFS_FBLOCK), id = (int)(i % HFS_FBLOCK / PAGE);
		uint8_t want;

		size_t j;

		if (b < NBLK)
			want = id < NTHR ? pat(id, ROUNDS - 1, i) : 0;   /* pages nobody owns: zeros */
		else
			want = pat(b - NBLK, ROUNDS - 1, (uint64_t)b * HFS_FBLOCK);
		for (j = 0; j < PAGE; j++)
			if (buf[i + j] != want)
				fail_msg("byte %zu: 0x%02x, want 0x%02x", i + j, buf[i + j], want);
	}
	struct hfs_key from = hfs_mkkey(ino, HFS_REC_DATAOVL, 0), to = hfs_mkkey(ino, HFS_REC_DATAOVL, UINT64_MAX), k;
	uint64_t novl = 0;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_alloc_selfcheck(fs), 0);   /* its running counts (fs/alloc.c) */
	assert_int_equal(hfs_inode_load(fs, ino, &ip), 0);
	while (hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL) == 0) {
		novl++;
		from = hfs_mkkey(ino, HFS_REC_DATAOVL, k.key + 1);
	}
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(ip.size, len);
	if (PIECES) {
		/* pieces blocks carry no overlays; every piece is written */
		assert_int_equal(novl, 0);
		assert_int_equal(ip.blocks, (uint64_t)(NBLK + NTHR) * (HFS_FBLOCK / 512));
		free(buf);
		return;
	}
	/* every block has one 64 KiB record, plus the 4 KiB overlays the page
	 * writes left on it (fs/file.c), each counted once */
	if (NTHR <= HFS_OVL_MAX)
		assert_int_equal(novl, (uint64_t)NBLK * NTHR);   /* never merged */
	else
		assert_true(novl <= (uint64_t)NBLK * (HFS_FBLOCK / HFS_BLKSIZE));
	assert_int_equal(ip.blocks, (uint64_t)(NBLK + NTHR) * (HFS_FBLOCK / 512) + novl * (HFS_BLKSIZE / 512));
	free(buf);
}

static void concurrent(void);

static void test_concurrent_sections(void **st)
{
	NTHR = 4;
	concurrent();
}

/* 12 page writers per block on a volume of minor 6 (no CRC4K records):
 * past HFS_OVL_MAX overlays a page write merges (read, merge, rewrite the
 * block), racing the overlay writes (D4). */
static void test_concurrent_merges(void **st)
{
	tu_img_minor(img, 6);
	NTHR = NTHR_MAX;
	concurrent();
}

/* The same on a volume of minor 7: past HFS_OVL_MAX overlays a page write
 * turns the CRC4K block into pieces (fs->lock held), racing overlay
 * writes still in flight on the block (D4), readers and flushes. */
static void test_concurrent_to_pieces(void **st)
{
	NTHR = NTHR_MAX;
	concurrent();
}

/* The same with every block stored as 4 KiB pieces (pieces.c): page
 * writes rewrite their pieces with fs->lock held, racing readers, whole
 * block writes and flushes. */
static void test_concurrent_pieces(void **st)
{
	NTHR = 4;
	PIECES = 1;
	concurrent();
	PIECES = 0;
}

/* A file of 4 whole blocks; punches of whole pieces inside blocks free
 * exactly those 4 KiB blocks, the rest reads as before, the holes as
 * zeros, SEEK_HOLE/SEEK_DATA see them, and a remount agrees. */
static void test_punch_pieces(void **st)
{
	size_t len = 4 * HFS_FBLOCK, i;
	uint8_t *want = malloc(len), *got = malloc(len);
	struct hfs_fs *fs = mount1();
	struct hfs_inode ip;
	uint64_t free0, out;
	int round;

	assert_non_null(want);
	assert_non_null(got);
	for (i = 0; i < len; i++)
		want[i] = (uint8_t)(i * 7 + (i >> 12) + 1);
	assert_int_equal(tu_new_file(fs, &ip), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, want, len, 0), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, want + 8192, 4096, 8192), 0);   /* an overlay on block 0 */
	pthread_mutex_lock(&fs->lock);
	free0 = hfs_alloc_free_blocks(fs);
	assert_int_equal(hfs_inode_load(fs, ip.ino, &ip), 0);
	/* block 0: pieces 1-2 (2 over the overlay, which is freed too); block
	 * 1: pieces 15 and, of block 2, 0 (one punch); block 3: 4 KiB inside
	 * piece 3 and 4 (cut in part: rewritten) plus whole pieces 4-5 */
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					    HFS_FBLOCK + 15 * 4096, 8192), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					    3 * HFS_FBLOCK + 3 * 4096 + 100, 3 * 4096 - 100), 0);
	/* freed: 2 + 1 (the overlay) + 1 + 1 + 2, and piece 3 of block 3
	 * moves (its old block freed, a new one taken) */
	assert_int_equal(hfs_alloc_free_blocks(fs), free0 + 7);
	assert_int_equal(ip.blocks, (uint64_t)(64 - 2 - 1 - 1 - 2) * 8);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	assert_int_equal(hfs_file_seek(fs, &ip, 0, SEEK_HOLE, &out), 0);
	assert_int_equal(out, 4096);
	assert_int_equal(hfs_file_seek(fs, &ip, 4096, SEEK_DATA, &out), 0);
	assert_int_equal(out, 3 * 4096);
	assert_int_equal(hfs_file_seek(fs, &ip, HFS_FBLOCK, SEEK_HOLE, &out), 0);
	assert_int_equal(out, HFS_FBLOCK + 15 * 4096);
	pthread_mutex_unlock(&fs->lock);
	memset(want + 4096, 0, 8192);
	memset(want + HFS_FBLOCK + 15 * 4096, 0, 8192);
	memset(want + 3 * HFS_FBLOCK + 3 * 4096 + 100, 0, 3 * 4096 - 100);
	for (round = 0; round < 2; round++) {
		assert_int_equal(tu_file_read(fs, ip.ino, got, len, 0), (ssize_t)len);
		for (i = 0; i < len; i++)
			if (got[i] != want[i])
				fail_msg("round %d byte %zu: 0x%02x, want 0x%02x", round, i, got[i], want[i]);
		assert_int_equal(hfs_close(fs), 0);
		fs = mount1();
	}
	/* a truncate into a pieces block frees its pieces past the size */
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_inode_load(fs, ip.ino, &ip), 0);
	assert_int_equal(hfs_file_truncate(fs, &ip, 3 * HFS_FBLOCK + 8 * 4096), 0);
	assert_int_equal(ip.blocks, (uint64_t)(64 - 2 - 1 - 1 - 2 - 8) * 8);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* A volume of minor 4 (before REDO and pieces records) mounts and keeps
 * its minor until the first pieces record, whose commit raises it to
 * HFS_MINOR_PIECES (FORMAT.md §3). */
static void test_old_minor(void **st)
{
	uint8_t *buf = malloc(2 * HFS_FBLOCK), *got = malloc(2 * HFS_FBLOCK);
	struct hfs_inode ip;
	struct hfs_fs *fs;
	size_t i;

	assert_non_null(buf);
	assert_non_null(got);
	assert_int_equal(tu_img_minor(img, 0), HFS_VERSION_MINOR);
	tu_img_minor(img, 4);
	fs = mount1();
	for (i = 0; i < 2 * HFS_FBLOCK; i++)
		buf[i] = (uint8_t)(i % 251 + 1);
	assert_int_equal(tu_new_file(fs, &ip), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, buf, 2 * HFS_FBLOCK, 0), 0);
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(tu_img_minor(img, 0), 4);   /* nothing of minor 6 written */
	fs = mount1();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_inode_load(fs, ip.ino, &ip), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					    HFS_FBLOCK + 4096, 4096), 0);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(tu_img_minor(img, 0), HFS_MINOR_PIECES);
	memset(buf + HFS_FBLOCK + 4096, 0, 4096);
	fs = mount1();
	assert_int_equal(tu_file_read(fs, ip.ino, got, 2 * HFS_FBLOCK, 0), (ssize_t)(2 * HFS_FBLOCK));
	assert_memory_equal(got, buf, 2 * HFS_FBLOCK);
	assert_int_equal(hfs_close(fs), 0);
	free(buf);
	free(got);
}

/* ---- pieces on a mirror: per-piece CRC, self-healing ------------------------------ */

static char mimg[2][256];

static int setup_mirror(void **st)
{
	const char *p[2] = { mimg[0], mimg[1] };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(mimg[0], sizeof(mimg[0]), 256ull << 20) ||
	    tu_mkimage(mimg[1], sizeof(mimg[1]), 256ull << 20) || hfs_format(p, 2, &fp, NULL))
		return -1;
	return 0;
}

static int teardown_mirror(void **st)
{
	tu_rmimage(mimg[0]);
	tu_rmimage(mimg[1]);
	return 0;
}

/* A block converted to pieces by a punch; piece 2 then rotted on both
 * legs, piece 6 on leg 1 and piece 7 on leg 0.  A read of pieces 6-7 (one
 * I/O from one leg) verifies each piece's CRC, returns the good bytes and
 * rewrites the bad copy it met; a read of piece 2 is -EIO. */
static void test_pieces_heal(void **st)
{
	const char *p[2] = { mimg[0], mimg[1] };
	uint8_t *want = malloc(HFS_FBLOCK), *got = NULL, *c = NULL;
	struct bc_stats bs;
	struct hfs_inode ip;
	struct hfs_fs *fs;
	struct rec r;
	size_t i;
	int k, healed;

	assert_non_null(want);
	assert_int_equal(posix_memalign((void **)&got, 4096, HFS_FBLOCK), 0);
	assert_int_equal(posix_memalign((void **)&c, 4096, HFS_BLKSIZE), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	for (i = 0; i < HFS_FBLOCK; i++)
		want[i] = (uint8_t)(i * 13 + (i >> 12) + 3);
	assert_int_equal(tu_new_file(fs, &ip), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, want, HFS_FBLOCK, 0), 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_inode_load(fs, ip.ino, &ip), 0);
	assert_int_equal(hfs_file_fallocate(fs, &ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
	assert_int_equal(hfs_inode_store(fs, &ip), 0);
	assert_int_equal(rec_get(fs, ip.ino, 0, &r), 0);
	pthread_mutex_unlock(&fs->lock);
	memset(want + 4096, 0, 4096);
	assert_true(rec_pieces(&r));
	assert_int_equal(r.paddr[1], 0);
	assert_int_equal(hfs_sync(fs), 0);   /* everything on both legs */
	/* rot: flip a byte of a copy */
	{
		struct { int piece, copy; } rot[] = { { 2, 0 }, { 2, 1 }, { 6, 1 }, { 7, 0 } };

		for (k = 0; k < 4; k++) {
			uint64_t raw = hfs_raw(r.paddr[rot[k].piece]);

			assert_int_equal(raid_read_copy(fs->rs, rot[k].copy, raw, c, HFS_BLKSIZE), 0);
			c[100] ^= 0x20;
			assert_int_equal(raid_write_copy(fs->rs, rot[k].copy, raw, c, HFS_BLKSIZE), 0);
		}
	}
	bc_get_stats(fs->bc, &bs);
	healed = (int)bs.repaired;
	assert_int_equal(tu_file_read(fs, ip.ino, got, 2 * HFS_BLKSIZE, 6 * HFS_BLKSIZE), (ssize_t)(2 * HFS_BLKSIZE));
	assert_memory_equal(got, want + 6 * HFS_BLKSIZE, 2 * HFS_BLKSIZE);
	bc_get_stats(fs->bc, &bs);
	assert_int_equal((int)bs.repaired, healed + 1);   /* the one bad copy the read met */
	for (k = 0, healed = 0; k < 2; k++) {
		/* piece 6 on leg 1 or piece 7 on leg 0 is good again */
		assert_int_equal(raid_read_copy(fs->rs, 1 - k, hfs_raw(r.paddr[6 + k]), c, HFS_BLKSIZE), 0);
		healed += !memcmp(c, want + (6 + k) * HFS_BLKSIZE, HFS_BLKSIZE);
	}
	assert_int_equal(healed, 1);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_BLKSIZE, 2 * HFS_BLKSIZE), -EIO);
	assert_int_equal(tu_file_read(fs, ip.ino, got, 2 * HFS_BLKSIZE, 0), (ssize_t)(2 * HFS_BLKSIZE));
	assert_memory_equal(got, want, 2 * HFS_BLKSIZE);   /* piece 0 and the hole */
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
	free(c);
}

static void concurrent(void)
{
	struct hfs_fs *fs = mount1();
	struct ctx w[NTHR_MAX], f, r;
	pthread_t tw[NTHR_MAX], tf, tr;
	volatile int stop = 0;
	struct hfs_inode ip;
	int i;

	assert_int_equal(tu_new_file(fs, &ip), 0);
	/* the whole-block region first, so partial merges find LARGE records */
	{
		uint8_t *z = calloc(1, (size_t)NBLK * HFS_FBLOCK);

		assert_non_null(z);
		assert_int_equal(tu_file_write(fs, ip.ino, z, (size_t)NBLK * HFS_FBLOCK, 0), 0);
		free(z);
	}
	memset(&f, 0, sizeof(f));
	f.fs = fs;
	f.stop = &stop;
	r = f;
	r.ino = ip.ino;
	for (i = 0; i < NTHR; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].fs = fs;
		w[i].ino = ip.ino;
		w[i].id = i;
		assert_int_equal(pthread_create(&tw[i], NULL, writer, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&tf, NULL, flusher, &f), 0);
	assert_int_equal(pthread_create(&tr, NULL, reader, &r), 0);
	for (i = 0; i < NTHR; i++)
		pthread_join(tw[i], NULL);
	stop = 1;
	pthread_join(tf, NULL);
	pthread_join(tr, NULL);
	for (i = 0; i < NTHR; i++)
		assert_int_equal(w[i].err, 0);
	assert_int_equal(f.err, 0);
	assert_int_equal(r.err, 0);
	check_final(fs, ip.ino);
	assert_int_equal(hfs_close(fs), 0);
	/* and the same after a remount (everything was committed by close) */
	fs = mount1();
	check_final(fs, ip.ino);
	assert_int_equal(hfs_close(fs), 0);
}

/* Rot one copy of overlay piece p of block fbo (fs->lock taken here). */
static void rot_overlay(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, unsigned p, int copy)
{
	uint8_t *c = NULL;
	struct ovl o;

	assert_int_equal(posix_memalign((void **)&c, 4096, HFS_BLKSIZE), 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(ovl_get(fs, ino, fbo, &o), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_true(o.mask & (1u << p));
	assert_int_equal(raid_read_copy(fs->rs, copy, hfs_raw(o.r[p].addr), c, HFS_BLKSIZE), 0);
	c[7] ^= 0x40;
	assert_int_equal(raid_write_copy(fs->rs, copy, hfs_raw(o.r[p].addr), c, HFS_BLKSIZE), 0);
	free(c);
}

/* A merge over overlays the cache does not hold (after a remount) reads
 * them with the base in phase B, outside fs->lock: one direct read each.
 * An overlay bad on one leg still merges right (a phase-B read that met
 * the bad copy has the block redone with fs->lock held, which heals);
 * bad on both legs, the write fails with EIO and the block is as it was.
 * Fresh overlays next to committed ones (buffers read before their
 * write, in phase B) keep their neighbours' bytes. */
static void test_merge_cold(void **st)
{
	const char *p[2] = { mimg[0], mimg[1] };
	uint8_t *want = malloc(3 * HFS_FBLOCK), *got = NULL, pc[HFS_BLKSIZE];
	struct bc_stats b0, b1;
	struct hfs_inode ip;
	struct hfs_fs *fs;
	unsigned k;
	size_t i;

	assert_non_null(want);
	assert_int_equal(posix_memalign((void **)&got, 4096, 3 * HFS_FBLOCK), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	for (i = 0; i < 3 * HFS_FBLOCK; i++)
		want[i] = (uint8_t)(i * 7 + (i >> 12) + 1);
	assert_int_equal(tu_new_file(fs, &ip), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, want, 3 * HFS_FBLOCK, 0), 0);
	/* HFS_OVL_MAX overlays on blocks 0 and 1 (pieces 0..7), committed */
	for (k = 0; k < 2 * HFS_OVL_MAX; k++) {
		uint64_t off = (k / HFS_OVL_MAX) * HFS_FBLOCK + (k % HFS_OVL_MAX) * HFS_BLKSIZE;

		for (i = 0; i < HFS_BLKSIZE; i++)
			want[off + i] = (uint8_t)(k * 31 + i * 3);
		assert_int_equal(tu_file_write(fs, ip.ino, want + off, HFS_BLKSIZE, off), 0);
	}
	/* and two on block 2: half of the next DATA buffer */
	for (k = 0; k < 2; k++) {
		uint64_t off = 2 * HFS_FBLOCK + 2 * k * HFS_BLKSIZE;

		for (i = 0; i < HFS_BLKSIZE; i++)
			want[off + i] = (uint8_t)(k * 41 + i * 11 + 5);
		assert_int_equal(tu_file_write(fs, ip.ino, want + off, HFS_BLKSIZE, off), 0);
	}
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	rot_overlay(fs, ip.ino, 0, 3, 0);   /* block 0: piece 3 bad on leg 0 */
	rot_overlay(fs, ip.ino, HFS_FBLOCK, 2, 0);   /* block 1: piece 2 bad on both */
	rot_overlay(fs, ip.ino, HFS_FBLOCK, 2, 1);
	/* a write into block 0 not of whole pieces (those would make the
	 * CRC4K block pieces, test_ovl_to_pieces): a merge */
	memset(pc, 0xA5, sizeof(pc));
	memcpy(want + 12 * HFS_BLKSIZE + 512, pc, sizeof(pc) - 512);
	bc_get_stats(fs->bc, &b0);
	assert_int_equal(tu_file_write(fs, ip.ino, pc, sizeof(pc) - 512, 12 * HFS_BLKSIZE + 512), 0);
	bc_get_stats(fs->bc, &b1);
	/* the base and the eight overlays, at least (a redo reads again) */
	assert_true(b1.direct_reads - b0.direct_reads >= 1 + HFS_OVL_MAX);
	/* block 1: the merge cannot read piece 2 */
	assert_int_equal(tu_file_write(fs, ip.ino, pc, sizeof(pc) - 512, HFS_FBLOCK + 12 * HFS_BLKSIZE + 512),
			 -EIO);
	/* fresh overlays on block 2, the first two into the rest of the
	 * buffer of its committed ones (read first, in phase B) */
	for (k = 0; k < 3; k++) {
		uint64_t off = 2 * HFS_FBLOCK + (2 * k + 1) * HFS_BLKSIZE;

		for (i = 0; i < HFS_BLKSIZE; i++)
			want[off + i] = (uint8_t)(k * 57 + i * 5 + 9);
		assert_int_equal(tu_file_write(fs, ip.ino, want + off, HFS_BLKSIZE, off), 0);
	}
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_FBLOCK, 0), (ssize_t)HFS_FBLOCK);
	assert_memory_equal(got, want, HFS_FBLOCK);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_FBLOCK, 2 * HFS_FBLOCK), (ssize_t)HFS_FBLOCK);
	assert_memory_equal(got, want + 2 * HFS_FBLOCK, HFS_FBLOCK);
	/* block 1 as it was, but for the piece no copy of which is good */
	assert_int_equal(tu_file_read(fs, ip.ino, got, 2 * HFS_BLKSIZE, HFS_FBLOCK), (ssize_t)(2 * HFS_BLKSIZE));
	assert_memory_equal(got, want + HFS_FBLOCK, 2 * HFS_BLKSIZE);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_BLKSIZE, HFS_FBLOCK + 2 * HFS_BLKSIZE), -EIO);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_FBLOCK - 3 * HFS_BLKSIZE, HFS_FBLOCK + 3 * HFS_BLKSIZE),
			 (ssize_t)(HFS_FBLOCK - 3 * HFS_BLKSIZE));
	assert_memory_equal(got, want + HFS_FBLOCK + 3 * HFS_BLKSIZE, HFS_FBLOCK - 3 * HFS_BLKSIZE);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
}

/* HFS_OVL_MAX overlays on a CRC4K block, committed, the cache cold: a
 * ninth whole piece turns the block into a pieces record without reading
 * anything (its base's pieces and the overlays keep their places and
 * CRCs; the base's superseded pieces are freed).  A base piece bad on
 * both legs, which the conversion never read, is then -EIO alone; an
 * overlay bad on one leg (now a piece) heals when read.  A later piece write replaces
 * just that piece. */
static void test_ovl_to_pieces(void **st)
{
	const char *p[2] = { mimg[0], mimg[1] };
	uint8_t *want = malloc(2 * HFS_FBLOCK), *got = NULL, *c = NULL;
	struct bc_stats b0, b1;
	struct hfs_inode ip;
	struct hfs_fs *fs;
	struct rec r0, r;
	uint64_t free0;
	unsigned k, q;
	size_t i;

	assert_non_null(want);
	assert_int_equal(posix_memalign((void **)&got, 4096, 2 * HFS_FBLOCK), 0);
	assert_int_equal(posix_memalign((void **)&c, 4096, HFS_BLKSIZE), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	for (i = 0; i < 2 * HFS_FBLOCK; i++)
		want[i] = (uint8_t)(i * 5 + (i >> 12) + 2);
	assert_int_equal(tu_new_file(fs, &ip), 0);
	assert_int_equal(tu_file_write(fs, ip.ino, want, 2 * HFS_FBLOCK, 0), 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(rec_get(fs, ip.ino, 0, &r0), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_true(rec_crc4k(&r0));
	/* overlays on the even pieces 0..14 of block 0 */
	for (k = 0; k < HFS_OVL_MAX; k++) {
		uint64_t off = 2 * k * HFS_BLKSIZE;

		for (i = 0; i < HFS_BLKSIZE; i++)
			want[off + i] = (uint8_t)(k * 29 + i * 7 + 3);
		assert_int_equal(tu_file_write(fs, ip.ino, want + off, HFS_BLKSIZE, off), 0);
	}
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	rot_overlay(fs, ip.ino, 0, 6, 1);   /* overlay on piece 6 bad on leg 1 */
	for (k = 0; k < 2; k++) {           /* base piece 9 bad on both legs */
		uint64_t raw = hfs_raw(r0.addr) + 9 * HFS_BLKSIZE;

		assert_int_equal(raid_read_copy(fs->rs, (int)k, raw, c, HFS_BLKSIZE), 0);
		c[9] ^= 0x11;
		assert_int_equal(raid_write_copy(fs->rs, (int)k, raw, c, HFS_BLKSIZE), 0);
	}
	pthread_mutex_lock(&fs->lock);
	free0 = hfs_alloc_free_blocks(fs);
	pthread_mutex_unlock(&fs->lock);
	/* pieces 3-5 in one write: 3 and 5 would be a ninth and tenth overlay */
	for (i = 0; i < 3 * HFS_BLKSIZE; i++)
		want[3 * HFS_BLKSIZE + i] = (uint8_t)(i * 3 + 77);
	bc_get_stats(fs->bc, &b0);
	assert_int_equal(tu_file_write(fs, ip.ino, want + 3 * HFS_BLKSIZE, 3 * HFS_BLKSIZE, 3 * HFS_BLKSIZE), 0);
	bc_get_stats(fs->bc, &b1);
	assert_int_equal(b1.direct_reads, b0.direct_reads);   /* nothing read */
	assert_int_equal(b1.fills, b0.fills);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(rec_get(fs, ip.ino, 0, &r), 0);
	assert_int_equal(hfs_inode_load(fs, ip.ino, &ip), 0);
	/* the write took 3 pieces (3, 4 and 5); base pieces 0-5, 6, 8, 10,
	 * 12 and 14 (superseded) are freed, the overlay on 4 too */
	assert_int_equal(hfs_alloc_free_blocks(fs), free0 - 3 + 10 + 1);
	assert_int_equal(hfs_alloc_selfcheck(fs), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_true(rec_pieces(&r));
	for (q = 0; q < NPIECE; q++) {
		assert_true(r.paddr[q] != 0);
		if (q % 2 && q != 3 && q != 5) {
			assert_int_equal(r.paddr[q], r0.addr + q * HFS_BLKSIZE);   /* kept in place */
			assert_int_equal(r.pcrc[q], r0.pcrc[q]);
		}
	}
	/* 16 pieces on block 0, block 1 whole; no overlay is left */
	assert_int_equal(ip.blocks, (uint64_t)(16 + 16) * (HFS_BLKSIZE / 512));
	{
		struct ovl o;

		pthread_mutex_lock(&fs->lock);
		assert_int_equal(ovl_get(fs, ip.ino, 0, &o), 0);
		pthread_mutex_unlock(&fs->lock);
		assert_int_equal(o.mask, 0);
	}
	/* a later piece write replaces that piece only */
	for (i = 0; i < HFS_BLKSIZE; i++)
		want[7 * HFS_BLKSIZE + i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(tu_file_write(fs, ip.ino, want + 7 * HFS_BLKSIZE, HFS_BLKSIZE, 7 * HFS_BLKSIZE), 0);
	assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(hfs_open(p, 2, NULL, &fs), 0);
	/* all but piece 9 read right; piece 6's read healed leg 1 */
	assert_int_equal(tu_file_read(fs, ip.ino, got, 9 * HFS_BLKSIZE, 0), (ssize_t)(9 * HFS_BLKSIZE));
	assert_memory_equal(got, want, 9 * HFS_BLKSIZE);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_BLKSIZE, 9 * HFS_BLKSIZE), -EIO);
	assert_int_equal(tu_file_read(fs, ip.ino, got, HFS_FBLOCK + 6 * HFS_BLKSIZE, 10 * HFS_BLKSIZE),
			 (ssize_t)(HFS_FBLOCK + 6 * HFS_BLKSIZE));
	assert_memory_equal(got, want + 10 * HFS_BLKSIZE, HFS_FBLOCK + 6 * HFS_BLKSIZE);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(rec_get(fs, ip.ino, 0, &r), 0);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(raid_read_copy(fs->rs, 1, hfs_raw(r.paddr[6]), c, HFS_BLKSIZE), 0);
	assert_memory_equal(c, want + 6 * HFS_BLKSIZE, HFS_BLKSIZE);
	assert_int_equal(hfs_close(fs), 0);
	free(want);
	free(got);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_is_zlib),
		cmocka_unit_test_setup_teardown(test_concurrent_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_merges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_to_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_punch_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_minor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pieces_heal, setup_mirror, teardown_mirror),
		cmocka_unit_test_setup_teardown(test_merge_cold, setup_mirror, teardown_mirror),
		cmocka_unit_test_setup_teardown(test_ovl_to_pieces, setup_mirror, teardown_mirror),
	};

	tu_seed(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
