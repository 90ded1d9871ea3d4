/*
 * test_stripe.c — stripe (RAID0) and raid10 sets on image files, with both
 * engines: round trips with the bytes checked on the component files
 * where the address math says, a stripe with a failed or missing leg
 * (-EIO / refused, never wrong data), raid10 losing one leg per pair,
 * create-time validation, stale and mismatched members refused.
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
#include "raid/raid.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
#define NIMG 5
static enum raid_engine_kind engine;

struct fixture {
	char img[NIMG][256];
	const char *p[NIMG];
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	for (i = 0; i < NIMG; i++) {
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

	for (i = 0; i < NIMG; i++)
		tu_rmimage(f->img[i]);
	free(f);
	return 0;
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

/* Bytes at column offset coff of component image img. */
static void file_read(const char *img, uint64_t coff, void *buf, size_t len)
{
	int fd = open(img, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)(coff + (1u << 20))), (ssize_t)len);
	close(fd);
}

/* Model: logical offset l of a set with ncols columns and stripe unit su
 * -> (column, column offset). */
static void where(uint64_t l, int ncols, uint32_t su, int *col, uint64_t *coff)
{
	uint64_t u = l / su;

	*col = (int)(u % (uint64_t)ncols);
	*coff = u / (uint64_t)ncols * su + l % su;
}

static void roundtrip(struct fixture *f, enum raid_layout l, int n, uint32_t su)
{
	struct raid_create_params cp = { .layout = l, .stripe_unit = su, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	size_t max = 1 << 20;
	uint8_t *w = malloc(max + 1), *r = malloc(max + 1), chk[4096];
	int ncols = l == RAID_LAYOUT_RAID10 ? n / 2 : n, i;

	assert_int_equal(raid_create(f->p, n, &cp), 0);
	assert_int_equal(raid_open(f->p, n, &o, &s), 0);
	assert_int_equal(raid_layout_of(s), l);
	assert_int_equal(raid_stripe_unit(s), su);
	assert_int_equal(raid_ncopies(s), l == RAID_LAYOUT_RAID10 ? 2 : 1);
	/* capacity: ncols columns of whole stripe units */
	assert_true(raid_size(s) >= (uint64_t)ncols * (IMG_SIZE - (2u << 20)));
	assert_int_equal(raid_size(s) % ((uint64_t)su * (uint64_t)ncols), 0);
	for (i = 0; i < 30; i++) {
		size_t len = (1 + tu_rand() % (max / RAID_SECTOR)) * RAID_SECTOR;
		uint64_t off = (tu_rand() % ((raid_size(s) - len) / RAID_SECTOR)) * RAID_SECTOR;
		uint64_t probe, coff;
		int col, k;

		if (i == 0)
			off = raid_size(s) - len;   /* the very end */
		fill(w + (i & 1), len, (uint64_t)i + 100);
		assert_int_equal(raid_write(s, off, w + (i & 1), len), 0);
		memset(r, 0, len + 1);
		assert_int_equal(raid_read(s, off, r + (i & 1), len), 0);
		assert_memory_equal(r + (i & 1), w + (i & 1), len);
		/* one sector of it, on the component(s) the model names */
		probe = off + (tu_rand() % (len / RAID_SECTOR)) * RAID_SECTOR;
		where(probe, ncols, su, &col, &coff);
		for (k = 0; k < (l == RAID_LAYOUT_RAID10 ? 2 : 1); k++) {
			file_read(f->img[l == RAID_LAYOUT_RAID10 ? col * 2 + k : col], coff, chk, 4096);
			assert_memory_equal(chk, w + (i & 1) + (probe - off), 4096);
		}
	}
	assert_int_equal(raid_flush(s), 0);
	assert_int_equal(raid_read(s, raid_size(s), r, RAID_SECTOR), -ERANGE);
	raid_close(s);
	/* persists across reassembly, in any device order */
	{
		const char *rev[NIMG];

		for (i = 0; i < n; i++)
			rev[i] = f->p[n - 1 - i];
		fill(w, 65536, 7);
		assert_int_equal(raid_open(rev, n, &o, &s), 0);
		assert_int_equal(raid_write(s, 3 * 65536, w, 65536), 0);
		raid_close(s);
		assert_int_equal(raid_open(f->p, n, &o, &s), 0);
		assert_int_equal(raid_read(s, 3 * 65536, r, 65536), 0);
		assert_memory_equal(r, w, 65536);
		raid_close(s);
	}
	free(w);
	free(r);
}

static void test_stripe_roundtrip(void **st)
{
	struct fixture *f = *st;

	roundtrip(f, RAID_LAYOUT_STRIPE, 2, 64 << 10);
	roundtrip(f, RAID_LAYOUT_STRIPE, 3, 4096);
	roundtrip(f, RAID_LAYOUT_STRIPE, 2, 1 << 20);
}

static void test_raid10_roundtrip(void **st)
{
	struct fixture *f = *st;

	roundtrip(f, RAID_LAYOUT_RAID10, 4, 64 << 10);
	roundtrip(f, RAID_LAYOUT_RAID10, 4, 8192);
}

/* A stripe leg that fails: I/O touching it is -EIO and leaves the buffer
 * alone; I/O on the other legs works.  A missing leg refuses assembly,
 * with or without -o degraded. */
static void test_stripe_failed_leg(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_STRIPE, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	uint8_t w[3 * 65536], r[3 * 65536];

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	fill(w, sizeof(w), 3);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);   /* units 0,1,2: legs 0,1,0 */
	assert_int_equal(raid_test_fail(s, 1, 1, 1), 0);
	memset(r, 0xee, sizeof(r));
	assert_int_equal(raid_read(s, 0, r, sizeof(r)), -EIO);
	assert_int_equal(raid_read(s, 65536, r, 4096), -EIO);
	assert_int_equal(raid_write(s, 65536, w, 4096), -EIO);
	assert_int_equal(raid_flush(s), -EIO);
	/* leg 0 alone still answers, with the right data */
	assert_int_equal(raid_read(s, 0, r, 65536), 0);
	assert_memory_equal(r, w, 65536);
	assert_int_equal(raid_read(s, 2 * 65536, r, 65536), 0);
	assert_memory_equal(r, w + 2 * 65536, 65536);
	assert_int_equal(raid_write(s, 2 * 65536, w, 4096), 0);
	/* the leg is not marked failed (a stripe has nothing to fall back on):
	 * when it works again, so does the set */
	assert_int_equal(raid_test_fail(s, 1, 0, 0), 0);
	assert_int_equal(raid_read(s, 65536, r, 65536), 0);
	assert_memory_equal(r, w + 65536, 65536);
	raid_close(s);
	/* a missing leg: refused, also with allow_degraded */
	assert_int_equal(raid_open(f->p, 1, &o, &s), -ENODEV);
	o.allow_degraded = 1;
	assert_int_equal(raid_open(f->p, 1, &o, &s), -ENODEV);
	assert_int_equal(raid_open(f->p + 1, 1, &o, &s), -ENODEV);
}

