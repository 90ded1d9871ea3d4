/*
 * test_btree.c — the B-tree on a formatted image: random operations
 * against a reference model, splits to depth >= 3 and merges back to one
 * leaf, ordered iteration, a structural walk (B1-B4), persistence, and a
 * corrupted node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/hfs_int.h"
#include "tests/unit/helpers.h"

#define NKEYS 60000

static char img[256];
static struct hfs_fs *fs;
static struct { uint8_t present; uint16_t len; uint32_t seed; } model[NKEYS];

static struct hfs_key key_of(int i)
{
	return hfs_mkkey((uint64_t)(i / 7) + 100,   /* above mkfs's root inode */ (uint8_t)(i % 5 + 1),
			 ((uint64_t)i * 2654435761u) % 1000000007u);
}

static void val_of(uint8_t *v, uint16_t len, uint32_t seed)
{
	for (unsigned j = 0; j < len; j++)
		v[j] = (uint8_t)(seed * 31 + j * 17);
}

static uint16_t rand_len(void)
{
	uint64_t r = tu_rand() % 100;

	return (uint16_t)(r < 90 ? tu_rand() % 200 : tu_rand() % (HFS_MAX_VALUE + 1));
}

static void reopen(void)
{
	const char *p[1] = { img };

	if (fs)
		assert_int_equal(hfs_close(fs), 0);
	assert_int_equal(hfs_open(p, 1, NULL, &fs), 0);
}

static int setup(void **st)
{
	const char *p[1] = { img };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(img, sizeof(img), 512ull << 20))
		return -1;
	if (hfs_format(p, 1, &fp, NULL))
		return -1;
	fs = NULL;
	memset(model, 0, sizeof(model));
	reopen();
	return 0;
}

static int teardown(void **st)
{
	if (fs) {
		/* a failed assertion longjmps out with fs->lock held */
		pthread_mutex_trylock(&fs->lock);
		pthread_mutex_unlock(&fs->lock);
		hfs_close(fs);
	}
	fs = NULL;
	tu_rmimage(img);
	return 0;
}

/* Recursive structural check; returns the number of records. */
static long walk(uint64_t za, int level, const struct hfs_key *lo, const struct hfs_key *hi, int *leaves)
{
	struct bc_buf *b;
	uint8_t *d;
	long n = 0;
	int i, cnt;

	assert_int_equal(hfs_meta_get(fs, za, 0, &b), 0);
	d = b->b_data;
	assert_int_equal(d[24], level);                       /* B3 */
	cnt = d[26] | d[27] << 8;
	if (level == 0) {
		(*leaves)++;
		for (i = 0; i < cnt; i++) {
			struct hfs_key k;
			const struct hfs_bt_slot_ondisk *s = (const void *)(d + 64 + 32 * i);

			hfs_key_decode(&k, &s->bs_key);
			if (lo)
				assert_true(hfs_key_cmp(&k, lo) >= 0);       /* B2 */
			if (hi)
				assert_true(hfs_key_cmp(&k, hi) < 0);
			if (i) {
				struct hfs_key pk;

				hfs_key_decode(&pk, &((const struct hfs_bt_slot_ondisk *)(d + 64 + 32 * (i - 1)))->bs_key);
				assert_true(hfs_key_cmp(&pk, &k) < 0);       /* B1 */
			}
			n++;
		}
		bc_put(b);
		return n;
	}
	assert_true(cnt >= 1);
	for (i = 0; i < cnt; i++) {
		const struct hfs_bt_inner_ondisk *it = (const void *)(d + 64 + 32 * i);
		struct hfs_key k, nk;
		uint64_t child = hfs_le64(it->bi_child);

		hfs_key_decode(&k, &it->bi_key);
		if (lo)
			assert_true(hfs_key_cmp(&k, lo) >= 0);
		if (i + 1 < cnt) {
			hfs_key_decode(&nk, &((const struct hfs_bt_inner_ondisk *)(d + 64 + 32 * (i + 1)))->bi_key);
			assert_true(hfs_key_cmp(&k, &nk) < 0);
		}
		bc_put(b);   /* re-get below: the walk may evict */
		n += walk(child, level - 1, &k, i + 1 < cnt ? &nk : hi, leaves);
		assert_int_equal(hfs_meta_get(fs, za, 0, &b), 0);
		d = b->b_data;
	}
	bc_put(b);
	return n;
}

