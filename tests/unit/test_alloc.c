/*
 * test_alloc.c — the allocator's search for a free run in a big-block
 * (hfs_alloc_find_run, fs/alloc.c), against a bit-by-bit reference on
 * random maps of every density, with and without pending and held blocks,
 * for every run length and alignment the zones use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

#define NB HFS_BLKS_PER_BB

static int bit(const uint8_t *m, unsigned i) { return m && ((m[i / 8] >> (i % 8)) & 1); }

static int reference(const uint8_t *map, const uint8_t *pend, const uint8_t *hold,
		     unsigned k, unsigned al)
{
	unsigned j, n;

	for (j = 0; j + k <= NB; j += al) {
		for (n = 0; n < k; n++)
			if (bit(map, j + n) || bit(pend, j + n) || bit(hold, j + n))
				break;
		if (n == k)
			return (int)j;
	}
	return -1;
}

static void fill(uint8_t *m, unsigned per_mille, unsigned *seed)
{
	unsigned i;

	memset(m, 0, NB / 8);
	for (i = 0; i < NB; i++)
		if ((unsigned)rand_r(seed) % 1000 < per_mille)
			m[i / 8] |= (uint8_t)(1u << (i % 8));
}

static void test_random_maps(void **state)
{
	static const unsigned als[] = { 1, 4, 16 }, dens[] = { 0, 10, 200, 600, 950, 990, 1000 };
	uint8_t map[NB / 8], pend[NB / 8], hold[NB / 8];
	unsigned seed = 12345, round, d, a, k, checked = 0;

	(void)state;
	for (round = 0; round < 40; round++)
		for (d = 0; d < sizeof(dens) / sizeof(dens[0]); d++) {
			fill(map, dens[d], &seed);
			fill(pend, dens[d] / 4, &seed);
			fill(hold, dens[d] / 8, &seed);
			for (a = 0; a < sizeof(als) / sizeof(als[0]); a++)
				for (k = 1; k <= 16; k++) {
					assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, k, als[a]),
							 reference(map, NULL, NULL, k, als[a]));
					assert_int_equal(hfs_alloc_find_run(map, pend, hold, k, als[a]),
							 reference(map, pend, hold, k, als[a]));
					checked += 2;
				}
		}
	assert_true(checked > 10000);
}

static void test_edges(void **state)
{
	uint8_t map[NB / 8];

	(void)state;
	/* all busy but the last 16 blocks: found at the very end */
	memset(map, 0xff, sizeof(map));
	memset(map + NB / 8 - 2, 0, 2);
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 16, 16), NB - 16);
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 17, 1), -1);
	/* a run across a word boundary at alignment 1, not at 16 */
	memset(map, 0xff, sizeof(map));
	map[7] = 0x0f;   /* blocks 60..63 free (a set bit is busy) */
	map[8] = 0xf0;   /* blocks 64..67 free */
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 8, 1), 60);
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 4, 4), 60);
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 8, 16), -1);
	/* all free; all busy; alignments that do not divide 64 are refused */
	memset(map, 0, sizeof(map));
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 16, 16), 0);
	memset(map, 0xff, sizeof(map));
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 1, 1), -1);
	memset(map, 0, sizeof(map));
	assert_int_equal(hfs_alloc_find_run(map, NULL, NULL, 3, 3), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_maps),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
