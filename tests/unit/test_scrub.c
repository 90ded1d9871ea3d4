/*
 * test_scrub.c — the scrub walk and scrub on a formatted 2-leg mirror:
 * hfs_bt_scan_leaf visits every record once in key order and every node
 * once; a scrub finds a bad copy of a node and rewrites it from the good
 * one; a node bad on both copies is counted unrepairable and left alone;
 * the counts and the cursor live in the volume header.
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
#include "fs/hfs_int.h"
#include "tests/unit/helpers.h"

#define NREC 6000

static char img[2][256];
static struct hfs_fs *fs;

static struct hfs_key key_of(int i)
{
	return hfs_mkkey((uint64_t)(i / 10) + 100, HFS_REC_XATTR, (uint64_t)(i % 10) * 977);
}

static int setup(void **st)
{
	const char *p[2] = { img[0], img[1] };
	struct hfs_format_params fp = { .quiet = 1 };
	uint8_t v[96];
	int i;

	for (i = 0; i < 2; i++)
		if (tu_mkimage(img[i], sizeof(img[i]), 256ull << 20))
			return -1;
	if (hfs_format(p, 2, &fp, NULL) || hfs_open(p, 2, NULL, &fs))
		return -1;
	memset(v, 0x5a, sizeof(v));
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < NREC; i++) {
		struct hfs_key k = key_of(i);

		if (hfs_op_begin(fs) || hfs_bt_insert(fs, &k, v, sizeof(v)))
			break;
	}
	i = i == NREC ? hfs_flush_locked(fs) : -1;
	pthread_mutex_unlock(&fs->lock);
	return i;
}

static int teardown(void **st)
{
	if (fs)
		hfs_close(fs);
	fs = NULL;
	tu_rmimage(img[0]);
	tu_rmimage(img[1]);
	return 0;
}

/* ---- the walk ----------------------------------------------------------- */

struct walk {
	uint64_t nodes[4096];
	int nnodes, nleaves;
	struct hfs_key last;
	int nrec, mine, disorder;
};

static int node_cb(void *priv, uint64_t za, int level)
{
	struct walk *w = priv;

	assert_true(w->nnodes < 4096);
	w->nodes[w->nnodes++] = za;
	w->nleaves += level == 0;
	return 0;
}

