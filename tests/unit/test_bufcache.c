/*
 * test_bufcache.c — the HAMMER buffer discipline: flush order, modify-tree
 * order, delayed CRC, undo hook, verify + other copy, LRU bound, direct
 * I/O accounting, critical write errors, partial DATA buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "bufcache/bufcache.h"
#include "bufcache/bc_test.h"
#include "raid/raid_test.h"
#include "tests/unit/helpers.h"

#define IMG (80ull << 20)

struct env {
	char img[2][256];
	struct raid_set *rs;
	struct bc *c;
	/* hook observations */
	int crc_calls, undo_calls, commit_calls, committed_calls, verify_fail;
	uint64_t undo_offs[64];
	enum bc_type trace_t[256];
	uint64_t trace_off[256];
	int ntrace;
	uint64_t last_commit_seq;
};

static void h_crc(void *p, struct bc_buf *b)
{
	struct env *e = p;
	uint32_t c;

	e->crc_calls++;
	memset(b->b_data, 0, 4);
	c = (uint32_t)crc32(0, b->b_data, BC_BUFSIZE);
	memcpy(b->b_data, &c, 4);
}

static int h_verify(void *p, struct bc_buf *b)
{
	uint32_t want, got;
	uint8_t save[4];

	memcpy(&want, b->b_data, 4);
	memcpy(save, b->b_data, 4);
	memset(b->b_data, 0, 4);
	got = (uint32_t)crc32(0, b->b_data, BC_BUFSIZE);
	memcpy(b->b_data, save, 4);
	if (want != got) {
		((struct env *)p)->verify_fail++;
		return -EBADMSG;
	}
	return 0;
}

static int h_undo(void *p, struct bc_buf *b)
{
	struct env *e = p;

	if (e->undo_calls < 64)
		e->undo_offs[e->undo_calls] = b->b_off;
	e->undo_calls++;
	return 0;
}

static int h_commit(void *p, uint64_t seq)
{
	struct env *e = p;
	struct bc_buf *v;
	int ret = bc_get(e->c, BC_VOLUME, 0, 0, &v);

	if (ret)
		return ret;
	ret = bc_modify(v);
	if (!ret) {
		memcpy(v->b_data + 100, &seq, 8);
		bc_modify_done(v);
	}
	bc_put(v);
	e->commit_calls++;
	e->last_commit_seq = seq;
	return ret;
}

static void h_committed(void *p, uint64_t seq)
{
	((struct env *)p)->committed_calls++;
}

static void trace(void *p, enum bc_type t, uint64_t off)
{
	struct env *e = p;

	if (e->ntrace < 256) {
		e->trace_t[e->ntrace] = t;
		e->trace_off[e->ntrace] = off;
	}
	e->ntrace++;
}

static struct bc_hooks hooks_of(struct env *e)
{
	struct bc_hooks h = { e, h_undo, h_crc, h_verify, h_commit, h_committed, NULL, NULL };
	return h;
}

static void env_open(struct env *e, size_t mem)
{
	const char *p[2] = { e->img[0], e->img[1] };
	struct raid_opts o = { 0 };
	struct bc_opts bo = { .mem_limit = mem };
	struct bc_hooks h = hooks_of(e);

	assert_int_equal(raid_open(p, 2, &o, &e->rs), 0);
	assert_int_equal(bc_open(e->rs, &bo, &h, &e->c), 0);
	bc_test_set_write_trace(e->c, trace, e);
}

static void env_close(struct env *e)
{
	bc_close(e->c);
	raid_close(e->rs);
}

static int setup(void **st)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *p[2];
	struct raid_create_params cp = { .layout = RAID_LAYOUT_MIRROR };

	for (int i = 0; i < 2; i++)
		if (tu_mkimage(e->img[i], sizeof(e->img[i]), IMG))
			return -1;
	p[0] = e->img[0];
	p[1] = e->img[1];
	if (raid_create(p, 2, &cp))
		return -1;
	env_open(e, 0);
	*st = e;
	return 0;
}

static int teardown(void **st)
{
	struct env *e = *st;

	env_close(e);
	tu_rmimage(e->img[0]);
	tu_rmimage(e->img[1]);
	free(e);
	return 0;
}

