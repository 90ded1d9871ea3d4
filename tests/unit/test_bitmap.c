/*
 * test_bitmap.c — the dirty-region bitmap and resync (raid/bitmap.c,
 * raid/resync.c) on image files, both engines: a leg missing while the set
 * is written comes back and is resynced only where it is stale (counted in
 * bytes copied); the bit is on disk before the write returns, and a write
 * whose bit cannot be made durable writes no data; bits are set once per
 * region (no bitmap write per data write); a full resync resumes after a
 * close at its checkpoint; writes racing the resync end up on both legs;
 * a leg the bitmap cannot vouch for is left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "raid/raid_int.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
#define REGION (64u << 10)
static enum raid_engine_kind engine;

struct fixture {
	char img[4][256];
	const char *p[4];
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	for (i = 0; i < 4; i++) {
		if (tu_mkimage(f->img[i], sizeof(f->img[i]), IMG_SIZE))
			return -1;
		f->p[i] = f->img[i];
	}
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	int i;

	for (i = 0; i < 4; i++)
		tu_rmimage(f->img[i]);
	free(f);
	return 0;
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 12)) & 0xff);
}

static struct raid_set *open_set(struct fixture *f, int n, int degraded)
{
	struct raid_opts o = { .engine = engine, .allow_degraded = degraded };
	struct raid_set *s;

	assert_int_equal(raid_open(f->p, n, &o, &s), 0);
	return s;
}

/* Bit r of the newer valid bitmap copy in component image img (-1: none). */
static int disk_bit(const char *img, uint64_t r)
{
	static uint8_t buf[RAID_BM_HDR + 32768];
	const struct raid_bm_ondisk *h = (const void *)buf;
	uint64_t best = 0;
	int fd = open(img, O_RDONLY), k, bit = -1;

	assert_true(fd >= 0);
	for (k = 0; k < 2; k++) {
		assert_true(pread(fd, buf, sizeof(buf), k ? RAID_BM_OFF1 : RAID_BM_OFF0) > 0);
		if (le64toh(h->b_magic) != RAID_BM_MAGIC || le64toh(h->b_events) < best)
			continue;
		best = le64toh(h->b_events);
		bit = (buf[RAID_BM_HDR + r / 8] >> (r % 8)) & 1;
	}
	close(fd);
	return bit;
}

static uint64_t resync_all(struct raid_set *s)
{
	struct raid_resync_progress p;
	int ret;

	while ((ret = raid_resync_step(s)) == 1)
		;
	assert_int_equal(ret, 0);
	assert_int_equal(raid_resync_progress(s, &p), -ENOENT);
	return p.bytes_copied;
}

/* Mirror: leg 1 away while regions 3, 7-8 and 100 are written; back, only
 * those 4 regions are copied. */
static void test_resync_only_stale(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t *base = malloc(4 << 20), *w = malloc(REGION * 2), *r = malloc(4 << 20);
	uint64_t writes0;
	int i;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 2, 0);
	assert_int_equal(raid_bitmap_dirty(s), 0);
	fill(base, 4 << 20, 1);
	assert_int_equal(raid_write(s, 0, base, 4 << 20), 0);   /* regions 0..63, both legs */
	assert_int_equal(raid_bitmap_dirty(s), 0);              /* optimal: nothing recorded */
	raid_close(s);

	s = open_set(f, 1, 1);                                   /* leg 1 missing */
	writes0 = s->bm.bm_nwrites;
	fill(w, REGION, 2);
	for (i = 0; i < 50; i++)                                 /* region 3, 50 times */
		assert_int_equal(raid_write(s, 3ull * REGION + (uint64_t)(i % 16) * 4096, w, 4096), 0);
	assert_int_equal(s->bm.bm_nwrites - writes0, 1);          /* one bitmap write */
	assert_int_equal(disk_bit(f->img[0], 3), 1);              /* durable on the survivor */
	assert_int_equal(disk_bit(f->img[0], 4), 0);
	fill(w, 2 * REGION, 3);
	assert_int_equal(raid_write(s, 7ull * REGION + 8192, w, REGION), 0);   /* 7 and 8 */
	assert_int_equal(raid_write(s, 100ull * REGION, w, 8192), 0);
	assert_int_equal(raid_bitmap_dirty(s), 4);
	assert_int_equal(disk_bit(f->img[0], 8), 1);
	assert_int_equal(disk_bit(f->img[0], 100), 1);
	raid_close(s);

	s = open_set(f, 2, 0);                                   /* leg 1 back */
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_REBUILDING);
	{
		struct raid_resync_progress p;

		assert_int_equal(raid_resync_progress(s, &p), 0);
		assert_int_equal(p.comp, 1);
		assert_int_equal(p.full, 0);
		assert_int_equal(p.regions_total, 4);
		assert_int_equal(p.region_size, REGION);
	}
	assert_int_equal(resync_all(s), 4ull * REGION);        /* exactly the stale regions */
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_OPTIMAL);
	assert_int_equal(raid_bitmap_dirty(s), 0);
	assert_int_equal(disk_bit(f->img[0], 3), 0);
	assert_int_equal(disk_bit(f->img[1], 3), 0);
	/* both copies agree on the first 8 MiB */
	for (i = 0; i < 2; i++) {
		uint8_t *a = malloc(4 << 20);

		assert_int_equal(raid_read_copy(s, 0, (uint64_t)i << 22, a, 4 << 20), 0);
		assert_int_equal(raid_read_copy(s, 1, (uint64_t)i << 22, r, 4 << 20), 0);
		assert_memory_equal(a, r, 4 << 20);
		free(a);
	}
	assert_int_equal(raid_read_copy(s, 1, 100ull * REGION, r, 8192), 0);
	assert_memory_equal(r, w, 8192);
	raid_close(s);
	free(base);
	free(w);
	free(r);
}

