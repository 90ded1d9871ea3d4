/*
 * test_heal.c — self-healing reads (raid/heal.c) on image files, both
 * engines: bytes flipped underneath one leg are detected by the caller's
 * CRC, the good copy is returned and exactly the bad copy is rewritten
 * (counted through the write-log device: no write reaches a good leg);
 * nothing is rewritten when no copy verifies; an unreadable copy is
 * rewritten too; raid10 heals the one bad leg of one pair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "raid/raid.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
#define NIMG 4
#define BLK 16384
static enum raid_engine_kind engine;

struct fixture {
	char img[NIMG][256];
	const char *p[NIMG];
	char log[300];
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
	snprintf(f->log, sizeof(f->log), "%s.wlog", f->img[0]);
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	int i;

	for (i = 0; i < NIMG; i++)
		tu_rmimage(f->img[i]);
	unlink(f->log);
	free(f);
	return 0;
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 12)) & 0xff);
}

static uint32_t crc(const void *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

static int verify_crc(void *priv, const void *buf, size_t len)
{
	return crc(buf, len) == *(uint32_t *)priv ? 0 : -EBADMSG;
}

/* Flip bytes of component image img at column offset coff. */
static void corrupt(const char *img, uint64_t coff)
{
	uint8_t b[64];
	int fd = open(img, O_RDWR), i;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, sizeof(b), (off_t)(coff + (1u << 20) + 100)), (ssize_t)sizeof(b));
	for (i = 0; i < (int)sizeof(b); i++)
		b[i] ^= 0x5a;
	assert_int_equal(pwrite(fd, b, sizeof(b), (off_t)(coff + (1u << 20) + 100)), (ssize_t)sizeof(b));
	close(fd);
}

static int file_has(const char *img, uint64_t coff, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);
	int fd = open(img, O_RDONLY), ok;

	ok = pread(fd, got, len, (off_t)(coff + (1u << 20))) == (ssize_t)len && !memcmp(got, want, len);
	close(fd);
	free(got);
	return ok;
}

/* Writes the write log recorded for component comp (replayed onto a
 * scratch sparse file). */
static long writes_to(struct fixture *f, int comp)
{
	char scratch[300];
	long n;

	snprintf(scratch, sizeof(scratch), "%s.scratch", f->img[0]);
	assert_int_equal(truncate(scratch, 0) == 0 || errno == ENOENT, 1);
	{
		int fd = open(scratch, O_CREAT | O_RDWR | O_TRUNC, 0644);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)IMG_SIZE), 0);
		close(fd);
	}
	n = raid_wlog_replay(f->log, comp, scratch, LONG_MAX, 0);
	unlink(scratch);
	assert_true(n >= 0);
	return n;
}

static struct raid_set *open_logged(struct fixture *f, int n)
{
	struct raid_opts o = { .engine = engine, .write_log = f->log };
	struct raid_set *s;

	assert_int_equal(raid_open(f->p, n, &o, &s), 0);
	return s;
}

/* Mirror of 2: one leg corrupted under a block; every way of reading it
 * (any copy first, or every copy) heals exactly that leg. */
static void test_mirror_heals_bad_copy(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t w[BLK], r[BLK];
	uint32_t want;
	int round, healed;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	fill(w, BLK, 1);
	want = crc(w, BLK);
	{
		struct raid_opts o = { .engine = engine };

		assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
		assert_int_equal(raid_write(s, 10 * BLK, w, BLK), 0);
		raid_close(s);
	}
	for (round = 0; round < 4; round++) {
		int bad = round % 2;   /* leg 0 or 1 */

		corrupt(f->img[bad], 10 * BLK);
		assert_false(file_has(f->img[bad], 10 * BLK, w, BLK));
		s = open_logged(f, 2);
		memset(r, 0, BLK);
		assert_int_equal(raid_read_verified(s, 10 * BLK, r, BLK, verify_crc, &want,
						    round >= 2 ? RAID_RV_ALL : 0, &healed), 0);
		assert_memory_equal(r, w, BLK);
		/* the first read may have hit the good leg: then nothing was
		 * seen bad and nothing rewritten; read until it is */
		while (healed == 0 && round < 2) {
			assert_int_equal(raid_read_verified(s, 10 * BLK, r, BLK, verify_crc, &want, 0,
							    &healed), 0);
			assert_memory_equal(r, w, BLK);
		}
		assert_int_equal(healed, 1);
		assert_int_equal(raid_status(s, cs, 2), 2);
		assert_int_equal(cs[bad].crc_errs, 1);
		assert_int_equal(cs[bad].repaired, 1);
		assert_int_equal(cs[!bad].crc_errs, 0);
		assert_int_equal(cs[!bad].repaired, 0);
		assert_int_equal(cs[bad].state, RAID_COMP_OPTIMAL);
		raid_close(s);
		/* exactly the bad copy was written, and now holds the data */
		assert_int_equal(writes_to(f, bad), 1);
		assert_int_equal(writes_to(f, !bad), 0);
		assert_true(file_has(f->img[bad], 10 * BLK, w, BLK));
		assert_true(file_has(f->img[!bad], 10 * BLK, w, BLK));
	}
	/* a clean block: nothing rewritten, even when every copy is checked */
	s = open_logged(f, 2);
	assert_int_equal(raid_read_verified(s, 10 * BLK, r, BLK, verify_crc, &want, RAID_RV_ALL,
					    &healed), 0);
	assert_int_equal(healed, 0);
	raid_close(s);
	assert_int_equal(writes_to(f, 0) + writes_to(f, 1), 0);
}