static void touch(struct env *e, enum bc_type t, uint64_t off, int flags, uint8_t v)
{
	struct bc_buf *b;

	assert_int_equal(bc_get(e->c, t, off, flags, &b), 0);
	assert_int_equal(bc_modify(b), 0);
	memset(b->b_data + 64, v, 128);
	bc_modify_done(b);
	bc_put(b);
}

/* (2) + tree order: UNDO and DATA (one batch), META, VOLUME, each type
 * ascending. */
static void test_flush_order(void **st)
{
	struct env *e = *st;
	static const uint64_t offs[] = { 9, 3, 7, 1, 5 };
	int i;
	enum bc_type seen = BC_UNDO;
	static const int rank[BC_NTYPES] = { [BC_UNDO] = 0, [BC_DATA] = 0, [BC_META] = 1, [BC_VOLUME] = 2 };

	for (i = 0; i < 5; i++) {
		touch(e, BC_DATA, (200 + offs[i]) * BC_BUFSIZE, BC_GET_NEW, 1);
		touch(e, BC_META, (100 + offs[i]) * BC_BUFSIZE, BC_GET_NEW, 2);
		touch(e, BC_UNDO, (10 + offs[i]) * BC_BUFSIZE, BC_GET_NEW, 3);
	}
	e->ntrace = 0;
	assert_int_equal(bc_flush(e->c), 0);
	assert_int_equal(e->ntrace, 16);
	for (i = 0; i < e->ntrace; i++) {
		assert_true(rank[e->trace_t[i]] >= rank[seen]);
		if (i && e->trace_t[i] == e->trace_t[i - 1])
			assert_true(e->trace_off[i] > e->trace_off[i - 1]);
		seen = e->trace_t[i];
		if (i < 10)   /* the first batch: UNDO and DATA, nothing else */
			assert_true(e->trace_t[i] == BC_UNDO || e->trace_t[i] == BC_DATA);
	}
	assert_int_equal(e->trace_t[15], BC_VOLUME);
	assert_int_equal(e->commit_calls, 1);
	assert_int_equal(e->committed_calls, 1);
	assert_int_equal(bc_dirty_bytes(e->c), 0);
}

/* (4): CRC once per modified META buffer per flush, however many changes. */
static void test_delayed_crc(void **st)
{
	struct env *e = *st;
	int i;

	for (i = 0; i < 10; i++)
		touch(e, BC_META, 300 * BC_BUFSIZE, BC_GET_NEW, (uint8_t)i);
	touch(e, BC_META, 301 * BC_BUFSIZE, BC_GET_NEW, 1);
	touch(e, BC_DATA, 302 * BC_BUFSIZE, BC_GET_NEW, 1);
	e->crc_calls = 0;
	assert_int_equal(bc_flush(e->c), 0);
	assert_int_equal(e->crc_calls, 2);
	e->crc_calls = 0;
	assert_int_equal(bc_flush(e->c), 0);   /* nothing modified: no CRC */
	assert_int_equal(e->crc_calls, 0);
}

/* (3): undo once per META buffer per group, not for new buffers. */
static void test_undo_hook(void **st)
{
	struct env *e = *st;
	int i;

	touch(e, BC_META, 400 * BC_BUFSIZE, BC_GET_NEW, 1);
	assert_int_equal(bc_flush(e->c), 0);
	e->undo_calls = 0;
	touch(e, BC_META, 401 * BC_BUFSIZE, BC_GET_NEW, 1);   /* new: no pre-image */
	assert_int_equal(e->undo_calls, 0);
	for (i = 0; i < 5; i++)
		touch(e, BC_META, 400 * BC_BUFSIZE, 0, (uint8_t)i);
	assert_int_equal(e->undo_calls, 1);
	assert_int_equal(e->undo_offs[0], 400 * BC_BUFSIZE);
	touch(e, BC_DATA, 402 * BC_BUFSIZE, BC_GET_NEW, 1);   /* not META: none */
	assert_int_equal(e->undo_calls, 1);
	assert_int_equal(bc_flush(e->c), 0);
	touch(e, BC_META, 400 * BC_BUFSIZE, 0, 9);   /* next group: again */
	assert_int_equal(e->undo_calls, 2);
	assert_int_equal(bc_flush(e->c), 0);
}

