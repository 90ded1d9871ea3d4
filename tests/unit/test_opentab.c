/*
 * test_opentab.c — the open table's stale marks (fs/namei.c), which decide
 * whether an open may keep the kernel's cached pages (op_open): a mark
 * outlives the last close, a release clears only the mark its open saw,
 * and write errors set one.  t_keep_cache.sh checks the cache end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include "fs/dir.h"

static void test_clean_by_default(void **state)
{
	hfs_open_get(101);
	assert_int_equal(hfs_open_stalemark(101), 0);
	assert_int_equal(hfs_open_put(101), 0);
	assert_int_equal(hfs_open_stalemark(101), 0);
	hfs_open_stale(102);   /* never opened: nothing to mark */
	assert_int_equal(hfs_open_stalemark(102), 0);
}

static void test_mark_outlives_close(void **state)
{
	unsigned mark;

	hfs_open_get(201);
	hfs_open_writer(201, 1);
	hfs_open_stale(201);
	mark = hfs_open_stalemark(201);
	assert_int_not_equal(mark, 0);
	hfs_open_writer(201, -1);
	assert_int_equal(hfs_open_put(201), 0);
	/* closed, still marked: the next open must drop the pages */
	assert_int_equal(hfs_open_stalemark(201), mark);
	assert_int_equal(hfs_open_count(201), 0);
	assert_int_equal(hfs_open_writers(201), 0);
	/* that open's release clears it, and the entry goes */
	hfs_open_get(201);
	assert_int_equal(hfs_open_count(201), 1);
	hfs_open_unstale(201, mark);
	assert_int_equal(hfs_open_put(201), 0);
	assert_int_equal(hfs_open_stalemark(201), 0);
}

static void test_release_clears_only_its_mark(void **state)
{
	unsigned old, now;

	hfs_open_get(301);
	hfs_open_stale(301);
	old = hfs_open_stalemark(301);
	hfs_open_stale(301);   /* a later write around the cache */
	now = hfs_open_stalemark(301);
	assert_int_not_equal(now, old);
	hfs_open_unstale(301, old);   /* an open from before the second write */
	assert_int_equal(hfs_open_stalemark(301), now);
	hfs_open_unstale(301, now);
	assert_int_equal(hfs_open_stalemark(301), 0);
	assert_int_equal(hfs_open_put(301), 0);
}

static void test_errors_mark(void **state)
{
	hfs_open_get(401);
	hfs_open_seterr(401, -ENOSPC);
	assert_int_not_equal(hfs_open_stalemark(401), 0);
	hfs_open_unstale(401, hfs_open_stalemark(401));
	hfs_open_setsoft(401, -ENOSPC);
	assert_int_not_equal(hfs_open_stalemark(401), 0);
	hfs_open_unstale(401, hfs_open_stalemark(401));
	assert_int_equal(hfs_open_takeerr(401), -ENOSPC);
	assert_int_equal(hfs_open_put(401), 0);
	assert_int_equal(hfs_open_stalemark(401), 0);
}

/* a closed file kept for its mark hands no error of the last writer to
 * the next open (the entry used to be freed with them) */
static void test_kept_entry_forgets_errors(void **state)
{
	hfs_open_get(501);
	hfs_open_seterr(501, -EIO);
	hfs_open_setsoft(501, -ENOSPC);
	assert_int_equal(hfs_open_put(501), 0);
	assert_int_not_equal(hfs_open_stalemark(501), 0);
	hfs_open_get(501);
	assert_int_equal(hfs_open_takeerr(501), 0);
	assert_int_equal(hfs_open_takesoft(501), 0);
	hfs_open_unstale(501, hfs_open_stalemark(501));
	assert_int_equal(hfs_open_put(501), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_by_default),
		cmocka_unit_test(test_mark_outlives_close),
		cmocka_unit_test(test_release_clears_only_its_mark),
		cmocka_unit_test(test_errors_mark),
		cmocka_unit_test(test_kept_entry_forgets_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
