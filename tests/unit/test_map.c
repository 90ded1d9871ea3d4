/*
 * test_map.c — layout address math (raid/map.c) against a byte-by-byte
 * model, exhaustively over small geometries: every start and length (in
 * sectors) up to a few stripes, on every layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "raid/raid_int.h"
#include "tests/unit/helpers.h"

/* The model: where does logical byte l live?  (column, column offset) */
static void model(const struct raid_geom *g, uint64_t l, int *col, uint64_t *coff)
{
	uint64_t unit, row;

	if (g->g_ncols == 1) {
		*col = 0;
		*coff = l;
		return;
	}
	unit = l / g->g_su;
	row = unit / (uint64_t)g->g_ncols;
	*col = (int)(unit % (uint64_t)g->g_ncols);
	*coff = row * g->g_su + l % g->g_su;
}

static void check_request(const struct raid_geom *g, uint64_t off, size_t len)
{
	struct raid_seg seg[64];
	int n = raid_map(g, off, len, seg, 64), i;
	size_t covered = 0;
	uint64_t lo, hi;

	assert_true(n > 0);
	assert_int_equal(n, raid_map_count(g, off, len));
	raid_map_span(g, off, len, &lo, &hi);
	for (i = 0; i < n; i++) {
		uint64_t b;

		/* (1) logical order, exact cover */
		assert_int_equal(seg[i].s_boff, covered);
		assert_true(seg[i].s_len > 0);
		assert_int_equal(seg[i].s_len % RAID_SECTOR, 0);
		if (g->g_ncols > 1)   /* never crosses a stripe unit */
			assert_true(seg[i].s_coff / g->g_su ==
				    (seg[i].s_coff + seg[i].s_len - 1) / g->g_su);
		/* every sector of the segment where the model says */
		for (b = 0; b < seg[i].s_len; b += RAID_SECTOR) {
			int col;
			uint64_t coff;

			model(g, off + covered + b, &col, &coff);
			assert_int_equal(seg[i].s_col, col);
			assert_int_equal(seg[i].s_coff + b, coff);
		}
		assert_true(seg[i].s_coff >= lo && seg[i].s_coff + seg[i].s_len <= hi);
		assert_true(seg[i].s_coff + seg[i].s_len <= g->g_col_size);
		covered += seg[i].s_len;
	}
	assert_int_equal(covered, len);
}

static void sweep(enum raid_layout l, int ncomp, uint32_t su)
{
	struct raid_geom g;
	uint64_t off, span, unit = su ? su : 65536;
	size_t len;

	/* a data area that is not a whole number of stripe units */
	assert_int_equal(raid_geom_init(&g, l, ncomp, su, 64ull * unit + 8192), 0);
	/* whole stripe units per column */
	if (g.g_ncols > 1)
		assert_int_equal(g.g_col_size % su, 0);
	assert_int_equal(raid_geom_size(&g), g.g_col_size * (uint64_t)g.g_ncols);
	span = 3ull * unit * (uint64_t)g.g_ncols + unit;   /* a few whole stripes */
	for (off = 0; off < span; off += RAID_SECTOR)
		for (len = RAID_SECTOR; len <= span - off; len += RAID_SECTOR)
			check_request(&g, off, len);
	/* the end of the space, and one sector past it */
	check_request(&g, raid_geom_size(&g) - RAID_SECTOR, RAID_SECTOR);
	{
		struct raid_seg seg[4];

		assert_int_equal(raid_map(&g, raid_geom_size(&g) - RAID_SECTOR, 2 * RAID_SECTOR, seg, 4),
				 -ERANGE);
	}
}

/* (2): no two logical sectors share a place, over the whole space. */
static void injective(enum raid_layout l, int ncomp, uint32_t su)
{
	struct raid_geom g;
	uint8_t *seen;
	uint64_t l0, nsec;

	assert_int_equal(raid_geom_init(&g, l, ncomp, su, 16ull * su), 0);
	nsec = g.g_col_size / RAID_SECTOR;
	seen = calloc((size_t)(nsec * (uint64_t)g.g_ncols), 1);
	assert_non_null(seen);
	for (l0 = 0; l0 < raid_geom_size(&g); l0 += RAID_SECTOR) {
		struct raid_seg seg;

		assert_int_equal(raid_map(&g, l0, RAID_SECTOR, &seg, 1), 1);
		assert_int_equal(seen[(uint64_t)seg.s_col * nsec + seg.s_coff / RAID_SECTOR], 0);
		seen[(uint64_t)seg.s_col * nsec + seg.s_coff / RAID_SECTOR] = 1;
	}
	free(seen);
}

static void test_single_mirror(void **st)
{
	sweep(RAID_LAYOUT_SINGLE, 1, 0);
	sweep(RAID_LAYOUT_MIRROR, 2, 0);
	sweep(RAID_LAYOUT_MIRROR, 3, 0);
}

static void test_stripe(void **st)
{
	sweep(RAID_LAYOUT_STRIPE, 2, 4096);
	sweep(RAID_LAYOUT_STRIPE, 2, 16384);
	sweep(RAID_LAYOUT_STRIPE, 3, 8192);
	sweep(RAID_LAYOUT_STRIPE, 4, 4096);
	injective(RAID_LAYOUT_STRIPE, 3, 8192);
}

static void test_raid10(void **st)
{
	struct raid_geom g;

	sweep(RAID_LAYOUT_RAID10, 4, 4096);
	sweep(RAID_LAYOUT_RAID10, 4, 16384);
	sweep(RAID_LAYOUT_RAID10, 6, 8192);
	injective(RAID_LAYOUT_RAID10, 6, 4096);
	/* column c = components 2c, 2c+1 */
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_RAID10, 6, 65536, 1 << 24), 0);
	assert_int_equal(g.g_ncols, 3);
	assert_int_equal(g.g_ncopies, 2);
	assert_int_equal(raid_geom_comp(&g, 2, 1), 5);
	assert_int_equal(raid_geom_comp(&g, 1, 0), 2);
}

static void test_bad_geometry(void **st)
{
	struct raid_geom g;

	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_SINGLE, 2, 0, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_MIRROR, 1, 0, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_STRIPE, 1, 65536, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_RAID10, 2, 65536, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_RAID10, 5, 65536, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_STRIPE, 2, 6000, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_STRIPE, 2, 2048, 1 << 20), -EINVAL);
	assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_STRIPE, 2, 32u << 20, 1 << 30), -EINVAL);
	assert_int_equal(raid_geom_init(&g, (enum raid_layout)9, 2, 65536, 1 << 20), -EINVAL);
	/* too many segments for the caller's array */
	{
		struct raid_seg seg[2];

		assert_int_equal(raid_geom_init(&g, RAID_LAYOUT_STRIPE, 2, 4096, 1 << 20), 0);
		assert_int_equal(raid_map(&g, 0, 3 * 4096, seg, 2), -E2BIG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_mirror),
		cmocka_unit_test(test_stripe),
		cmocka_unit_test(test_raid10),
		cmocka_unit_test(test_bad_geometry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