/* Data survives close/open; a corrupt copy is detected, the other used and
 * the bad one rewritten (self-healing); both copies corrupt -> -EBADMSG. */
static void test_persist_and_verify(void **st)
{
	struct env *e = *st;
	struct bc_buf *b;
	uint64_t off = 500 * BC_BUFSIZE;

	touch(e, BC_META, off, BC_GET_NEW, 0x77);
	assert_int_equal(bc_flush(e->c), 0);
	env_close(e);
	env_open(e, 0);
	assert_int_equal(bc_get(e->c, BC_META, off, 0, &b), 0);
	assert_int_equal(b->b_data[64], 0x77);
	bc_put(b);
	env_close(e);
	/* corrupt copy 0 underneath (data area starts 1 MiB into each leg) */
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd),
			 "dd if=/dev/urandom of=%s bs=16384 count=1 seek=%llu conv=notrunc status=none",
			 e->img[0], (unsigned long long)((off + (1u << 20)) / BC_BUFSIZE));
		assert_int_equal(system(cmd), 0);
	}
	env_open(e, 0);
	e->verify_fail = 0;
	for (int i = 0; i < 4; i++) {   /* whichever leg round-robin picks first */
		bc_close(e->c);
		{
			struct bc_opts bo = { 0 };
			struct bc_hooks h = hooks_of(e);

			assert_int_equal(bc_open(e->rs, &bo, &h, &e->c), 0);
		}
		assert_int_equal(bc_get(e->c, BC_META, off, 0, &b), 0);
		assert_int_equal(b->b_data[64], 0x77);
		bc_put(b);
	}
	assert_true(e->verify_fail >= 1);
	/* self-healing: the bad copy was rewritten from the good one */
	{
		struct raid_comp_status cs[2];
		uint8_t *cp = malloc(BC_BUFSIZE);

		assert_int_equal(raid_status(e->rs, cs, 2), 2);
		assert_int_equal(cs[0].repaired, 1);   /* once: later loads found it good */
		assert_int_equal(cs[1].repaired, 0);
		assert_int_equal(raid_read_copy(e->rs, 0, off, cp, BC_BUFSIZE), 0);
		assert_int_equal(cp[64], 0x77);
		free(cp);
	}
	env_close(e);
	{
		char cmd[600];
		int leg;

		for (leg = 0; leg < 2; leg++) {
			snprintf(cmd, sizeof(cmd),
				 "dd if=/dev/urandom of=%s bs=16384 count=1 seek=%llu conv=notrunc status=none",
				 e->img[leg], (unsigned long long)((off + (1u << 20)) / BC_BUFSIZE));
			assert_int_equal(system(cmd), 0);
		}
	}
	env_open(e, 0);
	assert_int_equal(bc_get(e->c, BC_META, off, 0, &b), -EBADMSG);
}

/* (6): reading many buffers stays under mem_limit. */
static void test_lru_bound(void **st)
{
	struct env *e = *st;
	struct bc_stats s;
	size_t limit = 128 * BC_BUFSIZE;
	int i;

	env_close(e);
	env_open(e, limit);
	for (i = 0; i < 1000; i++) {
		struct bc_buf *b;

		assert_int_equal(bc_get(e->c, BC_DATA, (uint64_t)(1000 + i) * BC_BUFSIZE, 0, &b), 0);
		bc_put(b);
		bc_get_stats(e->c, &s);
		assert_true(s.cached_bytes <= limit);
	}
	assert_true(s.reclaims >= 1000 - 128);
}

/* bc_get_ra: a miss after a cached buffer reads the following buffers in
 * one device read, with the device's bytes; it stops at a cached (here
 * dirty) buffer and never replaces it; a miss with no cached predecessor
 * reads one buffer only. */