static long check_tree(int *depth)
{
	int leaves = 0;
	long n;

	*depth = (int)hfs_le32(fs->vh.vh_btree_depth);
	n = walk(hfs_le64(fs->vh.vh_btree_root), *depth - 1, NULL, NULL, &leaves);
	return n;
}

static long model_count(void)
{
	long n = 1;   /* mkfs's root directory inode */

	for (int i = 0; i < NKEYS; i++)
		n += model[i].present;
	return n;
}

static void do_op(int i, int op)
{
	struct hfs_key k = key_of(i);
	uint8_t v[HFS_MAX_VALUE], got[HFS_MAX_VALUE];
	size_t len;
	uint16_t l;
	uint32_t seed = (uint32_t)tu_rand();
	int ret;

	assert_int_equal(hfs_op_begin(fs), 0);
	switch (op) {
	case 0:   /* insert */
		l = rand_len();
		val_of(v, l, seed);
		ret = hfs_bt_insert(fs, &k, v, l);
		if (model[i].present) {
			assert_int_equal(ret, -EEXIST);
		} else {
			if (ret)
				fprintf(stderr, "insert %d (len %u) -> %d, depth %u\n", i, l, ret,
					hfs_le32(fs->vh.vh_btree_depth));
			assert_int_equal(ret, 0);
			model[i].present = 1;
			model[i].len = l;
			model[i].seed = seed;
		}
		break;
	case 1:   /* delete */
		ret = hfs_bt_delete(fs, &k);
		assert_int_equal(ret, model[i].present ? 0 : -ENOENT);
		model[i].present = 0;
		break;
	case 2:   /* update */
		l = rand_len();
		val_of(v, l, seed);
		ret = hfs_bt_update(fs, &k, v, l);
		assert_int_equal(ret, model[i].present ? 0 : -ENOENT);
		if (model[i].present) {
			model[i].len = l;
			model[i].seed = seed;
		}
		break;
	default:  /* lookup */
		ret = hfs_bt_lookup(fs, &k, got, sizeof(got), &len);
		if (!model[i].present) {
			assert_int_equal(ret, -ENOENT);
			break;
		}
		assert_int_equal(ret, 0);
		assert_int_equal(len, model[i].len);
		val_of(v, model[i].len, model[i].seed);
		assert_memory_equal(got, v, len);
	}
}

static void verify_all(void)
{
	for (int i = 0; i < NKEYS; i += 3)
		do_op(i, 3);
}

static int cmp_idx(const void *a, const void *b)
{
	struct hfs_key ka = key_of(*(const int *)a), kb = key_of(*(const int *)b);

	return hfs_key_cmp(&ka, &kb);
}

/* hfs_bt_next over the whole key space returns exactly the model, in order. */
static void verify_iteration(void)
{
	int *idx = malloc(sizeof(int) * NKEYS), n = 0, j = 0;
	struct hfs_key from = hfs_mkkey(HFS_ROOT_INO + 1, 0, 0), to = hfs_mkkey(UINT64_MAX, 255, UINT64_MAX), k;

	for (int i = 0; i < NKEYS; i++)
		if (model[i].present)
			idx[n++] = i;
	qsort(idx, (size_t)n, sizeof(int), cmp_idx);
	while (hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL) == 0) {
		struct hfs_key want;

		assert_true(j < n);
		want = key_of(idx[j++]);
		assert_int_equal(hfs_key_cmp(&k, &want), 0);
		from = k;
		from.key++;   /* keys here never reach UINT64_MAX */
	}
	assert_int_equal(j, n);
	free(idx);
}

struct range_seen {
	const int *idx;   /* the expected records, in key order */
	int n, got, stop_at;
};