/* raid10 of 4: one leg of each pair starts failing writes; the set keeps
 * working on the others, marks them failed, and reads are right. */
static void test_raid10_one_leg_per_pair(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_RAID10, .force = 1 };
	struct raid_opts o = opts();
	struct raid_comp_status cs[4];
	struct raid_set *s;
	size_t len = 512 << 10;
	uint8_t *w = malloc(len), *r = malloc(len);
	int i;

	assert_int_equal(raid_create(f->p, 4, &cp), 0);
	assert_int_equal(raid_open(f->p, 4, &o, &s), 0);
	fill(w, len, 11);
	assert_int_equal(raid_write(s, 0, w, len), 0);
	assert_int_equal(raid_test_fail(s, 1, 0, 1), 0);   /* pair 0, leg 1 */
	assert_int_equal(raid_test_fail(s, 2, 0, 1), 0);   /* pair 1, leg 0 */
	fill(w, len, 12);
	assert_int_equal(raid_write(s, 0, w, len), 0);
	assert_int_equal(raid_flush(s), 0);
	assert_int_equal(raid_status(s, cs, 4), 4);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_int_equal(cs[2].state, RAID_COMP_FAILED);
	assert_int_equal(cs[3].state, RAID_COMP_OPTIMAL);
	for (i = 0; i < 6; i++) {
		memset(r, 0, len);
		assert_int_equal(raid_read(s, 0, r, len), 0);
		assert_memory_equal(r, w, len);
	}
	/* the failed legs were not read and hold the old data there */
	assert_int_equal(raid_read_copy(s, 1, 0, r, 4096), -EIO);
	/* still writable: every block has one copy left */
	fill(w, len, 13);
	assert_int_equal(raid_write(s, len, w, len), 0);
	/* losing the last leg of pair 0: the failure reaches the caller */
	assert_int_equal(raid_test_fail(s, 0, 0, 1), 0);
	assert_int_equal(raid_write(s, 0, w, 65536), -EIO);       /* unit 0: pair 0 */
	assert_int_equal(raid_write(s, 65536, w, 65536), 0);      /* unit 1: pair 1 */
	assert_int_equal(raid_status(s, cs, 4), 4);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);         /* never the last copy */
	raid_close(s);
	/* reassembly: legs 1 and 2 come back REBUILDING (the bitmap covers
	 * them), reads are right */
	assert_int_equal(raid_open(f->p, 4, &o, &s), 0);
	assert_int_equal(raid_status(s, cs, 4), 4);
	assert_int_equal(cs[1].state, RAID_COMP_REBUILDING);
	assert_int_equal(cs[2].state, RAID_COMP_REBUILDING);
	assert_int_equal(raid_read(s, len, r, len), 0);
	assert_memory_equal(r, w, len);
	raid_close(s);
	/* both legs of a pair missing: refused even degraded */
	o.allow_degraded = 1;
	{
		const char *p2[2] = { f->p[2], f->p[3] };

		assert_int_equal(raid_open(p2, 2, &o, &s), -ENODEV);
	}
	free(w);
	free(r);
}