static void test_readahead(void **st)
{
	struct env *e = *st;
	uint64_t base = 3000 * BC_BUFSIZE, end;
	struct bc_stats s0, s1;
	struct bc_buf *b;
	uint8_t *buf = NULL;
	int i;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 8 * BC_BUFSIZE), 0);
	for (i = 0; i < 8; i++)
		memset(buf + i * BC_BUFSIZE, 0x10 + i, BC_BUFSIZE);
	assert_int_equal(raid_write(e->rs, base, buf, 8 * BC_BUFSIZE), 0);
	/* buffer 5 is cached and changed in memory only */
	assert_int_equal(bc_get(e->c, BC_DATA, base + 5 * BC_BUFSIZE, 0, &b), 0);
	assert_int_equal(bc_modify(b), 0);
	memset(b->b_data, 0x99, BC_BUFSIZE);
	bc_modify_done(b);
	bc_put(b);
	/* no cached predecessor: one buffer */
	bc_get_stats(e->c, &s0);
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base, 8, &b), 0);
	assert_int_equal(b->b_data[BC_BUFSIZE - 1], 0x10);
	bc_put(b);
	/* after it: buffers 1..4 in one read, stopping before the dirty 5 */
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base + BC_BUFSIZE, 8, &b), 0);
	assert_int_equal(b->b_data[0], 0x11);
	bc_put(b);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.misses - s0.misses, 2);
	for (i = 2; i < 5; i++) {
		assert_int_equal(bc_get(e->c, BC_DATA, base + (uint64_t)i * BC_BUFSIZE, 0, &b), 0);
		assert_int_equal(b->b_data[100], 0x10 + i);
		bc_put(b);
	}
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base + 5 * BC_BUFSIZE, 8, &b), 0);
	assert_int_equal(b->b_data[0], 0x99);   /* the cached change, not the device */
	bc_put(b);
	bc_get_stats(e->c, &s0);
	assert_int_equal(s0.misses, s1.misses);   /* 2..5 were all hits */
	/* read-ahead stops at the end of the set: the last two buffers in
	 * one read (no error for what lies beyond), and a get past the end
	 * still fails as bc_get does */
	end = raid_size(e->rs) - raid_size(e->rs) % BC_BUFSIZE;
	memset(buf, 0x77, 2 * BC_BUFSIZE);
	assert_int_equal(raid_write(e->rs, end - 2 * BC_BUFSIZE, buf, 2 * BC_BUFSIZE), 0);
	assert_int_equal(bc_get(e->c, BC_DATA, end - 3 * BC_BUFSIZE, 0, &b), 0);
	bc_put(b);
	bc_get_stats(e->c, &s0);
	assert_int_equal(bc_get_ra(e->c, BC_DATA, end - 2 * BC_BUFSIZE, 8, &b), 0);
	assert_int_equal(b->b_data[7], 0x77);
	bc_put(b);
	assert_int_equal(bc_get(e->c, BC_DATA, end - BC_BUFSIZE, 0, &b), 0);
	assert_int_equal(b->b_data[BC_BUFSIZE - 1], 0x77);
	bc_put(b);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.misses - s0.misses, 1);
	assert_int_not_equal(bc_get_ra(e->c, BC_DATA, end, 8, &b), 0);
	free(buf);
}

/* Background read-ahead (readahead.c): the first sequential miss reads 8
 * buffers and starts the next 32 in the background (held here 300 ms by
 * the fault device); a get of one of them waits for that read and hits; a
 * direct write over a buffer still loading drops it (its bytes may predate
 * the write); a get that reaches the first buffer of the window starts
 * the next one, from the first buffer not cached. */
