/*
 * test_fault.c — the fault test device (raid/fault.c) on image files, with
 * both engines: rule parsing errors, fail with skip/count/range/errno,
 * seeded probability, corrupt on read and on write, delay, vanish, and
 * re-reading the rules file while the set runs.
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
#include <time.h>
#include <unistd.h>
#include "raid/raid.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG_SIZE (80ull << 20)
#define DOFF     RAID_DATA_OFF      /* device offset of logical 0 */
static enum raid_engine_kind engine;

static int setup(void **st) { return tu_legs_setup(st, IMG_SIZE, "fault"); }
static int teardown(void **st) { return tu_legs_teardown(st); }

static struct raid_set *open_set(struct tu_legs *f, enum raid_layout l, const char *text)
{
	struct raid_create_params cp = { .layout = l, .force = 1 };
	struct raid_opts o = { .engine = engine, .fault = f->rules };
	struct raid_set *s = NULL;
	int n = l == RAID_LAYOUT_SINGLE ? 1 : 2;

	tu_legs_rules(f, text);
	assert_int_equal(raid_create(f->p, n, &cp), 0);
	assert_int_equal(raid_open(f->p, n, &o, &s), 0);
	return s;
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 12)) & 0xff);
}

static void test_bad_rules(void **st)
{
	static const char *const bad[] = {
		"comp=0\n",                                   /* no action */
		"action=fail\n",                              /* no comp */
		"comp=2 action=fail\n",                       /* no such component */
		"comp=0 action=explode\n",
		"comp=0 op=erase action=fail\n",
		"comp=0 action=fail off=5-5\n",
		"comp=0 action=fail off=10\n",
		"comp=0 action=fail prob=1.5\n",
		"comp=0 action=fail count=0\n",
		"comp=0 action=delay\n",                      /* no ms */
		"comp=0 action=fail ms=3\n",
		"comp=0 action=vanish op=read\n",
		"comp=0 action=corrupt op=flush\n",
		"comp=0 action=fail err=EWHAT\n",
		"comp=0 action=fail colour=red\n",
		"# fine\ncomp=0 action=fail\ncomp=0 action\n", /* error on line 3 */
	};
	struct tu_legs *f = *st;
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR, .force = 1 };
	struct raid_opts o = { .engine = engine, .fault = f->rules };
	struct raid_fault_counts fc;
	struct raid_set *s;
	size_t i;

	assert_int_equal(raid_create(f->p, 2, &cp), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_legs_rules(f, bad[i]);
		s = NULL;
		assert_int_equal(raid_open(f->p, 2, &o, &s), -EINVAL);
		assert_null(s);
	}
	tu_legs_rules(f, "  # comments and blank lines\n\n"
		 "comp=* op=any action=delay ms=1 count=1\n"
		 "comp=1 op=read action=corrupt off=1M-2M prob=0.5 seed=7\n"
		 "comp=0 op=write action=fail skip=3 count=2 err=ENOSPC\n"
		 "comp=1 action=vanish # gone\n");
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.failed + fc.delayed + fc.corrupted + fc.vanished, 0);
	raid_close(s);
	unlink(f->rules);
	assert_int_equal(raid_open(f->p, 2, &o, &s), -ENOENT);
	o.fault = NULL;
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_fault_counts(s, &fc), -ENOENT);
	assert_int_equal(raid_fault_reload(s), -ENOENT);
	raid_close(s);
}

/* skip N then fail M, only in the range, with the chosen errno. */
static void test_fail_skip_count_range(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_SINGLE,
				      "comp=0 op=read action=fail skip=2 count=3 off=1088K-1096K err=ENOSPC\n");
	struct raid_fault_counts fc;
	uint8_t b[8192];
	int i, ret, want;

	/* device 1088K = logical 64K: requests overlapping [64K, 72K) match */
	assert_int_equal(raid_read(s, 0, b, 4096), 0);
	assert_int_equal(raid_read(s, 72 << 10, b, 4096), 0);
	assert_int_equal(raid_write(s, 64 << 10, b, 4096), 0);   /* reads only */
	for (i = 0; i < 8; i++) {
		ret = raid_read(s, (i & 1) ? 60 << 10 : 64 << 10, b, 8192);
		want = i >= 2 && i < 5 ? -ENOSPC : 0;
		assert_int_equal(ret, want);
	}
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.failed, 3);
	assert_int_equal(fc.per_comp[0], 3);
	raid_close(s);
	(void)DOFF;
}