/* The dirty bit must be durable before any data is written: a bitmap that
 * cannot be written fails the write and no data reaches the survivor. */
static void test_bit_before_data(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_set *s;
	uint8_t w[8192], r[8192], zero[8192] = { 0 };

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 1, 1);
	fill(w, sizeof(w), 9);
	/* the survivor refuses the bitmap write (and data writes: the same
	 * injected fault, so we can see whether the data write was tried) */
	assert_int_equal(raid_test_fail(s, 0, 0, 1), 0);
	assert_int_equal(raid_write(s, 20ull * REGION, w, sizeof(w)), -EIO);
	assert_int_equal(raid_test_fail(s, 0, 0, 0), 0);
	assert_int_equal(disk_bit(f->img[0], 20), 0);
	{
		struct raid_comp_status cs[2];

		assert_int_equal(raid_status(s, cs, 2), 2);
		assert_int_equal(cs[0].write_errs, 0);   /* the data write never ran */
		assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	}
	assert_int_equal(raid_read(s, 20ull * REGION, r, sizeof(r)), 0);
	assert_memory_equal(r, zero, sizeof(r));
	/* with the fault gone the same write goes through, bit first */
	assert_int_equal(raid_write(s, 20ull * REGION, w, sizeof(w)), 0);
	assert_int_equal(disk_bit(f->img[0], 20), 1);
	raid_close(s);
}

/* A full resync (replacement) is checkpointed and resumes after a close. */
static void test_full_resync_resumes(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_resync_progress p;
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint64_t first = 0, second, col;
	uint8_t *a = malloc(1 << 20), *b = malloc(1 << 20);
	int i;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 2, 0);
	fill(a, 1 << 20, 4);
	assert_int_equal(raid_write(s, 50ull << 20, a, 1 << 20), 0);
	raid_close(s);
	s = open_set(f, 1, 1);
	assert_int_equal(raid_write(s, 0, a, 4096), 0);          /* one dirty region */
	raid_close(s);
	/* scribble over leg 1 where the set wrote before it left: a full
	 * resync must repair it, an incremental one would not look there */
	{
		int fd = open(f->img[1], O_WRONLY);

		memset(b, 0xab, 1 << 20);
		assert_int_equal(pwrite(fd, b, 1 << 20, (off_t)((50ull << 20) + RAID_DATA_OFF)), 1 << 20);
		close(fd);
	}
	s = open_set(f, 2, 0);
	assert_int_equal(raid_resync_start(s, 1, 1), 0);         /* upgrade to full */
	assert_int_equal(raid_resync_progress(s, &p), 0);
	assert_int_equal(p.full, 1);
	col = s->geom.g_col_size;
	assert_int_equal(p.regions_total, (col + REGION - 1) / REGION);
	for (i = 0; i < 100; i++)                                /* past one checkpoint (64) */
		assert_int_equal(raid_resync_step(s), 1);
	assert_int_equal(raid_resync_progress(s, &p), 0);
	first = p.bytes_copied;
	assert_int_equal(first, 100ull * REGION);
	raid_close(s);
	s = open_set(f, 2, 0);                                   /* resumes: full, from 64 */
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_REBUILDING);
	assert_int_equal(raid_resync_progress(s, &p), 0);
	assert_int_equal(p.full, 1);
	second = resync_all(s);
	assert_int_equal(second, col - 64ull * REGION);
	assert_int_equal(raid_read_copy(s, 1, 50ull << 20, b, 1 << 20), 0);
	assert_memory_equal(a, b, 1 << 20);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_OPTIMAL);
	raid_close(s);
	free(a);
	free(b);
}