static void test_readahead_background(void **st)
{
	struct env *e = *st;
	const char *p[2] = { e->img[0], e->img[1] };
	struct bc_opts bo = { 0 };
	struct bc_hooks h = hooks_of(e);
	struct raid_opts o = { 0 };
	struct raid_fault_counts fc;
	uint64_t base = 4000 * BC_BUFSIZE;
	const unsigned nb = 48;
	struct bc_stats s0, s1;
	char rules[300];
	struct bc_buf *b;
	uint8_t *buf = NULL, one[64];
	FILE *f;
	unsigned i;

	assert_int_equal(posix_memalign((void **)&buf, 4096, nb * BC_BUFSIZE), 0);
	for (i = 0; i < nb; i++)
		memset(buf + (size_t)i * BC_BUFSIZE, 0x20 + i, BC_BUFSIZE);
	assert_int_equal(raid_write(e->rs, base, buf, nb * BC_BUFSIZE), 0);
	env_close(e);
	/* reads in order: buffer 0 alone, then the background window (it is
	 * submitted before the 8 the caller waits for): hold the second */
	snprintf(rules, sizeof(rules), "%s.rules", e->img[0]);
	assert_non_null(f = fopen(rules, "w"));
	fprintf(f, "comp=* op=read action=delay ms=300 skip=1 count=1\n");
	fclose(f);
	o.fault = rules;
	assert_int_equal(raid_open(p, 2, &o, &e->rs), 0);
	assert_int_equal(bc_open(e->rs, &bo, &h, &e->c), 0);

	assert_int_equal(bc_get(e->c, BC_DATA, base, 0, &b), 0);
	bc_put(b);
	bc_get_stats(e->c, &s0);
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base + BC_BUFSIZE, nb - 1, &b), 0);
	assert_int_equal(b->b_data[0], 0x21);
	bc_put(b);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.ra_windows - s0.ra_windows, 1);
	assert_int_equal(s1.misses - s0.misses, 1);
	/* buffers 9..40 are still loading: not there for a peek */
	assert_int_equal(bc_peek(e->c, base + 10 * BC_BUFSIZE, one, sizeof(one)), -ENOENT);
	/* a direct write over buffer 20 while it loads */
	bc_invalidate(e->c, base + 20 * BC_BUFSIZE, BC_BUFSIZE);
	/* a get of buffer 10 waits for the window and hits */
	assert_int_equal(bc_get(e->c, BC_DATA, base + 10 * BC_BUFSIZE, 0, &b), 0);
	assert_int_equal(b->b_data[BC_BUFSIZE - 1], 0x20 + 10);
	bc_put(b);
	assert_int_equal(raid_fault_counts(e->rs, &fc), 0);
	assert_int_equal(fc.delayed, 1);
	bc_get_stats(e->c, &s0);
	assert_int_equal(s0.misses, s1.misses);
	assert_int_equal(s0.ra_failed, 0);
	for (i = 9; i <= 40; i++) {
		int r = bc_peek(e->c, base + (uint64_t)i * BC_BUFSIZE, one, sizeof(one));

		if (i == 20) {
			assert_int_equal(r, -ENOENT);   /* dropped, not kept with old bytes */
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(one[0], 0x20 + i);
	}
	assert_int_equal(bc_peek(e->c, base + 41 * BC_BUFSIZE, one, sizeof(one)), -ENOENT);
	/* buffer 9 is the window's first: reaching it starts the next window
	 * at the first buffer not cached (20) */
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base + 9 * BC_BUFSIZE, nb - 9, &b), 0);
	assert_int_equal(b->b_data[0], 0x29);
	bc_put(b);
	assert_int_equal(bc_get(e->c, BC_DATA, base + 20 * BC_BUFSIZE, 0, &b), 0);
	assert_int_equal(b->b_data[0], 0x20 + 20);
	bc_put(b);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.ra_windows - s0.ra_windows, 1);
	assert_int_equal(s1.misses, s0.misses);   /* 20 came from the new window */
	/* a second hit of buffer 9 starts nothing: the mark is spent */
	assert_int_equal(bc_get_ra(e->c, BC_DATA, base + 9 * BC_BUFSIZE, nb - 9, &b), 0);
	bc_put(b);
	bc_get_stats(e->c, &s0);
	assert_int_equal(s0.ra_windows, s1.ra_windows);
	unlink(rules);
	free(buf);
}

/* bc_get_part: a miss reads nothing, the flush writes only the sectors the
 * buffer holds (the others on disk stay), a later get or a second run of
 * sectors reads the rest first, bc_peek does not serve what it lacks. */
static void part_write(struct env *e, uint64_t off, unsigned sect, uint8_t v)
{
	struct bc_buf *b;

	assert_int_equal(bc_get_part(e->c, off, sect * 4096, 4096, &b), 0);
	assert_int_equal(bc_modify(b), 0);
	memset(b->b_data + sect * 4096, v, 4096);
	bc_modify_done(b);
	bc_put(b);
}

