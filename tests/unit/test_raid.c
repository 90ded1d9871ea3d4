/*
 * test_raid.c — raid/ on image files, with both engines: create/assemble,
 * label cross-checks, I/O patterns, batches, threads, mirror leg failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "raid/raid.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
static enum raid_engine_kind engine;

struct fixture {
	char img[3][256];
	int n;
};

static int setup3(void **st)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	for (i = 0; i < 3; i++)
		if (tu_mkimage(f->img[i], sizeof(f->img[i]), IMG_SIZE))
			return -1;
	f->n = 3;
	*st = f;
	return 0;
}

static int teardown3(void **st)
{
	struct fixture *f = *st;
	int i;

	for (i = 0; i < f->n; i++)
		tu_rmimage(f->img[i]);
	free(f);
	return 0;
}

static const char *const *paths(struct fixture *f, int a, int b)
{
	static const char *p[3];

	p[0] = f->img[a];
	p[1] = f->img[b];
	p[2] = f->img[2];
	return p;
}

static struct raid_opts opts(void)
{
	struct raid_opts o = { .engine = engine };
	return o;
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 12)) & 0xff);
}

static void test_single_roundtrip(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_SINGLE };
	struct raid_opts o = opts();
	struct raid_set *s;
	uint8_t *w = malloc(1 << 20), *r = malloc(1 << 20);
	int i;

	assert_int_equal(raid_create(paths(f, 0, 1), 1, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	assert_true(raid_size(s) >= (64ull << 20));
	assert_int_equal(raid_size(s) % RAID_SECTOR, 0);
	assert_int_equal(raid_ncopies(s), 1);
	for (i = 0; i < 40; i++) {
		uint64_t off = (tu_rand() % (raid_size(s) / RAID_SECTOR - 256)) * RAID_SECTOR;
		size_t len = (1 + tu_rand() % 256) * RAID_SECTOR;

		/* unaligned memory: exercises the bounce path under O_DIRECT */
		fill(w + (i & 1), len, (uint64_t)i);
		assert_int_equal(raid_write(s, off, w + (i & 1), len), 0);
		memset(r, 0, len + 1);
		assert_int_equal(raid_read(s, off, r + (i & 1), len), 0);
		assert_memory_equal(r + (i & 1), w + (i & 1), len);
	}
	assert_int_equal(raid_flush(s), 0);
	/* bounds and alignment */
	assert_int_equal(raid_write(s, raid_size(s), w, RAID_SECTOR), -ERANGE);
	assert_int_equal(raid_read(s, raid_size(s) - RAID_SECTOR, r, 2 * RAID_SECTOR), -ERANGE);
	assert_int_equal(raid_read(s, 100, r, RAID_SECTOR), -EINVAL);
	assert_int_equal(raid_read(s, 0, r, 100), -EINVAL);
	raid_close(s);
	/* persists across reassembly */
	fill(w, RAID_SECTOR, 99);
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	assert_int_equal(raid_write(s, 8192, w, RAID_SECTOR), 0);
	raid_close(s);
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	assert_int_equal(raid_read(s, 8192, r, RAID_SECTOR), 0);
	assert_memory_equal(r, w, RAID_SECTOR);
	raid_close(s);
	free(w);
	free(r);
}

struct batch_ctx {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int left, errs;
};

static void batch_done(struct raid_io *io, int err)
{
	struct batch_ctx *b = io->io_priv;

	pthread_mutex_lock(&b->m);
	if (err)
		b->errs++;
	if (--b->left == 0)
		pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->m);
}

static void run_batch(struct raid_set *s, enum raid_op op, uint8_t *buf, int n, size_t each)
{
	struct batch_ctx b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n, 0 };
	struct raid_io io[64], *ios[64];
	int i;

	for (i = 0; i < n; i++) {
		memset(&io[i], 0, sizeof(io[i]));
		io[i].io_op = op;
		io[i].io_off = (uint64_t)i * each;
		io[i].io_buf = buf + (size_t)i * each;
		io[i].io_len = each;
		io[i].io_copy = -1;
		io[i].io_done = batch_done;
		io[i].io_priv = &b;
		ios[i] = &io[i];
	}
	assert_int_equal(raid_submit_batch(s, ios, n), n);
	pthread_mutex_lock(&b.m);
	while (b.left)
		pthread_cond_wait(&b.cv, &b.m);
	pthread_mutex_unlock(&b.m);
	assert_int_equal(b.errs, 0);
}