struct writer {
	struct raid_set *s;
	int stop, errs, n;
};

static void *write_loop(void *arg)
{
	struct writer *wr = arg;
	uint8_t buf[4096];

	while (!__atomic_load_n(&wr->stop, __ATOMIC_SEQ_CST)) {
		/* odd logical units: column 1 (legs 2, 3), column regions 0..63 */
		uint64_t unit = (uint64_t)(wr->n % 64) * 2 + 1;

		fill(buf, sizeof(buf), (uint64_t)wr->n + 1000);
		if (raid_write(wr->s, unit * REGION + (uint64_t)(wr->n % 16) * 4096, buf, sizeof(buf)))
			wr->errs++;
		wr->n++;
	}
	return NULL;
}

/* raid10: writes to the regions being resynced, while the resync runs,
 * end up identical on both legs. */
static void test_resync_races_writes(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_RAID10, .force = 1 };
	const char *three[3] = { f->p[0], f->p[1], f->p[2] };
	struct writer wr = { 0 };
	struct raid_set *s;
	pthread_t th;
	uint8_t *a = malloc(REGION), *b = malloc(REGION);
	int i, ret;

	assert_int_equal(raid_create(f->p, 4, &cp), 0);
	{
		struct raid_opts o = { .engine = engine, .allow_degraded = 1 };

		assert_int_equal(raid_open(three, 3, &o, &s), 0);    /* leg 3 missing */
	}
	fill(a, REGION, 5);
	for (i = 1; i < 128; i += 2)   /* odd units: column 1, its regions 0..63 */
		assert_int_equal(raid_write(s, (uint64_t)i * REGION, a, REGION), 0);
	assert_int_equal(raid_bitmap_dirty(s), 64);
	raid_close(s);
	s = open_set(f, 4, 0);
	wr.s = s;
	assert_int_equal(pthread_create(&th, NULL, write_loop, &wr), 0);
	while (wr.n < 5)
		usleep(1000);
	while ((ret = raid_resync_step(s)) == 1)
		;
	assert_int_equal(ret, 0);
	__atomic_store_n(&wr.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	assert_int_equal(wr.errs, 0);
	assert_true(wr.n > 5);
	for (i = 1; i < 128; i += 2) {   /* copy 0 = leg 2, copy 1 = leg 3 */
		assert_int_equal(raid_read_copy(s, 0, (uint64_t)i * REGION, a, REGION), 0);
		assert_int_equal(raid_read_copy(s, 1, (uint64_t)i * REGION, b, REGION), 0);
		assert_memory_equal(a, b, REGION);
	}
	raid_close(s);
	free(a);
	free(b);
}

struct stepper {
	struct raid_set *s;
	int ret, done;
};