static void check_sectors(struct env *e, uint64_t off, const uint8_t want[4])
{
	uint8_t *buf = NULL;
	int s;

	assert_int_equal(posix_memalign((void **)&buf, 4096, BC_BUFSIZE), 0);
	assert_int_equal(raid_read(e->rs, off, buf, BC_BUFSIZE), 0);
	for (s = 0; s < 4; s++) {
		assert_int_equal(buf[s * 4096], want[s]);
		assert_int_equal(buf[s * 4096 + 4095], want[s]);
	}
	free(buf);
}

static void test_partial(void **st)
{
	struct env *e = *st;
	uint64_t base = 4000 * BC_BUFSIZE;
	struct bc_stats s0, s1;
	struct bc_buf *b;
	uint8_t *buf = NULL, peek[4096];
	int i, s;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 3 * BC_BUFSIZE), 0);
	for (i = 0; i < 3; i++)
		for (s = 0; s < 4; s++)
			memset(buf + i * BC_BUFSIZE + s * 4096, 0x10 * (i + 1) + s, 4096);
	assert_int_equal(raid_write(e->rs, base, buf, 3 * BC_BUFSIZE), 0);
	bc_get_stats(e->c, &s0);

	/* A: one sector, nothing read; the flush keeps the other three */
	part_write(e, base, 1, 0xa1);
	assert_int_equal(bc_peek(e->c, base, peek, 4096), -ENOENT);
	assert_int_equal(bc_peek(e->c, base + 4096, peek, 4096), 0);
	assert_int_equal(peek[0], 0xa1);
	/* B: sectors 0 and 2 are two runs: read in full at the second */
	part_write(e, base + BC_BUFSIZE, 0, 0xb0);
	part_write(e, base + BC_BUFSIZE, 2, 0xb2);
	/* C: sectors 2 and 3 are one run: still nothing read */
	part_write(e, base + 2 * BC_BUFSIZE, 3, 0xc3);
	part_write(e, base + 2 * BC_BUFSIZE, 2, 0xc2);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.parts - s0.parts, 3);
	assert_int_equal(s1.fills - s0.fills, 1);
	assert_int_equal(bc_flush(e->c), 0);
	bc_get_stats(e->c, &s0);
	assert_int_equal(s0.bytes_written[BC_DATA] - s1.bytes_written[BC_DATA],
			 4096 + BC_BUFSIZE + 2 * 4096);
	check_sectors(e, base, (const uint8_t[4]){ 0x10, 0xa1, 0x12, 0x13 });
	check_sectors(e, base + BC_BUFSIZE, (const uint8_t[4]){ 0xb0, 0x21, 0xb2, 0x23 });
	check_sectors(e, base + 2 * BC_BUFSIZE, (const uint8_t[4]){ 0x30, 0x31, 0xc2, 0xc3 });

	/* a plain get of A reads the rest and keeps the sector written */
	assert_int_equal(bc_get(e->c, BC_DATA, base, 0, &b), 0);
	assert_int_equal(b->b_data[0], 0x10);
	assert_int_equal(b->b_data[4096], 0xa1);
	assert_int_equal(b->b_data[3 * 4096], 0x13);
	bc_put(b);
	assert_int_equal(bc_peek(e->c, base, peek, 4096), 0);
	assert_int_equal(peek[4095], 0x10);
	bc_get_stats(e->c, &s1);
	assert_int_equal(s1.fills - s0.fills, 1);
	/* a whole-buffer part get is a new buffer; bad ranges are refused */
	assert_int_equal(bc_get_part(e->c, base, 0, BC_BUFSIZE, &b), 0);
	bc_put(b);
	assert_int_equal(bc_get_part(e->c, base, 100, 4096, &b), -EINVAL);
	assert_int_equal(bc_get_part(e->c, base, 3 * 4096, 2 * 4096, &b), -EINVAL);
	free(buf);
}

static int direct_fired;
static void ddone(void *priv, int err)
{
	usleep(20000);   /* a slow device: flush must wait for this */
	__atomic_add_fetch(&direct_fired, err ? 100 : 1, __ATOMIC_SEQ_CST);
}