/* A failing write leg of a mirror: the write rolls forward, the leg fails. */
static void test_fail_mirror_write(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_MIRROR, "comp=1 op=write action=fail\n");
	struct raid_comp_status cs[2];
	struct raid_fault_counts fc;
	uint8_t w[8192], r[8192];

	fill(w, sizeof(w), 3);
	assert_int_equal(raid_write(s, 8192, w, sizeof(w)), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_int_equal(cs[1].write_errs, 1);
	assert_int_equal(raid_read(s, 8192, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.failed, 1);
	assert_int_equal(fc.per_comp[1], 1);
	assert_int_equal(fc.per_comp[0], 0);
	raid_close(s);
}

/* prob with a seed: the same pattern every time, roughly half fail. */
static void test_prob_seeded(void **st)
{
	struct tu_legs *f = *st;
	char pat[2][200];
	uint8_t b[4096];
	int run, i, nfail = 0;

	for (run = 0; run < 2; run++) {
		struct raid_set *s = open_set(f, RAID_LAYOUT_SINGLE,
					      "comp=0 op=read action=fail prob=0.5 seed=42\n");

		for (i = 0; i < 200; i++) {
			int ret = raid_read(s, 0, b, sizeof(b));

			assert_true(ret == 0 || ret == -EIO);
			pat[run][i] = ret ? 'x' : '.';
			nfail += run == 0 && ret;
		}
		raid_close(s);
	}
	assert_memory_equal(pat[0], pat[1], sizeof(pat[0]));
	assert_in_range(nfail, 60, 140);
	/* another seed, another pattern */
	{
		struct raid_set *s = open_set(f, RAID_LAYOUT_SINGLE,
					      "comp=0 op=read action=fail prob=0.5 seed=43\n");

		for (i = 0; i < 200; i++)
			pat[1][i] = raid_read(s, 0, b, sizeof(b)) ? 'x' : '.';
		raid_close(s);
		assert_memory_not_equal(pat[0], pat[1], sizeof(pat[0]));
	}
}

/* corrupt on read: wrong bytes come back only inside the range; the device
 * keeps good data (healed rules read it back intact). */
static void test_corrupt_read(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_SINGLE, "");
	struct raid_fault_counts fc;
	uint8_t *w = malloc(65536), *r = malloc(65536);
	int sec, bad = 0;

	fill(w, 65536, 9);
	assert_int_equal(raid_write(s, 0, w, 65536), 0);
	/* logical sectors 4..7 */
	tu_legs_rules(f, "comp=0 op=read action=corrupt off=1040K-1056K\n");
	assert_int_equal(raid_fault_reload(s), 0);
	assert_int_equal(raid_read(s, 0, r, 65536), 0);
	for (sec = 0; sec < 16; sec++) {
		int differs = memcmp(r + sec * 4096, w + sec * 4096, 4096) != 0;

		assert_int_equal(differs, sec >= 4 && sec < 8);
		bad += differs;
	}
	assert_int_equal(bad, 4);
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.corrupted, 1);
	tu_legs_rules(f, "");
	assert_int_equal(raid_fault_reload(s), 0);
	assert_int_equal(raid_read(s, 0, r, 65536), 0);
	assert_memory_equal(r, w, 65536);
	raid_close(s);
	free(w);
	free(r);
}

/* corrupt on write to one mirror leg: that copy is bad on the device, the
 * other copy (and the caller's buffer) are good. */