/* One request over thousands of stripe units: a DAG of 4096 write nodes
 * (raid10, 4 KiB units, 8 MiB), far more than the engine's queue depth. */
static void test_huge_request(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_RAID10, .stripe_unit = 4096, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	size_t len = 8 << 20;
	uint8_t *w = malloc(len), *r = malloc(len);

	assert_int_equal(raid_create(f->p, 4, &cp), 0);
	assert_int_equal(raid_open(f->p, 4, &o, &s), 0);
	fill(w, len, 77);
	assert_int_equal(raid_write(s, 4096, w, len), 0);
	memset(r, 0, len);
	assert_int_equal(raid_read(s, 4096, r, len), 0);
	assert_memory_equal(r, w, len);
	assert_int_equal(raid_read_copy(s, 1, 4096, r, len), 0);
	assert_memory_equal(r, w, len);
	raid_close(s);
	free(w);
	free(r);
}

static void test_create_validation(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_STRIPE, .force = 1 };

	assert_int_equal(raid_create(f->p, 1, &cp), -EINVAL);        /* stripe of 1 */
	cp.layout = RAID_LAYOUT_RAID10;
	assert_int_equal(raid_create(f->p, 2, &cp), -EINVAL);
	assert_int_equal(raid_create(f->p, 3, &cp), -EINVAL);
	assert_int_equal(raid_create(f->p, 5, &cp), -EINVAL);
	cp.layout = RAID_LAYOUT_STRIPE;
	cp.stripe_unit = 6000;                                       /* not a power of two */
	assert_int_equal(raid_create(f->p, 2, &cp), -EINVAL);
	cp.stripe_unit = 2048;                                       /* below a sector */
	assert_int_equal(raid_create(f->p, 2, &cp), -EINVAL);
	cp.stripe_unit = 32u << 20;                                  /* above 16 MiB */
	assert_int_equal(raid_create(f->p, 2, &cp), -EINVAL);
	cp.stripe_unit = 16u << 20;
	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	cp.layout = (enum raid_layout)7;
	assert_int_equal(raid_create(f->p, 2, &cp), -EINVAL);
	/* the names parse */
	{
		enum raid_layout l;

		assert_int_equal(raid_layout_parse("stripe", &l), 0);
		assert_int_equal(l, RAID_LAYOUT_STRIPE);
		assert_int_equal(raid_layout_parse("raid10", &l), 0);
		assert_int_equal(l, RAID_LAYOUT_RAID10);
		assert_int_equal(raid_layout_parse("raid5", &l), -EINVAL);
	}
}

/* Members of two different sets, a member of another geometry of the same
 * set, and a stale member: all refused with -EINVAL. */
static void test_mismatched_and_stale(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_STRIPE, .force = 1 };
	struct raid_opts o = opts();
	struct raid_set *s;
	const char *mix[2];
	uint8_t w[4096] = { 1 };

	assert_int_equal(raid_create(f->p, 2, &cp), 0);            /* set A: img0, img1 */
	assert_int_equal(raid_create(f->p + 2, 2, &cp), 0);        /* set B: img2, img3 */
	mix[0] = f->p[0];
	mix[1] = f->p[3];
	assert_int_equal(raid_open(mix, 2, &o, &s), -EINVAL);
	/* stale: img0 keeps an old label while img1 moved on.  Save img0's
	 * label area, bump the generation (a degraded raid10 open writes new
	 * labels), put the old one back. */
	cp.layout = RAID_LAYOUT_RAID10;
	assert_int_equal(raid_create(f->p, 4, &cp), 0);
	{
		char save[128 << 10];
		int fd = open(f->p[0], O_RDWR);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, save, sizeof(save), 0), (ssize_t)sizeof(save));
		assert_int_equal(raid_open(f->p, 4, &o, &s), 0);
		raid_test_fail(s, 1, 0, 1);
		assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);   /* fails leg 1: gen++ */
		raid_close(s);
		assert_int_equal(pwrite(fd, save, sizeof(save), 0), (ssize_t)sizeof(save));
		close(fd);
	}
	/* img0 claims optimal at the old generation: stale, refused */
	assert_int_equal(raid_open(f->p, 4, &o, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stripe_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raid10_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stripe_failed_leg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raid10_one_leg_per_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatched_and_stale, setup, teardown),
	};
	int fails;

	tu_seed(4321);
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	engine = RAID_ENGINE_URING;
	fails = _cmocka_run_group_tests("stripe (io_uring)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("stripe (pool)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