/* Both copies bad: the error, and no write anywhere. */
static void test_no_copy_verifies(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_opts o = { .engine = engine };
	struct raid_comp_status cs[2];
	struct raid_set *s;
	uint8_t w[BLK], r[BLK];
	uint32_t want;
	int healed = 7;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	fill(w, BLK, 2);
	want = crc(w, BLK);
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_write(s, 0, w, BLK), 0);
	raid_close(s);
	corrupt(f->img[0], 0);
	corrupt(f->img[1], 0);
	s = open_logged(f, 2);
	assert_int_equal(raid_read_verified(s, 0, r, BLK, verify_crc, &want, 0, &healed), -EBADMSG);
	assert_int_equal(healed, 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[0].crc_errs + cs[1].crc_errs, 2);
	assert_int_equal(cs[0].repaired + cs[1].repaired, 0);
	raid_close(s);
	assert_int_equal(writes_to(f, 0) + writes_to(f, 1), 0);
	/* bad arguments */
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_read_verified(s, 0, r, BLK, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(raid_read_verified(s, 0, r, BLK, verify_crc, &want, 0x80, NULL), -EINVAL);
	assert_int_equal(raid_read_verified(s, raid_size(s), r, BLK, verify_crc, &want, 0, NULL),
			 -ERANGE);
	assert_int_equal(raid_write_copy(s, 2, 0, w, BLK), -EINVAL);
	raid_close(s);
}

/* A copy that cannot be read at all is rewritten from the good one. */
static void test_unreadable_copy_rewritten(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_set *s;
	uint8_t w[BLK], r[BLK];
	uint32_t want;
	int healed;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	fill(w, BLK, 3);
	want = crc(w, BLK);
	s = open_logged(f, 2);
	assert_int_equal(raid_write(s, BLK, w, BLK), 0);
	assert_int_equal(raid_test_fail(s, 0, 1, 0), 0);
	assert_int_equal(raid_read_verified(s, BLK, r, BLK, verify_crc, &want, RAID_RV_ALL, &healed), 0);
	assert_memory_equal(r, w, BLK);
	assert_int_equal(healed, 1);
	raid_close(s);
	assert_int_equal(writes_to(f, 0), 2);   /* the data write, the rewrite */
	assert_int_equal(writes_to(f, 1), 1);   /* the data write only */
}

/* raid10 of 4 (stripe unit 16 KiB): a block on pair 1, leg 3 corrupted:
 * only component 3 is rewritten; a single set only reports. */
static void test_raid10_and_single(void **st)
{
	struct fixture *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_RAID10, .stripe_unit = BLK, .force = 1 };
	struct raid_comp_status cs[4];
	struct raid_set *s;
	uint8_t w[BLK], r[BLK];
	uint32_t want;
	int healed, i;

	assert_int_equal(raid_create(f->p, 4, &cp), 0);
	fill(w, BLK, 4);
	want = crc(w, BLK);
	s = open_logged(f, 4);
	/* logical unit 3 = column 1, row 1: components 2 and 3 at 16 KiB */
	assert_int_equal(raid_write(s, 3 * BLK, w, BLK), 0);
	raid_close(s);
	corrupt(f->img[3], BLK);
	s = open_logged(f, 4);
	assert_int_equal(raid_read_verified(s, 3 * BLK, r, BLK, verify_crc, &want, RAID_RV_ALL,
					    &healed), 0);
	assert_memory_equal(r, w, BLK);
	assert_int_equal(healed, 1);
	assert_int_equal(raid_status(s, cs, 4), 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(cs[i].crc_errs, i == 3);
		assert_int_equal(cs[i].repaired, i == 3);
	}
	raid_close(s);
	for (i = 0; i < 4; i++)
		assert_int_equal(writes_to(f, i), i == 3);
	assert_true(file_has(f->img[3], BLK, w, BLK));

	/* single: the mismatch is reported and counted, nothing else to do */
	{
		struct raid_create_params c1 = { .layout = RAID_LAYOUT_SINGLE, .force = 1 };

		assert_int_equal(raid_create(f->p, 1, &c1), 0);
		s = open_logged(f, 1);
		assert_int_equal(raid_write(s, 0, w, BLK), 0);
		raid_close(s);
		corrupt(f->img[0], 0);
		s = open_logged(f, 1);
		assert_int_equal(raid_read_verified(s, 0, r, BLK, verify_crc, &want, 0, &healed),
				 -EBADMSG);
		assert_int_equal(healed, 0);
		assert_int_equal(raid_status(s, cs, 1), 1);
		assert_int_equal(cs[0].crc_errs, 1);
		raid_close(s);
		assert_int_equal(writes_to(f, 0), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mirror_heals_bad_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_copy_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_copy_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raid10_and_single, setup, teardown),
	};
	int fails;

	tu_seed(777);
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	engine = RAID_ENGINE_URING;
	fails = _cmocka_run_group_tests("heal (io_uring)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("heal (pool)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
