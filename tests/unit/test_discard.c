/*
 * test_discard.c — discard requests (raid/discard.c, FITRIM's raid half):
 * the per-column range math against raid_map's segments; on image files
 * with both engines: a mirror discards the range on every leg (the
 * images' allocated blocks shrink by exactly the range, which then reads
 * as zeros on each copy while the bytes around it stay), a stripe
 * discards each column's part, and the error paths (-EINVAL, -ERANGE,
 * -EROFS, a leg answering -EOPNOTSUPP or -EIO: the request fails with it
 * and no leg is marked failed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "raid/raid_int.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
static enum raid_engine_kind engine;

static int setup(void **st) { return tu_legs_setup(st, IMG_SIZE, "discard"); }
static int teardown(void **st) { return tu_legs_teardown(st); }

static uint64_t blocks_of(const char *img)
{
	struct stat st;

	assert_int_equal(stat(img, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void fill(uint8_t *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7 + (i >> 12) + 1) | 1;   /* never 0 */
}

/* ---- raid_map_col_range against raid_map --------------------------------- */

static void test_col_range(void **st)
{
	static const int ncols[] = { 1, 2, 3, 4, 5 };
	static const uint32_t sus[] = { 4096, 65536, 1u << 20 };
	struct raid_seg *seg = malloc(4096 * sizeof(*seg));

	(void)st;
	for (size_t a = 0; a < sizeof(ncols) / sizeof(ncols[0]); a++)
		for (size_t b = 0; b < sizeof(sus) / sizeof(sus[0]); b++) {
			struct raid_geom g;
			int iter;

			assert_int_equal(raid_geom_init(&g, ncols[a] == 1 ? RAID_LAYOUT_SINGLE :
							RAID_LAYOUT_STRIPE, ncols[a], sus[b],
							64ull << 20), 0);
			for (iter = 0; iter < 400; iter++) {
				uint64_t size = raid_geom_size(&g), maxlen = 600ull * sus[b] / 4096;
				uint64_t len = (1 + tu_rand() % maxlen) * 4096, off;
				uint64_t lo[8], hi[8], sum[8] = { 0 };
				int n, i, c, seen[8] = { 0 };

				if (len > size)
					len = size;
				off = tu_rand() % ((size - len) / 4096 + 1) * 4096;
				n = raid_map(&g, off, len, seg, 4096);
				assert_true(n > 0);
				for (i = 0; i < n; i++) {
					c = seg[i].s_col;
					if (!seen[c] || seg[i].s_coff < lo[c])
						lo[c] = seg[i].s_coff;
					if (!seen[c] || seg[i].s_coff + seg[i].s_len > hi[c])
						hi[c] = seg[i].s_coff + seg[i].s_len;
					seen[c] = 1;
					sum[c] += seg[i].s_len;
				}
				for (c = 0; c < ncols[a]; c++) {
					uint64_t l, h;
					int t = raid_map_col_range(&g, off, len, c, &l, &h);

					assert_int_equal(t, seen[c]);
					if (!t)
						continue;
					assert_int_equal(l, lo[c]);
					assert_int_equal(h, hi[c]);
					assert_int_equal(h - l, sum[c]);   /* contiguous: no gap */
				}
			}
		}
	free(seg);
}

/* ---- mirror ---------------------------------------------------------------- */