static void test_direct(void **st)
{
	struct env *e = *st;
	uint8_t *buf = NULL;
	struct bc_buf *b;
	uint64_t off = 2000 * BC_BUFSIZE;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 65536), 0);
	memset(buf, 0x42, 65536);
	/* a cached buffer aliasing the range is dropped */
	assert_int_equal(bc_get(e->c, BC_DATA, off, BC_GET_NEW, &b), 0);
	bc_put(b);
	direct_fired = 0;
	assert_int_equal(bc_direct_write(e->c, off, buf, 65536, ddone, NULL), 0);
	assert_int_equal(bc_wait_all(e->c), 0);
	assert_int_equal(direct_fired, 1);   /* the placemarker waited for it */
	assert_int_equal(bc_direct_write(e->c, off, buf, 65536, ddone, NULL), 0);
	assert_int_equal(bc_flush(e->c), 0);
	assert_int_equal(direct_fired, 2);   /* flush waited for the callback */
	assert_int_equal(bc_get(e->c, BC_DATA, off, 0, &b), 0);
	assert_int_equal(b->b_data[0], 0x42);   /* re-read, not the stale zeroes */
	bc_put(b);
	memset(buf, 0, 65536);
	assert_int_equal(bc_direct_read(e->c, off, buf, 65536, 1), 0);
	assert_int_equal(buf[65535], 0x42);
	free(buf);
}

/* A META write error on the set (no copy took it) turns the cache read-only. */
static void test_critical_error(void **st)
{
	struct env *e = *st;
	struct bc_buf *b;

	touch(e, BC_META, 600 * BC_BUFSIZE, BC_GET_NEW, 1);
	raid_test_fail(e->rs, 0, 0, 1);
	raid_test_fail(e->rs, 1, 0, 1);
	assert_int_not_equal(bc_flush(e->c), 0);
	assert_true(bc_readonly(e->c));
	assert_int_equal(bc_get(e->c, BC_META, 601 * BC_BUFSIZE, BC_GET_NEW, &b), 0);
	assert_int_equal(bc_modify(b), -EROFS);
	bc_put(b);
	raid_test_fail(e->rs, 0, 0, 0);
	raid_test_fail(e->rs, 1, 0, 0);
}

struct ilock { struct env *e; struct bc_buf *b; int done; };
static int fl_done;
static void *flusher(void *arg)
{
	bc_flush(((struct env *)arg)->c);
	__atomic_store_n(&fl_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}
static void *modifier(void *arg)
{
	struct ilock *l = arg;

	assert_int_equal(bc_modify(l->b), 0);
	l->b->b_data[200] = 1;
	bc_modify_done(l->b);
	__atomic_store_n(&l->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* (5): the flusher waits for an open modify, and a modify waits for the flusher. */
static void test_interlock(void **st)
{
	struct env *e = *st;
	struct bc_buf *b;
	struct ilock l;
	pthread_t t;

	assert_int_equal(bc_get(e->c, BC_DATA, 700 * BC_BUFSIZE, BC_GET_NEW, &b), 0);
	assert_int_equal(bc_modify(b), 0);   /* held open */
	l = (struct ilock){ e, b, 0 };
	pthread_create(&t, NULL, modifier, &l);
	/* modify refs nest: the second modifier must not wait for the first.
	 * Poll (up to 10 s) rather than sleep a fixed time: on a loaded
	 * machine the thread may simply not have run yet. */
	for (int i = 0; i < 10000 && !__atomic_load_n(&l.done, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&l.done, __ATOMIC_SEQ_CST), 1);
	pthread_join(t, NULL);
	{
		pthread_t f;

		fl_done = 0;
		pthread_create(&f, NULL, flusher, e);
		usleep(30000);
		assert_int_equal(__atomic_load_n(&fl_done, __ATOMIC_SEQ_CST), 0);   /* waits for modify_done */
		bc_modify_done(b);
		pthread_join(f, NULL);
		assert_int_equal(fl_done, 1);
	}
	bc_put(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flush_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delayed_crc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readahead_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_critical_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interlock, setup, teardown),
	};

	tu_seed(7);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