static void test_batch(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_opts o = opts();
	struct raid_set *s;
	size_t each = 64 << 10;
	uint8_t *w = malloc(64 * each), *r = malloc(64 * each);
	int leg;

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	assert_int_equal(raid_ncopies(s), 2);
	fill(w, 64 * each, 7);
	run_batch(s, RAID_OP_WRITE, w, 64, each);
	memset(r, 0, 64 * each);
	run_batch(s, RAID_OP_READ, r, 64, each);
	assert_memory_equal(r, w, 64 * each);
	/* both copies hold the data */
	for (leg = 0; leg < 2; leg++) {
		memset(r, 0, each);
		assert_int_equal(raid_read_copy(s, leg, 5 * each, r, each), 0);
		assert_memory_equal(r, w + 5 * each, each);
	}
	raid_close(s);
	free(w);
	free(r);
}

struct thr { struct raid_set *s; int id; int errs; };

static void *hammer(void *arg)
{
	struct thr *t = arg;
	uint8_t *w = malloc(32768), *r = malloc(32768);
	int i;

	for (i = 0; i < 200; i++) {
		uint64_t off = ((uint64_t)t->id * 1024 + (uint64_t)(i % 128) * 8) * RAID_SECTOR;

		fill(w, 32768, (uint64_t)(t->id * 1000 + i));
		if (raid_write(t->s, off, w, 32768) || raid_read(t->s, off, r, 32768) ||
		    memcmp(w, r, 32768))
			t->errs++;
	}
	free(w);
	free(r);
	return NULL;
}

static void test_threads(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_opts o = opts();
	struct raid_set *s;
	pthread_t th[6];
	struct thr t[6];
	int i;

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	for (i = 0; i < 6; i++) {
		t[i] = (struct thr){ s, i, 0 };
		pthread_create(&th[i], NULL, hammer, &t[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].errs, 0);
	}
	raid_close(s);
}