static int range_fn(void *priv, const struct hfs_key *k, const void *val, size_t len)
{
	struct range_seen *rs = priv;
	uint8_t v[HFS_MAX_VALUE];
	struct hfs_key want;
	int i;

	assert_true(rs->got < rs->n);
	i = rs->idx[rs->got++];
	want = key_of(i);
	assert_int_equal(hfs_key_cmp(k, &want), 0);
	assert_int_equal(len, model[i].len);
	val_of(v, model[i].len, model[i].seed);
	assert_memory_equal(val, v, len);
	return rs->got == rs->stop_at ? 7 : 0;
}

/* hfs_bt_range over random spans of the model (most cross leaves, some
 * start or end between keys): exactly the records inside, in order, with
 * their values; a callback's non-zero return ends the scan and is
 * returned. */
static void verify_range(void)
{
	int *idx = malloc(sizeof(int) * NKEYS), n = 0;

	for (int i = 0; i < NKEYS; i++)
		if (model[i].present)
			idx[n++] = i;
	qsort(idx, (size_t)n, sizeof(int), cmp_idx);
	for (int t = 0; t < 300 && n; t++) {
		int a = (int)(tu_rand() % (uint64_t)n), span = (int)(tu_rand() % 3000), b, lo, hi;
		struct hfs_key from, to;
		struct range_seen rs = { NULL, 0, 0, -1 };

		b = a + span < n ? a + span : n - 1;
		from = key_of(idx[a]);
		to = key_of(idx[b]);
		if (t % 3 == 1 && from.key)
			from.key--;   /* starts between keys */
		if (t % 3 == 2 && to.key)
			to.key--;     /* ends between keys */
		/* the expected records: the model's keys inside [from, to] */
		for (lo = 0; lo < n; lo++) {
			struct hfs_key k = key_of(idx[lo]);

			if (hfs_key_cmp(&k, &from) >= 0)
				break;
		}
		for (hi = lo; hi < n; hi++) {
			struct hfs_key k = key_of(idx[hi]);

			if (hfs_key_cmp(&k, &to) > 0)
				break;
		}
		rs.idx = idx + lo;
		rs.n = hi - lo;
		if (t % 10 == 9 && rs.n)
			rs.stop_at = rs.n / 2 + 1;
		assert_int_equal(hfs_bt_range(fs, &from, &to, range_fn, &rs), rs.stop_at > 0 ? 7 : 0);
		assert_int_equal(rs.got, rs.stop_at > 0 ? rs.stop_at : rs.n);
	}
	free(idx);
}

static void test_random_ops(void **st)
{
	int depth, op;
	long n;

	tu_seed(20261124);
	pthread_mutex_lock(&fs->lock);
	/* fill: many splits */
	for (int i = 0; i < NKEYS; i++) {
		do_op(i, 0);
		if (i % 5000 == 4999)
			assert_int_equal(hfs_flush_locked(fs), 0);
	}
	n = check_tree(&depth);
	assert_int_equal(n, model_count());
	assert_true(depth >= 3);
	verify_iteration();
	verify_range();
	/* churn */
	for (op = 0; op < 60000; op++) {
		do_op((int)(tu_rand() % NKEYS), (int)(tu_rand() % 4));
		if (op % 7000 == 0)
			assert_int_equal(hfs_flush_locked(fs), 0);
	}
	assert_int_equal(check_tree(&depth), model_count());
	verify_all();
	/* the allocator's running counts kept in step through splits, merges
	 * and commits (fs/alloc.c) */
	assert_int_equal(hfs_alloc_selfcheck(fs), 0);
	pthread_mutex_unlock(&fs->lock);
	/* persistence */
	reopen();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(check_tree(&depth), model_count());
	verify_all();
	verify_iteration();
	verify_range();
	/* delete everything: merges down to one leaf */
	for (int i = 0; i < NKEYS; i++)
		if (model[i].present)
			do_op(i, 1);
	assert_int_equal(check_tree(&depth), 1);
	assert_int_equal(depth, 1);
	assert_int_equal(hfs_alloc_selfcheck(fs), 0);
	assert_int_equal(hfs_flush_locked(fs), 0);
	assert_int_equal(hfs_alloc_selfcheck(fs), 0);
	pthread_mutex_unlock(&fs->lock);
	reopen();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(check_tree(&depth), 1);
	pthread_mutex_unlock(&fs->lock);
}