static void test_mirror_discard(void **st)
{
	struct tu_legs *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_opts o = { .engine = engine };
	struct raid_set *s;
	const size_t len = 8u << 20;
	uint8_t *w = malloc(len), *r = malloc(len);
	uint64_t before[2];
	struct raid_comp_status cs[2];
	int k;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	fill(w, len, 3);
	assert_int_equal(raid_write(s, 16u << 20, w, len), 0);
	assert_int_equal(raid_flush(s), 0);
	for (k = 0; k < 2; k++)
		before[k] = blocks_of(f->img[k]);
	/* [17 MiB, 21 MiB): the middle of what was written */
	assert_int_equal(raid_discard(s, 17u << 20, 4u << 20), 0);
	for (k = 0; k < 2; k++) {
		assert_int_equal(before[k] - blocks_of(f->img[k]), 4u << 20);
		memset(r, 0xee, len);
		assert_int_equal(raid_read_copy(s, k, 16u << 20, r, len), 0);
		assert_memory_equal(r, w, 1u << 20);
		for (size_t i = 1u << 20; i < (5u << 20); i++)
			if (r[i]) {
				fail_msg("copy %d: byte %zu of the discarded range is %#x", k, i, r[i]);
				break;
			}
		assert_memory_equal(r + (5u << 20), w + (5u << 20), len - (5u << 20));
	}
	/* a discard of a hole is fine; the whole set at once too */
	assert_int_equal(raid_discard(s, 0, raid_size(s)), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	for (k = 0; k < 2; k++) {
		assert_int_equal(cs[k].state, RAID_COMP_OPTIMAL);
		assert_int_equal(cs[k].write_errs, 0);
	}
	raid_close(s);
	free(w);
	free(r);
}

/* ---- stripe: each column's part ---------------------------------------------- */

static void test_stripe_discard(void **st)
{
	struct tu_legs *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_STRIPE, .stripe_unit = 65536,
					  .force = 1 };
	struct raid_opts o = { .engine = engine };
	struct raid_set *s;
	const size_t len = 4u << 20;
	const uint64_t doff = 65536 + 8192, dlen = 1u << 20;   /* starts inside a unit */
	uint8_t *w = malloc(len), *r = malloc(len);
	uint64_t before[2], drop = 0;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	fill(w, len, 9);
	assert_int_equal(raid_write(s, 0, w, len), 0);
	assert_int_equal(raid_flush(s), 0);
	before[0] = blocks_of(f->img[0]);
	before[1] = blocks_of(f->img[1]);
	assert_int_equal(raid_discard(s, doff, dlen), 0);
	memset(r, 0xee, len);
	assert_int_equal(raid_read(s, 0, r, len), 0);
	assert_memory_equal(r, w, doff);
	for (size_t i = doff; i < doff + dlen; i++)
		if (r[i]) {
			fail_msg("byte %zu of the discarded range is %#x", i, r[i]);
			break;
		}
	assert_memory_equal(r + doff + dlen, w + doff + dlen, len - doff - dlen);
	/* both columns gave space back, together exactly the range */
	for (int k = 0; k < 2; k++) {
		assert_true(blocks_of(f->img[k]) < before[k]);
		drop += before[k] - blocks_of(f->img[k]);
	}
	assert_int_equal(drop, dlen);
	raid_close(s);
	free(w);
	free(r);
}

/* ---- errors -------------------------------------------------------------------- */

static void test_discard_errors(void **st)
{
	struct tu_legs *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_opts o = { .engine = engine, .fault = f->rules };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t *w = malloc(1u << 20);
	uint64_t before0;
	int k;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	tu_legs_rules(f, "");
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_discard(s, 512, 4096), -EINVAL);
	assert_int_equal(raid_discard(s, 0, 100), -EINVAL);
	assert_int_equal(raid_discard(s, 0, 0), -EINVAL);
	assert_int_equal(raid_discard(s, raid_size(s) - 4096, 8192), -ERANGE);
	/* leg 1 cannot discard: the request says so, leg 0 still did its part */
	fill(w, 1u << 20, 5);
	assert_int_equal(raid_write(s, 0, w, 1u << 20), 0);
	assert_int_equal(raid_flush(s), 0);
	before0 = blocks_of(f->img[0]);
	tu_legs_rules(f, "comp=1 op=discard action=fail err=EOPNOTSUPP\n");
	assert_int_equal(raid_fault_reload(s), 0);
	assert_int_equal(raid_discard(s, 0, 1u << 20), -EOPNOTSUPP);
	assert_int_equal(before0 - blocks_of(f->img[0]), 1u << 20);
	/* a leg failing a discard with EIO loses nothing: not marked failed */
	tu_legs_rules(f, "comp=0 op=discard action=fail\n");
	assert_int_equal(raid_fault_reload(s), 0);
	assert_int_equal(raid_discard(s, 0, 1u << 20), -EIO);
	assert_int_equal(raid_status(s, cs, 2), 2);
	for (k = 0; k < 2; k++)
		assert_int_equal(cs[k].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].write_errs, 0);   /* EOPNOTSUPP is no device error */
	assert_int_equal(cs[0].write_errs, 1);
	/* writes still go to both legs */
	tu_legs_rules(f, "");
	assert_int_equal(raid_fault_reload(s), 0);
	assert_int_equal(raid_write(s, 0, w, 1u << 20), 0);
	assert_string_equal(raid_set_state(s), "optimal");
	raid_close(s);
	/* a read-only set */
	o.readonly = 1;
	o.fault = NULL;
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_discard(s, 0, 4096), -EROFS);
	raid_close(s);
	free(w);
}

int main(void)
{
	const struct CMUnitTest math[] = {
		cmocka_unit_test(test_col_range),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mirror_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stripe_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_errors, setup, teardown),
	};
	int fails;

	tu_seed(2121);
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	fails = _cmocka_run_group_tests("discard map", math, 1, NULL, NULL);
	engine = RAID_ENGINE_URING;
	fails += _cmocka_run_group_tests("discard (io_uring)", tests,
					 sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("discard (pool)", tests,
					 sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