static void test_mirror_leg_fails(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_opts o = opts();
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t w[8192], r[8192];

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	fill(w, sizeof(w), 1);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	/* leg 1 starts failing writes: the write rolls forward on leg 0 */
	assert_int_equal(raid_test_fail(s, 1, 0, 1), 0);
	fill(w, sizeof(w), 2);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_true(cs[1].write_errs >= 1);
	/* reads never go to the failed leg */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(raid_read(s, 0, r, sizeof(r)), 0);
		assert_memory_equal(r, w, sizeof(w));
	}
	/* still writable degraded */
	fill(w, sizeof(w), 3);
	assert_int_equal(raid_write(s, 4096 * 10, w, sizeof(w)), 0);
	raid_close(s);
	/* the failure is recorded in the survivor's label and the region in
	 * its bitmap: leg 1 comes back REBUILDING, serves no reads until the
	 * resync copied the one dirty region, then holds everything */
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_REBUILDING);
	assert_int_equal(raid_bitmap_dirty(s), 1);
	assert_int_equal(raid_read_copy(s, 1, 0, r, sizeof(r)), -EIO);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(raid_read(s, 4096 * 10, r, sizeof(r)), 0);
		assert_memory_equal(r, w, sizeof(w));
	}
	{
		struct raid_resync_progress p;

		assert_int_equal(raid_resync_step(s), 1);
		assert_int_equal(raid_resync_progress(s, &p), 0);
		assert_int_equal(p.comp, 1);
		assert_int_equal(p.regions_done, 1);
		assert_int_equal(raid_resync_step(s), 0);
		assert_int_equal(raid_resync_progress(s, &p), -ENOENT);
		assert_int_equal(p.bytes_copied, 64 << 10);
	}
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_OPTIMAL);
	assert_int_equal(raid_bitmap_dirty(s), 0);
	assert_int_equal(raid_read_copy(s, 1, 4096 * 10, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	fill(w, sizeof(w), 2);
	assert_int_equal(raid_read_copy(s, 1, 0, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	raid_close(s);
	/* optimal and clean after a reassembly */
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].state, RAID_COMP_OPTIMAL);
	assert_int_equal(raid_resync_step(s), -ENOENT);
	raid_close(s);
}

static void test_read_retry_other_copy(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_opts o = opts();
	struct raid_set *s;
	uint8_t w[4096], r[4096];
	int i;

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	fill(w, sizeof(w), 5);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	assert_int_equal(raid_test_fail(s, 0, 1, 0), 0);
	for (i = 0; i < 6; i++) {   /* round-robin hits leg 0 half the time */
		memset(r, 0, sizeof(r));
		assert_int_equal(raid_read(s, 0, r, sizeof(r)), 0);
		assert_memory_equal(r, w, sizeof(w));
	}
	assert_int_equal(raid_read_copy(s, 0, 0, r, sizeof(r)), -EIO);
	assert_int_equal(raid_test_fail(s, 1, 1, 0), 0);
	assert_int_equal(raid_read(s, 0, r, sizeof(r)), -EIO);   /* no copy left */
	raid_close(s);
}

/* A lone read of raid_read runs on the caller's thread (dag.c fire_one);
 * an asynchronous read, a read of several nodes and the retry of a failed
 * one do not.  An error of the read done there still retries the other
 * copy: leg 0's file is cut short, so its reads hit the end of the file. */
static void test_waited_read(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_create_params sp = { .layout = RAID_LAYOUT_STRIPE, .stripe_unit = 65536, .force = 1 };
	struct raid_opts o = opts();
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t *w = malloc(1 << 20), *r = malloc(1 << 20);
	long before;
	int i;

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	fill(w, 1 << 20, 11);
	assert_int_equal(raid_write(s, 1 << 20, w, 1 << 20), 0);
	before = raid_test_waited_reads(s);
	assert_int_equal(raid_read(s, (1 << 20) + 8192, r, 4096), 0);
	assert_memory_equal(r, w + 8192, 4096);
	assert_int_equal(raid_read_copy(s, 1, 1 << 20, r, 1 << 20), 0);
	assert_memory_equal(r, w, 1 << 20);
	assert_int_equal(raid_test_waited_reads(s), before + 2);
	memset(r, 0, 4096);
	run_batch(s, RAID_OP_READ, r, 1, 4096);   /* raid_submit: not waited */
	assert_int_equal(raid_test_waited_reads(s), before + 2);
	/* leg 0 loses its data area under the open set */
	assert_int_equal(truncate(f->img[0], 65536), 0);
	for (i = 0; i < 6; i++) {   /* round-robin: leg 0 half the time */
		memset(r, 0, 4096);
		assert_int_equal(raid_read(s, 1 << 20, r, 4096), 0);
		assert_memory_equal(r, w, 4096);
	}
	assert_int_equal(raid_test_waited_reads(s), before + 8);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_true(cs[0].read_errs > 0);
	assert_int_equal(cs[1].read_errs, 0);
	raid_close(s);

	/* two stripe units: two READ nodes, submitted to the engine */
	assert_int_equal(truncate(f->img[0], IMG_SIZE), 0);
	assert_int_equal(raid_create(paths(f, 0, 1), 2, &sp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	assert_int_equal(raid_write(s, 0, w, 131072), 0);
	before = raid_test_waited_reads(s);
	assert_int_equal(raid_read(s, 0, r, 131072), 0);
	assert_memory_equal(r, w, 131072);
	assert_int_equal(raid_test_waited_reads(s), before);
	raid_close(s);
	free(w);
	free(r);
}

static void test_assembly_checks(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };
	struct raid_opts o = opts();
	struct raid_set *s;
	const char *one[1], *mix[2];
	uint8_t w[4096];

	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	/* refused without -f: now holds an hfs member */
	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), -EEXIST);
	/* missing leg: refused, accepted degraded */
	one[0] = f->img[0];
	assert_int_equal(raid_open(one, 1, &o, &s), -ENODEV);
	o.allow_degraded = 1;
	assert_int_equal(raid_open(one, 1, &o, &s), 0);
	fill(w, sizeof(w), 9);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	raid_close(s);
	/* foreign component: img2 formatted as another set */
	cp.force = 1;
	{
		const char *p2[1] = { f->img[2] };
		struct raid_create_params c1 = { .layout = RAID_LAYOUT_SINGLE, .force = 1 };

		assert_int_equal(raid_create(p2, 1, &c1), 0);
	}
	mix[0] = f->img[0];
	mix[1] = f->img[2];
	o.allow_degraded = 0;
	assert_int_equal(raid_open(mix, 2, &o, &s), -EINVAL);
	/* stale: a leg whose label generation is behind while marked optimal */
	assert_int_equal(raid_create(paths(f, 0, 1), 2, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 2, &o, &s), 0);
	raid_test_fail(s, 1, 0, 1);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);   /* fails leg 1, gen++ on leg 0 */
	raid_close(s);
	/* garbage instead of a label */
	{
		int fd = open(f->img[2], O_WRONLY);
		char junk[8192];

		memset(junk, 0x5a, sizeof(junk));
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 64 << 10), (ssize_t)sizeof(junk));
		close(fd);
		one[0] = f->img[2];
		assert_int_equal(raid_open(one, 1, &o, &s), -EINVAL);
	}
}