/* A flipped byte in a node on disk: -EBADMSG/-EUCLEAN, never a crash. */
static void test_corrupt_node(void **st)
{
	struct hfs_key k = hfs_mkkey(5, 1, 5);
	uint8_t v[16] = { 1 };
	uint64_t raw;
	int fd, ret;
	char c;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(hfs_op_begin(fs), 0);
	assert_int_equal(hfs_bt_insert(fs, &k, v, sizeof(v)), 0);
	pthread_mutex_unlock(&fs->lock);
	raw = hfs_raw(hfs_le64(fs->vh.vh_btree_root));
	assert_int_equal(hfs_close(fs), 0);
	fs = NULL;
	fd = open(img, O_RDWR);
	assert_true(fd >= 0);
	/* single layout: logical offset + 1 MiB data offset */
	assert_int_equal(pread(fd, &c, 1, (off_t)(raw + (1u << 20) + 100)), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)(raw + (1u << 20) + 100)), 1);
	close(fd);
	{
		const char *p[1] = { img };

		ret = hfs_open(p, 1, NULL, &fs);
		if (ret == 0) {
			pthread_mutex_lock(&fs->lock);
			ret = hfs_bt_lookup(fs, &k, NULL, 0, NULL);
			pthread_mutex_unlock(&fs->lock);
			fs->readonly = true;   /* don't write over the evidence */
		}
	}
	assert_true(ret == -EBADMSG || ret == -EUCLEAN);
}

/* A full B-tree zone: inserts and growing updates fail with -ENOSPC and
 * change nothing (a split takes its nodes before it starts; a growing
 * update takes them before it deletes the old record), so the tree stays
 * exactly the model, also after a reopen. */
static int setup_small(void **st)
{
	const char *p[1] = { img };
	struct hfs_format_params fp = { .quiet = 1 };

	if (tu_mkimage(img, sizeof(img), 80ull << 20) || hfs_format(p, 1, &fp, NULL))
		return -1;
	fs = NULL;
	memset(model, 0, sizeof(model));
	reopen();
	return 0;
}

static void test_enospc(void **st)
{
	uint8_t v[HFS_MAX_VALUE];
	int i, op, ret, full = 0, depth, upd_fail = 0;

	tu_seed(20261201);
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < NKEYS && full < 20; i++) {
		struct hfs_key k = key_of(i);
		uint16_t l = i % 3 ? 4000 : (uint16_t)(tu_rand() % 300);
		uint32_t seed = (uint32_t)tu_rand();

		assert_int_equal(hfs_op_begin(fs), 0);
		val_of(v, l, seed);
		ret = hfs_bt_insert(fs, &k, v, l);
		if (ret == -ENOSPC) {
			full++;
			continue;
		}
		assert_int_equal(ret, 0);
		model[i].present = 1;
		model[i].len = l;
		model[i].seed = seed;
	}
	assert_int_equal(full, 20);
	assert_int_equal(check_tree(&depth), model_count());
	/* full: small inserts into crumbs and growing updates, ENOSPC or done */
	for (op = 0; op < 4000; op++) {
		int j = (int)(tu_rand() % (unsigned)i);
		struct hfs_key k = key_of(j);
		uint16_t l = (uint16_t)(tu_rand() % (HFS_MAX_VALUE + 1));
		uint32_t seed = (uint32_t)tu_rand();

		assert_int_equal(hfs_op_begin(fs), 0);
		val_of(v, l, seed);
		if (model[j].present) {
			ret = hfs_bt_update(fs, &k, v, l);
			upd_fail += ret == -ENOSPC;
		} else {
			ret = hfs_bt_insert(fs, &k, v, l);
		}
		if (ret == -ENOSPC)
			continue;
		assert_int_equal(ret, 0);
		model[j].present = 1;
		model[j].len = l;
		model[j].seed = seed;
	}
	assert_true(upd_fail > 0);
	assert_int_equal(check_tree(&depth), model_count());
	verify_all();
	assert_int_equal(hfs_flush_locked(fs), 0);
	pthread_mutex_unlock(&fs->lock);
	reopen();
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(check_tree(&depth), model_count());
	verify_all();
	pthread_mutex_unlock(&fs->lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup_small, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