static int rec_cb(void *priv, const struct hfs_key *k, const void *val, size_t len)
{
	struct walk *w = priv;

	if (w->nrec && hfs_key_cmp(&w->last, k) >= 0)
		w->disorder++;
	w->last = *k;
	w->nrec++;
	w->mine += k->type == HFS_REC_XATTR && k->obj >= 100 && len == 96;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_walk(void **st)
{
	static struct walk w;
	struct hfs_key k = { 0, 0, 0 }, next;
	int ret, steps = 0, i;

	memset(&w, 0, sizeof(w));
	pthread_mutex_lock(&fs->lock);
	assert_true(hfs_le32(fs->vh.vh_btree_depth) >= 2);
	do {
		ret = hfs_bt_scan_leaf(fs, &k, node_cb, rec_cb, &w, &next);
		assert_true(ret == 0 || ret == 1);
		k = next;
		steps++;
	} while (ret == 0 && steps < 10000);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(ret, 1);
	assert_int_equal(w.mine, NREC);
	assert_int_equal(w.disorder, 0);
	assert_int_equal(w.nleaves, steps);       /* one leaf per step */
	assert_true(w.nnodes > w.nleaves);        /* and the inner nodes */
	qsort(w.nodes, (size_t)w.nnodes, sizeof(w.nodes[0]), cmp_u64);
	for (i = 1; i < w.nnodes; i++)
		assert_true(w.nodes[i] != w.nodes[i - 1]);   /* each node once */
	/* a walk resumed mid-leaf sees the records from there on */
	memset(&w, 0, sizeof(w));
	k = key_of(NREC - 3);
	pthread_mutex_lock(&fs->lock);
	ret = hfs_bt_scan_leaf(fs, &k, node_cb, rec_cb, &w, &next);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(ret, 1);
	assert_int_equal(w.mine, 3);
}

/* ---- scrub -------------------------------------------------------------- */

static uint64_t vh64(const uint64_t *f)
{
	uint64_t v;

	pthread_mutex_lock(&fs->lock);
	v = hfs_le64(*f);
	pthread_mutex_unlock(&fs->lock);
	return v;
}

static void run_scrub(void)
{
	int resumed = -1, i;
	uint32_t state = 0;

	assert_int_equal(hfs_scrub_start(fs, &resumed), 0);
	assert_int_equal(resumed, 0);
	for (i = 0; i < 3000; i++) {
		pthread_mutex_lock(&fs->lock);
		state = hfs_le32(fs->vh.vh_scrub_state);
		pthread_mutex_unlock(&fs->lock);
		if (state == HFS_SCRUB_DONE)
			break;
		usleep(10000);
	}
	assert_int_equal(state, HFS_SCRUB_DONE);
	assert_int_equal(hfs_scrub_pause(fs), -ENOENT);   /* it ended by itself */
}

/* The first max leaves of the tree (raw offsets). */
static void leaves(uint64_t *out, int max)
{
	static struct walk w;
	struct hfs_key k = { 0, 0, 0 }, next;
	int i, n = 0;

	memset(&w, 0, sizeof(w));
	pthread_mutex_lock(&fs->lock);
	while (hfs_bt_scan_leaf(fs, &k, node_cb, rec_cb, &w, &next) == 0)
		k = next;
	pthread_mutex_unlock(&fs->lock);
	/* the leaves among the nodes the walk met (level 0 in their header) */
	for (i = 0; i < w.nnodes && n < max; i++) {
		uint8_t *b = NULL;

		assert_int_equal(posix_memalign((void **)&b, 4096, HFS_BUFSIZE), 0);
		assert_int_equal(raid_read_copy(fs->rs, 0, hfs_raw(w.nodes[i]), b, HFS_BUFSIZE), 0);
		if (((struct hfs_blkhdr_ondisk *)b)->bh_level == 0)
			out[n++] = hfs_raw(w.nodes[i]);
		free(b);
	}
	assert_int_equal(n, max);
}

static void test_scrub_repairs(void **st)
{
	uint64_t lf[3];
	uint8_t *good = NULL, *junk = NULL, *c0 = NULL, *c1 = NULL;
	uint64_t blocks;

	assert_int_equal(posix_memalign((void **)&good, 4096, HFS_BUFSIZE), 0);
	assert_int_equal(posix_memalign((void **)&junk, 4096, HFS_BUFSIZE), 0);
	assert_int_equal(posix_memalign((void **)&c0, 4096, HFS_BUFSIZE), 0);
	assert_int_equal(posix_memalign((void **)&c1, 4096, HFS_BUFSIZE), 0);
	/* a clean volume: nothing to do, every block counted */
	run_scrub();
	blocks = vh64(&fs->vh.vh_scrub_blocks);
	assert_true(blocks > 40);
	assert_int_equal(vh64(&fs->vh.vh_scrub_errors), 0);
	assert_int_equal(vh64(&fs->vh.vh_scrub_bytes) % 4096, 0);

	/* leaf A bad on copy 1: rewritten from copy 0 */
	leaves(lf, 3);
	assert_int_equal(raid_read_copy(fs->rs, 0, lf[1], good, HFS_BUFSIZE), 0);
	memcpy(junk, good, HFS_BUFSIZE);
	junk[5000] ^= 0x40;
	assert_int_equal(raid_write_copy(fs->rs, 1, lf[1], junk, HFS_BUFSIZE), 0);
	run_scrub();
	assert_int_equal(vh64(&fs->vh.vh_scrub_blocks), blocks);
	assert_int_equal(vh64(&fs->vh.vh_scrub_errors), 1);
	assert_int_equal(vh64(&fs->vh.vh_scrub_repaired), 1);
	assert_int_equal(vh64(&fs->vh.vh_scrub_unrepairable), 0);
	assert_int_equal(raid_read_copy(fs->rs, 1, lf[1], c1, HFS_BUFSIZE), 0);
	assert_memory_equal(c1, good, HFS_BUFSIZE);

	/* leaf B bad on both copies: counted, neither copy touched */
	assert_int_equal(raid_read_copy(fs->rs, 0, lf[2], good, HFS_BUFSIZE), 0);
	memcpy(junk, good, HFS_BUFSIZE);
	junk[7000] ^= 0x01;
	assert_int_equal(raid_write_copy(fs->rs, 0, lf[2], junk, HFS_BUFSIZE), 0);
	junk[9000] ^= 0x02;
	assert_int_equal(raid_write_copy(fs->rs, 1, lf[2], junk, HFS_BUFSIZE), 0);
	run_scrub();
	assert_int_equal(vh64(&fs->vh.vh_scrub_errors), 2);
	assert_int_equal(vh64(&fs->vh.vh_scrub_repaired), 0);
	assert_int_equal(vh64(&fs->vh.vh_scrub_unrepairable), 1);
	assert_int_equal(raid_read_copy(fs->rs, 0, lf[2], c0, HFS_BUFSIZE), 0);
	junk[9000] ^= 0x02;
	assert_memory_equal(c0, junk, HFS_BUFSIZE);   /* not "repaired" with a guess */
	/* put the good bytes back so the volume closes clean */
	assert_int_equal(raid_write_copy(fs->rs, 0, lf[2], good, HFS_BUFSIZE), 0);
	assert_int_equal(raid_write_copy(fs->rs, 1, lf[2], good, HFS_BUFSIZE), 0);
	free(good);
	free(junk);
	free(c0);
	free(c1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_repairs, setup, teardown),
	};

	tu_seed(11);
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests_name("scrub", tests, NULL, NULL);
}