static void test_too_small_and_foreign_fs(void **st)
{
	char small[256], ext[256];
	const char *p[1];
	struct raid_create_params cp = { .layout = RAID_LAYOUT_SINGLE };
	char cmd[600];

	assert_int_equal(tu_mkimage(small, sizeof(small), 1 << 20), 0);
	p[0] = small;
	assert_int_equal(raid_create(p, 1, &cp), -ENOSPC);
	tu_rmimage(small);

	assert_int_equal(tu_mkimage(ext, sizeof(ext), IMG_SIZE), 0);
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", ext);
	if (system(cmd) != 0) {
		tu_rmimage(ext);
		skip();   /* e2fsprogs missing */
	}
	p[0] = ext;
	assert_int_equal(raid_create(p, 1, &cp), -EEXIST);
	cp.force = 1;
	assert_int_equal(raid_create(p, 1, &cp), 0);
	tu_rmimage(ext);
	/* layout/device-count mismatch */
	cp.layout = RAID_LAYOUT_MIRROR;
	assert_int_equal(raid_create(p, 1, &cp), -EINVAL);
}

static int file_has(const char *img, uint64_t logical, const uint8_t *want, size_t len)
{
	uint8_t got[8192];
	int fd = open(img, O_RDONLY);
	ssize_t n = pread(fd, got, len, (off_t)(logical + RAID_DATA_OFF));

	close(fd);
	return n == (ssize_t)len && !memcmp(got, want, len);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", from, to);
	assert_int_equal(system(cmd), 0);
}

/* The write-log device: records every completed write and flush; replaying
 * a prefix rebuilds the device as of that point, optionally without the
 * writes after the last flush. */
static void test_write_log(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_SINGLE, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	char log[300], base[300], img[300];
	uint8_t a[8192], b[8192], c[8192];
	long recs, flushes;

	snprintf(log, sizeof(log), "%s.wlog", f->img[0]);
	snprintf(base, sizeof(base), "%s.base", f->img[0]);
	snprintf(img, sizeof(img), "%s.crash", f->img[0]);
	assert_int_equal(raid_create(paths(f, 0, 1), 1, &cp), 0);
	copy_file(f->img[0], base);
	o.write_log = log;
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	assert_int_equal(raid_write(s, 0, a, sizeof(a)), 0);
	assert_int_equal(raid_flush(s), 0);
	assert_int_equal(raid_write(s, 65536, b, sizeof(b)), 0);
	assert_int_equal(raid_flush(s), 0);
	assert_int_equal(raid_write(s, 131072, c, sizeof(c)), 0);
	raid_close(s);
	assert_int_equal(raid_wlog_count(log, &recs, &flushes), 0);
	assert_int_equal(recs, 5);
	assert_int_equal(flushes, 2);
	/* crash right after the first flush: A only */
	copy_file(base, img);
	assert_int_equal(raid_wlog_replay(log, 0, img, 2, 0), 1);
	assert_true(file_has(img, 0, a, sizeof(a)));
	assert_false(file_has(img, 65536, b, sizeof(b)));
	/* everything */
	copy_file(base, img);
	assert_int_equal(raid_wlog_replay(log, 0, img, 5, 0), 3);
	assert_true(file_has(img, 131072, c, sizeof(c)));
	/* everything, but C (after the last flush) never reached the disk */
	copy_file(base, img);
	assert_int_equal(raid_wlog_replay(log, 0, img, 5, 1), 2);
	assert_true(file_has(img, 65536, b, sizeof(b)));
	assert_false(file_has(img, 131072, c, sizeof(c)));
	/* a damaged log is an error, not garbage on the image */
	{
		int fd = open(log, O_WRONLY);

		assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
		close(fd);
	}
	assert_int_equal(raid_wlog_replay(log, 0, img, 5, 0), -EBADMSG);
	unlink(log);
	unlink(base);
	unlink(img);
}

/* Replay with the unflushed tail reordered (seeded): two writes to one block
 * after the last flush may land in either order or not at all, may tear at
 * 4 KiB sectors, never disturb what the flush made durable, and one seed
 * always rebuilds the same image. */