static void test_corrupt_write(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_MIRROR, "comp=1 op=write action=corrupt count=1\n");
	uint8_t w[16384], keep[16384], r[16384];

	fill(w, sizeof(w), 11);
	memcpy(keep, w, sizeof(w));
	assert_int_equal(raid_write(s, 4096, w, sizeof(w)), 0);
	assert_memory_equal(w, keep, sizeof(w));
	assert_int_equal(raid_read_copy(s, 0, 4096, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(raid_read_copy(s, 1, 4096, r, sizeof(r)), 0);
	for (int sec = 0; sec < 4; sec++)
		assert_memory_not_equal(r + sec * 4096, w + sec * 4096, 4096);
	/* count=1: the next write is clean on both */
	assert_int_equal(raid_write(s, 4096, w, sizeof(w)), 0);
	assert_int_equal(raid_read_copy(s, 1, 4096, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	raid_close(s);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct waiter {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int left, errs;
};

static void async_done(struct raid_io *io, int err)
{
	struct waiter *w = io->io_priv;

	pthread_mutex_lock(&w->m);
	w->errs += err != 0;
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

/* delay: requests wait at least ms, asynchronously (a batch of 8 delayed
 * requests does not take 8 x ms... only a lower bound is asserted), and
 * data is unchanged. */
static void test_delay(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_MIRROR, "comp=* op=any action=delay ms=100 count=9\n");
	struct waiter wt = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 8, 0 };
	struct raid_io io[8];
	struct raid_fault_counts fc;
	uint8_t w[4096], r[8][4096];
	double t0;
	int i;

	fill(w, sizeof(w), 4);
	t0 = now_ms();
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);   /* 2 legs: 2 delayed */
	assert_true(now_ms() - t0 >= 100);
	t0 = now_ms();
	for (i = 0; i < 8; i++) {
		io[i] = (struct raid_io){ .io_op = RAID_OP_READ, .io_off = 0, .io_buf = r[i],
					  .io_len = 4096, .io_copy = -1, .io_done = async_done,
					  .io_priv = &wt };
		assert_int_equal(raid_submit(s, &io[i]), 0);
	}
	pthread_mutex_lock(&wt.m);
	while (wt.left)
		pthread_cond_wait(&wt.cv, &wt.m);
	pthread_mutex_unlock(&wt.m);
	assert_true(now_ms() - t0 >= 100);
	assert_int_equal(wt.errs, 0);
	for (i = 0; i < 8; i++)
		assert_memory_equal(r[i], w, 4096);
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.delayed, 9);   /* 2 + 7 of the reads: count=9 */
	raid_close(s);
}

/* vanish: every request to the leg fails, the set runs on the other, and
 * the vanished leg's label is not written (as an unplugged disk). */
static void test_vanish(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_MIRROR, "comp=1 action=vanish\n");
	struct raid_opts o = { .engine = engine };
	struct raid_comp_status cs[2];
	struct raid_fault_counts fc;
	uint8_t w[4096], r[4096];
	int i;

	fill(w, sizeof(w), 8);
	for (i = 0; i < 4; i++) {
		assert_int_equal(raid_read(s, 0, r, sizeof(r)), 0);   /* retried on leg 0 */
	}
	assert_int_equal(raid_read_copy(s, 1, 0, r, sizeof(r)), -ENODEV);
	assert_int_equal(raid_write(s, 0, w, sizeof(w)), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_FAILED);
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_true(fc.vanished >= 3);
	assert_int_equal(fc.per_comp[1], fc.vanished);
	raid_close(s);
	/* leg 1 still holds its old label (generation 1); leg 0 says leg 1
	 * failed and its bitmap holds what leg 1 missed: leg 1 comes back
	 * REBUILDING (a stale leg marked optimal would have been refused) */
	assert_int_equal(raid_open(f->p, 2, &o, &s), 0);
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[0].state, RAID_COMP_OPTIMAL);
	assert_int_equal(cs[1].state, RAID_COMP_REBUILDING);
	assert_int_equal(raid_read_copy(s, 1, 0, r, sizeof(r)), -EIO);   /* no reads from it yet */
	assert_int_equal(raid_read(s, 0, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	for (i = 0; i < 100 && raid_resync_step(s) == 1; i++)
		;
	assert_int_equal(raid_status(s, cs, 2), 2);
	assert_int_equal(cs[1].state, RAID_COMP_OPTIMAL);
	assert_int_equal(raid_read_copy(s, 1, 0, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
	raid_close(s);
	/* only leg 1: its own label says optimal, generation 1 — it is alone */
	assert_int_equal(raid_open(f->p + 1, 1, &o, &s), -ENODEV);
}

/* The file is re-read when it changes, without an explicit reload; a bad
 * rewrite keeps the old rules. */
static void test_reload_on_change(void **st)
{
	struct tu_legs *f = *st;
	struct raid_set *s = open_set(f, RAID_LAYOUT_SINGLE, "");
	struct raid_fault_counts fc;
	uint8_t b[4096];
	int i, ret = 0;

	assert_int_equal(raid_read(s, 0, b, sizeof(b)), 0);
	tu_legs_rules(f, "comp=0 op=read action=fail\n");
	for (i = 0; i < 100 && ret == 0; i++) {   /* within 50 ms + a request */
		usleep(10000);
		ret = raid_read(s, 0, b, sizeof(b));
	}
	assert_int_equal(ret, -EIO);
	assert_true(i >= 1 && i <= 20);
	tu_legs_rules(f, "comp=0 action=nonsense\n");
	assert_int_equal(raid_fault_reload(s), -EINVAL);
	assert_int_equal(raid_read(s, 0, b, sizeof(b)), -EIO);   /* old rules stay */
	unlink(f->rules);                                         /* missing = healed */
	for (i = 0; i < 100 && ret != 0; i++) {
		usleep(10000);
		ret = raid_read(s, 0, b, sizeof(b));
	}
	assert_int_equal(ret, 0);
	assert_int_equal(raid_fault_counts(s, &fc), 0);
	assert_int_equal(fc.reloads, 2);
	raid_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_skip_count_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_mirror_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prob_seeded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_on_change, setup, teardown),
	};
	int fails;

	tu_seed(77);
	engine = RAID_ENGINE_URING;
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	fails = _cmocka_run_group_tests("fault (io_uring)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	engine = RAID_ENGINE_POOL;
	fails += _cmocka_run_group_tests("fault (pool)", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	return fails;
}