static void *step_thread(void *arg)
{
	struct stepper *t = arg;

	t->ret = raid_resync_step(t->s);
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* (R1) deterministically: a region with a write in flight is not copied
 * until that write has finished. */
static void test_resync_waits_for_inflight_write(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct stepper t = { 0 };
	struct raid_set *s;
	uint8_t w[4096];
	pthread_t th;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 1, 1);
	fill(w, sizeof(w), 6);
	assert_int_equal(raid_write(s, 5ull * REGION, w, sizeof(w)), 0);
	raid_close(s);
	s = open_set(f, 2, 0);
	raid_wr_begin(s, 5ull * REGION, 5ull * REGION + 4096);   /* a write "in flight" */
	t.s = s;
	assert_int_equal(pthread_create(&th, NULL, step_thread, &t), 0);
	usleep(100 * 1000);
	assert_int_equal(__atomic_load_n(&t.done, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(s->bm.rs_bytes, 0);
	raid_wr_end(s, 5ull * REGION, 5ull * REGION + 4096);
	pthread_join(th, NULL);
	assert_int_equal(t.ret, 1);
	assert_int_equal(s->bm.rs_bytes, REGION);
	assert_int_equal(raid_resync_step(s), 0);
	raid_close(s);
}

/* A failed flush leaves "every region stale": the leg cannot come back
 * incrementally and is left out (failed) until it is replaced. */
static void test_unknown_staleness_left_out(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_comp_status cs[2];
	struct raid_set *s;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 2, 0);
	assert_int_equal(raid_test_fail(s, 1, 0, 1), 0);
	assert_int_equal(raid_flush(s), 0);                       /* rolls forward on leg 0 */
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_int_equal(raid_bitmap_dirty(s), s->bm.bm_nregions);
	raid_close(s);
	s = open_set(f, 2, 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_int_equal(raid_resync_start(s, 1, 0), -EINVAL);
	assert_int_equal(raid_resync_step(s), -ENOENT);
	raid_close(s);
	/* a stripe has no resync */
	cp.layout = RAID_LAYOUT_STRIPE;
	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	s = open_set(f, 2, 0);
	assert_int_equal(raid_resync_start(s, 1, 1), -EOPNOTSUPP);
	raid_close(s);
}

/* Split brain: each leg ran alone and took writes the other never saw.
 * Assembled together, one is the set and the other is left out — never
 * "resynced" from a bitmap that does not know what it wrote. */
static void test_split_brain_left_out(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_opts o = { .engine = engine, .allow_degraded = 1 };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t w[4096], r[4096];
	int opt;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	fill(w, sizeof(w), 20);
	assert_int_equal(raid_open(f->p, 1, &o, &s), 0);          /* leg 0 alone */
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	raid_close(s);
	assert_int_equal(raid_open(f->p + 1, 1, &o, &s), 0);      /* leg 1 alone */
	fill(w, sizeof(w), 21);
	assert_int_equal(raid_write(s, 8 * REGION, w, sizeof(w)), 0);
	raid_close(s);
	s = open_set(f, 2, 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	opt = cs[0].state == RAID_COMP_OPTIMAL ? 0 : 1;
	assert_int_equal(cs[opt].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[!opt].state, RAID_COMP_MISSING);    /* left out, not rebuilding */
	assert_int_equal(raid_resync_step(s), -ENOENT);
	assert_int_equal(raid_read_copy(s, !opt, 0, r, sizeof(r)), -EIO);
	raid_close(s);
}

/* Rewrite both label copies of img as a 1.0 label (no l_minor, no
 * bitmap geometry), CRC recomputed. */
static void make_v10_label(const char *img)
{
	static struct raid_label_ondisk l __attribute__((aligned(4096)));
	int fd = open(img, O_RDWR), k;

	assert_true(fd >= 0);
	for (k = 0; k < 2; k++) {
		off_t off = k ? (64 << 10) : 0;

		assert_int_equal(pread(fd, &l, sizeof(l), off), (ssize_t)sizeof(l));
		assert_int_equal(le32toh(l.l_minor), 1);
		l.l_minor = l.l_bm_region = l.l_bm_nregions = 0;
		l.l_crc = 0;
		l.l_crc = htole32((uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&l, sizeof(l)));
		assert_int_equal(pwrite(fd, &l, sizeof(l), off), (ssize_t)sizeof(l));
	}
	close(fd);
}

/* A set whose labels were written by 1.0 (no bitmap) still assembles and
 * runs, degraded too; a leg that was away cannot come back incrementally. */
static void test_old_labels_still_read(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t w[8192], r[8192];

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	make_v10_label(f->img[0]);
	make_v10_label(f->img[1]);
	s = open_set(f, 2, 0);
	assert_int_equal(s->bm.bm_enabled, 0);
	fill(w, sizeof(w), 10);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	assert_int_equal(raid_read(s, 0, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	raid_close(s);
	s = open_set(f, 1, 1);                                   /* degraded, no bitmap */
	assert_int_equal(raid_write(s, 65536, w, sizeof(w)), 0);
	assert_int_equal(raid_bitmap_dirty(s), 0);
	raid_close(s);
	s = open_set(f, 2, 0);                                   /* leg 1 left out */
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_MISSING);
	assert_int_equal(raid_resync_start(s, 1, 0), -EOPNOTSUPP);
	assert_int_equal(raid_read(s, 65536, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	raid_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resync_only_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_before_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_resync_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync_races_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync_waits_for_inflight_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_staleness_left_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_labels_still_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_brain_left_out, setup, teardown),
	};
	int fails;

	tu_seed(99);
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	engine = RAID_ENGINE_URING;
	fails = _cmocka_run_group_tests("bitmap (io_uring)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("bitmap (pool)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