static void test_write_log_reorder(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_SINGLE, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	char log[300], base[300], img[300];
	static uint8_t p[16384], a[16384], b[16384], c[8192], got[16384], again[16384];
	int saw_old = 0, saw_a = 0, saw_b = 0, overtaken = 0, torn = 0, seed, i;
	struct raid_wlog *w;

	snprintf(log, sizeof(log), "%s.wlog", f->img[0]);
	snprintf(base, sizeof(base), "%s.base", f->img[0]);
	snprintf(img, sizeof(img), "%s.crash", f->img[0]);
	assert_int_equal(raid_create(paths(f, 0, 1), 1, &cp), 0);
	copy_file(f->img[0], base);
	o.write_log = log;
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	fill(p, sizeof(p), 4);
	fill(a, sizeof(a), 5);
	fill(b, sizeof(b), 6);
	fill(c, sizeof(c), 7);
	assert_int_equal(raid_write(s, 0, p, sizeof(p)), 0);
	assert_int_equal(raid_flush(s), 0);
	assert_int_equal(raid_write(s, 0, a, sizeof(a)), 0);
	assert_int_equal(raid_write(s, 0, b, sizeof(b)), 0);
	assert_int_equal(raid_write(s, 65536, c, sizeof(c)), 0);
	raid_close(s);
	assert_int_equal(raid_wlog_load(log, &w), 0);
	assert_int_equal(raid_wlog_records(w), 5);
	assert_int_equal(raid_wlog_last_flush(w, 0, 5), 1);
	assert_int_equal(raid_wlog_last_flush(w, 0, 1), -1);
	assert_int_equal(raid_wlog_record(w, 1)->wi_type, RAID_WLOG_FLUSH);
	assert_null(raid_wlog_record(w, 5));
	assert_int_equal(raid_wlog_record_at(w, raid_wlog_record(w, 2)->wi_pos), 2);
	assert_int_equal(raid_wlog_record_at(w, raid_wlog_record(w, 2)->wi_pos + 1), 2);
	raid_wlog_free(w);
	for (seed = 1; seed <= 400; seed++) {
		int fd, n, sect_a = 0, sect_b = 0, sect_p = 0;

		copy_file(base, img);
		n = raid_wlog_replay_seed(log, 0, img, 5, 0, (uint64_t)seed);
		assert_in_range(n, 1, 4);   /* the flushed write + 0..3 of the tail */
		fd = open(img, O_RDONLY);
		assert_int_equal(pread(fd, got, sizeof(got), RAID_DATA_OFF), (ssize_t)sizeof(got));
		close(fd);
		for (i = 0; i < 4; i++) {
			const uint8_t *g = got + i * 4096;
			int is_p = !memcmp(g, p + i * 4096, 4096), is_a = !memcmp(g, a + i * 4096, 4096);
			int is_b = !memcmp(g, b + i * 4096, 4096);

			assert_true(is_p || is_a || is_b);   /* nothing but written sectors */
			sect_p += is_p;
			sect_a += is_a;
			sect_b += is_b;
		}
		saw_old |= sect_p == 4;
		saw_a |= sect_a == 4;
		saw_b |= sect_b == 4;
		torn |= sect_p + sect_a + sect_b == 4 && sect_p != 4 && sect_a != 4 && sect_b != 4;
		/* all three tail writes applied yet A is there: A landed after B */
		overtaken |= n == 4 && sect_a == 4;
		if (seed == 7)
			memcpy(again, got, sizeof(got));
	}
	assert_true(saw_old && saw_a && saw_b && overtaken && torn);
	copy_file(base, img);
	assert_true(raid_wlog_replay_seed(log, 0, img, 5, 0, 7) >= 1);
	{
		int fd = open(img, O_RDONLY);

		assert_int_equal(pread(fd, got, sizeof(got), RAID_DATA_OFF), (ssize_t)sizeof(got));
		close(fd);
		assert_memory_equal(got, again, sizeof(got));   /* seed 7 again: same image */
	}
	/* a crash before the flush: only the tail's order/drop rules, P may be lost */
	copy_file(base, img);
	assert_int_equal(raid_wlog_replay_seed(log, 0, img, 1, 1, 0), 0);
	assert_false(file_has(img, 0, p, 8192));
	unlink(log);
	unlink(base);
	unlink(img);
}

static void test_engine_named(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_SINGLE, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;

	assert_int_equal(raid_create(paths(f, 0, 1), 1, &cp), 0);
	assert_int_equal(raid_open(paths(f, 0, 1), 1, &o, &s), 0);
	assert_string_equal(raid_engine_name(s), engine == RAID_ENGINE_POOL ? "pool" : "io_uring");
	raid_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine_named, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_single_roundtrip, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_batch, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_threads, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_mirror_leg_fails, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_read_retry_other_copy, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_waited_read, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_assembly_checks, setup3, teardown3),
		cmocka_unit_test(test_too_small_and_foreign_fs),
		cmocka_unit_test_setup_teardown(test_write_log, setup3, teardown3),
		cmocka_unit_test_setup_teardown(test_write_log_reorder, setup3, teardown3),
	};
	int fails;

	tu_seed(1234);
	engine = RAID_ENGINE_URING;
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	fails = _cmocka_run_group_tests("raid (io_uring)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("raid (pool)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
