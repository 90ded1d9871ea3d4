/*
 * test_layout.c — the per-layout DAG builders (raid/layout.c): node graph
 * shape of each builder (which nodes, on which component and offset,
 * which edges, where the commit node sits), and how each shape recovers
 * when its I/O nodes fail — roll backward before the commit, roll forward
 * after it — by running the built DAG with its I/O nodes replaced by
 * function nodes that complete with a chosen error.  No devices: the set
 * is synthetic (components "present" on /dev/null, never touched).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "raid/dag.h"
#include "raid/raid_int.h"
#include "tests/unit/helpers.h"

static struct raid_set *fake_set(enum raid_layout l, int ncomp, uint32_t su)
{
	struct raid_set *s = calloc(1, sizeof(*s));
	int i, fd = open("/dev/null", O_RDWR);

	assert_non_null(s);
	assert_true(fd >= 0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->bm.bm_lock, NULL);
	pthread_cond_init(&s->bm.bm_cv, NULL);
	s->ncomp = ncomp;
	s->layout = l;
	s->ops = raid_layout_ops_of(l);
	assert_non_null(s->ops);
	assert_int_equal(raid_geom_init(&s->geom, l, ncomp, su, 64ull << 20), 0);
	s->size = raid_geom_size(&s->geom);
	for (i = 0; i < RAID_MAX_COMP; i++) {
		s->comp[i].c_fd = i < ncomp ? fd : -1;
		s->comp[i].c_state = i < ncomp ? RAID_COMP_OPTIMAL : RAID_COMP_MISSING;
	}
	return s;
}

static void fake_free(struct raid_set *s)
{
	close(s->comp[0].c_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->bm.bm_lock);
	pthread_cond_destroy(&s->bm.bm_cv);
	free(s);
}

static struct raid_io mkio(enum raid_op op, uint64_t off, void *buf, size_t len, int copy)
{
	struct raid_io io = { .io_op = op, .io_off = off, .io_buf = buf, .io_len = len, .io_copy = copy };
	return io;
}

static int count_type(struct raid_dag *d, enum raid_node_type t)
{
	int i, n = 0;

	for (i = 0; i < d->d_nnodes; i++)
		n += d->d_nodes[i].n_type == t;
	return n;
}

static struct raid_node *first_of(struct raid_dag *d, enum raid_node_type t)
{
	int i;

	for (i = 0; i < d->d_nnodes; i++)
		if (d->d_nodes[i].n_type == t)
			return &d->d_nodes[i];
	return NULL;
}

static int has_edge(struct raid_node *a, struct raid_node *b)
{
	struct raid_edge *e;

	for (e = a->n_succ; e; e = e->e_next)
		if (e->e_to == b)
			return 1;
	return 0;
}

/* Every I/O node of type t: between pre and post (edges pre->n, n->post). */
static void io_between(struct raid_dag *d, enum raid_node_type t, struct raid_node *pre,
		       struct raid_node *post)
{
	int i;

	for (i = 0; i < d->d_nnodes; i++) {
		struct raid_node *n = &d->d_nodes[i];

		if (n->n_type != t)
			continue;
		assert_true(has_edge(pre, n));
		assert_true(has_edge(n, post));
		assert_int_equal(n->n_ante, 1);
		assert_int_equal(n->n_nsucc, 1);
	}
}

/* ---- shapes ------------------------------------------------------------- */

/* stripe of 3, su 16 KiB: a 40 KiB read from 8 KiB touches units 0,1,2 ->
 * H -> {R c0 [8K,16K), R c1 [0,16K), R c2 [0,16K)... } -> C -> T */
static void test_stripe_read_shape(void **st)
{
	struct raid_set *s = fake_set(RAID_LAYOUT_STRIPE, 3, 16384);
	static uint8_t buf[64 << 10] __attribute__((aligned(4096)));
	struct raid_io io = mkio(RAID_OP_READ, 8192, buf, 40960, -1);
	struct raid_dag *d;
	struct raid_node *h, *c, *t;

	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	assert_int_equal(d->d_nnodes, 6);
	h = &d->d_nodes[0];
	c = first_of(d, RN_COMMIT);
	t = first_of(d, RN_TERM);
	assert_int_equal(h->n_type, RN_NIL);
	assert_int_equal(count_type(d, RN_READ), 3);
	io_between(d, RN_READ, h, c);     /* commit after the reads: roll back */
	assert_true(has_edge(c, t));
	assert_int_equal(d->d_nodes[3].n_comp, 0);
	assert_int_equal(d->d_nodes[3].n_off, RAID_DATA_OFF + 8192);
	assert_int_equal(d->d_nodes[3].n_len, 8192);
	assert_ptr_equal(d->d_nodes[3].n_buf, buf);
	assert_int_equal(d->d_nodes[4].n_comp, 1);
	assert_int_equal(d->d_nodes[4].n_off, RAID_DATA_OFF);
	assert_int_equal(d->d_nodes[4].n_len, 16384);
	assert_ptr_equal(d->d_nodes[4].n_buf, buf + 8192);
	assert_int_equal(d->d_nodes[5].n_comp, 2);
	assert_int_equal(d->d_nodes[5].n_len, 16384);
	raid_dag_free(d);
	/* a stripe has no second copy and no degraded operations */
	io.io_copy = 1;
	assert_int_equal(s->ops->build_read(s, &io, &d), -EIO);
	assert_null(s->ops->build_read_degraded);
	assert_null(s->ops->build_write_degraded);
	assert_null(s->ops->build_resync);
	/* a failed leg: I/O touching it cannot even be built; the rest can */
	s->comp[1].c_state = RAID_COMP_FAILED;
	io.io_copy = -1;
	assert_int_equal(s->ops->build_read(s, &io, &d), -EIO);
	io = mkio(RAID_OP_READ, 0, buf, 16384, -1);   /* unit 0: component 0 */
	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	raid_dag_free(d);
	fake_free(s);
}

static void test_stripe_write_flush_shape(void **st)
{
	struct raid_set *s = fake_set(RAID_LAYOUT_STRIPE, 2, 4096);
	static uint8_t buf[64 << 10] __attribute__((aligned(4096)));
	struct raid_io io = mkio(RAID_OP_WRITE, 4096 * 3, buf, 4096 * 4, -1);
	struct raid_dag *d;
	int i;

	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(count_type(d, RN_WRITE), 4);
	io_between(d, RN_WRITE, &d->d_nodes[0], first_of(d, RN_COMMIT));
	/* units 3,4,5,6 -> components 1,0,1,0 at rows 1,2,2,3 */
	{
		static const int comp[4] = { 1, 0, 1, 0 };
		static const uint64_t off[4] = { 4096, 8192, 8192, 12288 };

		for (i = 0; i < 4; i++) {
			assert_int_equal(d->d_nodes[3 + i].n_comp, comp[i]);
			assert_int_equal(d->d_nodes[3 + i].n_off, RAID_DATA_OFF + off[i]);
		}
	}
	raid_dag_free(d);
	io = mkio(RAID_OP_FLUSH, 0, NULL, 0, -1);
	assert_int_equal(s->ops->build_flush(s, &io, &d), 0);
	assert_int_equal(count_type(d, RN_FLUSH), 2);
	io_between(d, RN_FLUSH, &d->d_nodes[0], first_of(d, RN_COMMIT));
	raid_dag_free(d);
	fake_free(s);
}

/* mirror write: H -> C -> {W leg0, W leg1} -> T, one group */
static void test_mirror_shapes(void **st)
{
	struct raid_set *s = fake_set(RAID_LAYOUT_MIRROR, 2, 0);
	static uint8_t buf[64 << 10] __attribute__((aligned(4096)));
	struct raid_io io = mkio(RAID_OP_WRITE, 1 << 20, buf, 65536, -1);
	struct raid_dag *d;
	struct raid_node *c;

	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	c = first_of(d, RN_COMMIT);
	assert_true(has_edge(&d->d_nodes[0], c));   /* commit first: roll forward */
	assert_int_equal(count_type(d, RN_WRITE), 2);
	io_between(d, RN_WRITE, c, first_of(d, RN_TERM));
	assert_int_equal(d->d_ngroups, 1);
	assert_int_equal(first_of(d, RN_WRITE)->n_group, 0);
	assert_int_equal(count_type(d, RN_FUNC), 0);   /* optimal: no bitmap node */
	raid_dag_free(d);
	/* read: one leg, commit after */
	io.io_op = RAID_OP_READ;
	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	assert_int_equal(count_type(d, RN_READ), 1);
	io_between(d, RN_READ, &d->d_nodes[0], first_of(d, RN_COMMIT));
	raid_dag_free(d);
	/* degraded read excluding leg 0 (it failed): leg 1 */
	assert_int_equal(s->ops->build_read_degraded(s, &io, 1u << 0, &d), 0);
	assert_int_equal(first_of(d, RN_READ)->n_comp, 1);
	raid_dag_free(d);
	assert_int_equal(s->ops->build_read_degraded(s, &io, 3u, &d), -EIO);
	/* forced copy */
	io.io_copy = 1;
	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	assert_int_equal(first_of(d, RN_READ)->n_comp, 1);
	raid_dag_free(d);
	/* degraded write (leg 1 failed): H -> B -> C -> W leg0 -> T */
	s->comp[1].c_state = RAID_COMP_FAILED;
	io = mkio(RAID_OP_WRITE, 1 << 20, buf, 65536, -1);
	assert_int_equal(s->ops->build_write_degraded(s, &io, &d), 0);
	{
		struct raid_node *b = first_of(d, RN_FUNC);

		assert_non_null(b);
		c = first_of(d, RN_COMMIT);
		assert_true(has_edge(&d->d_nodes[0], b));
		assert_true(has_edge(b, c));        /* bitmap durable before commit */
		assert_false(has_edge(&d->d_nodes[0], c));
		assert_int_equal(count_type(d, RN_WRITE), 1);
		assert_int_equal(first_of(d, RN_WRITE)->n_comp, 0);
		io_between(d, RN_WRITE, c, first_of(d, RN_TERM));
	}
	raid_dag_free(d);
	/* flush: on the writable leg only; a rebuilding leg is written too */
	s->comp[1].c_state = RAID_COMP_REBUILDING;
	io = mkio(RAID_OP_FLUSH, 0, NULL, 0, -1);
	assert_int_equal(s->ops->build_flush(s, &io, &d), 0);
	assert_int_equal(count_type(d, RN_FLUSH), 2);
	raid_dag_free(d);
	/* reads never go to a rebuilding leg */
	io = mkio(RAID_OP_READ, 0, buf, 4096, 1);
	assert_int_equal(s->ops->build_read(s, &io, &d), -EIO);
	fake_free(s);
}

/* raid10 of 4, su 16 KiB: 32 KiB at 16 KiB = units 1,2 -> column 1 row 0,
 * column 0 row 1: W on comps {2,3} group 0 and {0,1} group 1. */
static void test_raid10_shapes(void **st)
{
	struct raid_set *s = fake_set(RAID_LAYOUT_RAID10, 4, 16384);
	static uint8_t buf[64 << 10] __attribute__((aligned(4096)));
	struct raid_io io = mkio(RAID_OP_WRITE, 16384, buf, 32768, -1);
	struct raid_dag *d;
	int i, g0 = 0, g1 = 0;

	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(count_type(d, RN_WRITE), 4);
	assert_int_equal(d->d_ngroups, 2);
	for (i = 0; i < d->d_nnodes; i++) {
		struct raid_node *n = &d->d_nodes[i];

		if (n->n_type != RN_WRITE)
			continue;
		if (n->n_group == 0) {
			g0++;
			assert_true(n->n_comp == 2 || n->n_comp == 3);
			assert_int_equal(n->n_off, RAID_DATA_OFF);
			assert_ptr_equal(n->n_buf, buf);
		} else {
			g1++;
			assert_int_equal(n->n_group, 1);
			assert_true(n->n_comp == 0 || n->n_comp == 1);
			assert_int_equal(n->n_off, RAID_DATA_OFF + 16384);
			assert_ptr_equal(n->n_buf, buf + 16384);
		}
	}
	assert_int_equal(g0, 2);
	assert_int_equal(g1, 2);
	raid_dag_free(d);
	/* read: one leg per segment; excluding comps 0 and 3 picks 1 and 2 */
	io.io_op = RAID_OP_READ;
	assert_int_equal(s->ops->build_read_degraded(s, &io, (1u << 0) | (1u << 3), &d), 0);
	assert_int_equal(count_type(d, RN_READ), 2);
	assert_int_equal(d->d_nodes[3].n_comp, 2);
	assert_int_equal(d->d_nodes[4].n_comp, 1);
	raid_dag_free(d);
	/* copy 1 = leg 1 of every column */
	io.io_copy = 1;
	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	assert_int_equal(d->d_nodes[3].n_comp, 3);
	assert_int_equal(d->d_nodes[4].n_comp, 1);
	raid_dag_free(d);
	/* flush: group per column */
	io = mkio(RAID_OP_FLUSH, 0, NULL, 0, -1);
	assert_int_equal(s->ops->build_flush(s, &io, &d), 0);
	assert_int_equal(d->d_ngroups, 2);
	for (i = 0; i < d->d_nnodes; i++)
		if (d->d_nodes[i].n_type == RN_FLUSH)
			assert_int_equal(d->d_nodes[i].n_group, d->d_nodes[i].n_comp / 2);
	raid_dag_free(d);
	/* resync copy: H -> R(src) -> W(dst) -> C -> T, same column only */
	assert_int_equal(s->ops->build_resync(s, 2, 3, 65536, buf, 65536, &d), 0);
	assert_int_equal(d->d_nnodes, 5);
	assert_true(has_edge(&d->d_nodes[0], first_of(d, RN_READ)));
	assert_true(has_edge(first_of(d, RN_READ), first_of(d, RN_WRITE)));
	assert_true(has_edge(first_of(d, RN_WRITE), first_of(d, RN_COMMIT)));
	assert_int_equal(first_of(d, RN_READ)->n_comp, 2);
	assert_int_equal(first_of(d, RN_WRITE)->n_comp, 3);
	raid_dag_free(d);
	assert_int_equal(s->ops->build_resync(s, 1, 3, 0, buf, 4096, &d), -EINVAL);
	/* both legs of column 1 gone: its segments cannot be written */
	s->comp[2].c_state = RAID_COMP_FAILED;
	s->comp[3].c_state = RAID_COMP_FAILED;
	io = mkio(RAID_OP_WRITE, 16384, buf, 16384, -1);
	assert_int_equal(s->ops->build_write(s, &io, &d), -EIO);
	io = mkio(RAID_OP_WRITE, 0, buf, 16384, -1);     /* column 0: fine */
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	raid_dag_free(d);
	fake_free(s);
}

/* ---- recovery of the built shapes ---------------------------------------- */

static pthread_mutex_t dm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dcv = PTHREAD_COND_INITIALIZER;
static int done_calls, done_err, fails_seen, fired;

static void on_done(struct raid_dag *d, int err)
{
	pthread_mutex_lock(&dm);
	done_calls++;
	done_err = err;
	pthread_cond_broadcast(&dcv);
	pthread_mutex_unlock(&dm);
}

static void on_fail(struct raid_dag *d, struct raid_node *n)
{
	fails_seen++;
}

static int order[64];

static void fn_done(struct raid_node *n)
{
	int i = __atomic_fetch_add(&fired, 1, __ATOMIC_SEQ_CST);

	if (i < 64)
		order[i] = (int)(n - n->n_dag->d_nodes);
	raid_node_done(n, (int)(intptr_t)n->n_priv);
}

static int commit_before_io;

/* Marks whether the commit had fired when the first I/O node ran. */
static void fn_check_commit(struct raid_node *n)
{
	if (__atomic_load_n(&fired, __ATOMIC_SEQ_CST) == 0)
		commit_before_io = n->n_dag->d_committed;
	fn_done(n);
}

/* Replace the I/O (and bitmap) nodes by function nodes completing with
 * err_of(node index); run; return the DAG's result. */
static int run_with(struct raid_dag *d, int (*err_of)(struct raid_dag *, int))
{
	int i;

	for (i = 0; i < d->d_nnodes; i++) {
		struct raid_node *n = &d->d_nodes[i];

		if (n->n_type == RN_READ || n->n_type == RN_WRITE || n->n_type == RN_FLUSH ||
		    n->n_type == RN_FUNC) {
			n->n_type = RN_FUNC;
			n->n_fn = fn_check_commit;
			n->n_priv = (void *)(intptr_t)err_of(d, i);
		}
	}
	if (d->d_on_fail)
		d->d_on_fail = on_fail;
	d->d_done = on_done;
	done_calls = fails_seen = fired = 0;
	commit_before_io = -1;
	raid_dag_dispatch(d);
	pthread_mutex_lock(&dm);
	while (!done_calls)
		pthread_cond_wait(&dcv, &dm);
	pthread_mutex_unlock(&dm);
	return done_err;
}

static int ok_all(struct raid_dag *d, int i) { return 0; }
static int fail_node3(struct raid_dag *d, int i) { return i == 3 ? -EIO : 0; }
static int fail_bitmap(struct raid_dag *d, int i) { return i == 2 ? -EIO : 0; }
static int fail_comp23(struct raid_dag *d, int i)
{
	return d->d_nodes[i].n_comp == 2 || d->d_nodes[i].n_comp == 3 ? -EIO : 0;
}
static int fail_comp1(struct raid_dag *d, int i) { return d->d_nodes[i].n_comp == 1 ? -EIO : 0; }
static int fail_odd(struct raid_dag *d, int i) { return d->d_nodes[i].n_comp % 2 ? -EIO : 0; }

static void test_recovery_directions(void **st)
{
	static uint8_t buf[64 << 10] __attribute__((aligned(4096)));
	struct raid_set *s;
	struct raid_io io;
	struct raid_dag *d;

	/* stripe write, one leg fails before the commit: roll back, -EIO,
	 * the commit never fires */
	s = fake_set(RAID_LAYOUT_STRIPE, 2, 4096);
	io = mkio(RAID_OP_WRITE, 0, buf, 16384, -1);
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(run_with(d, fail_node3), -EIO);
	assert_int_equal(first_of(d, RN_COMMIT)->n_state, RNS_SKIPPED);
	assert_int_equal(d->d_nodes[3].n_state, RNS_BAD);
	raid_dag_free(d);
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(run_with(d, ok_all), 0);
	assert_int_equal(fired, 4);
	assert_int_equal(commit_before_io, 0);   /* striped: the I/O, then the commit */
	assert_int_equal(d->d_committed, 1);
	assert_int_equal(first_of(d, RN_TERM)->n_state, RNS_GOOD);
	raid_dag_free(d);
	fake_free(s);

	/* mirror write, leg 1 fails after the commit: roll forward, success,
	 * the failure reported once (on_fail marks the leg in real life) */
	s = fake_set(RAID_LAYOUT_MIRROR, 2, 0);
	io = mkio(RAID_OP_WRITE, 0, buf, 16384, -1);
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(run_with(d, fail_comp1), 0);
	assert_int_equal(fails_seen, 1);
	assert_int_equal(fired, 2);
	assert_int_equal(commit_before_io, 1);   /* mirrored: commit, then the writes */
	raid_dag_free(d);
	/* degraded write whose bitmap node fails: roll back before any write */
	s->comp[1].c_state = RAID_COMP_MISSING;
	assert_int_equal(s->ops->build_write_degraded(s, &io, &d), 0);
	assert_int_equal(d->d_nodes[2].n_type, RN_FUNC);
	assert_int_equal(run_with(d, fail_bitmap), -EIO);
	assert_int_equal(fired, 1);   /* only the bitmap node ran */
	assert_int_equal(first_of(d, RN_TERM)->n_state, RNS_SKIPPED);
	raid_dag_free(d);
	/* and when it succeeds: bitmap node first (before the commit), then
	 * the write */
	assert_int_equal(s->ops->build_write_degraded(s, &io, &d), 0);
	assert_int_equal(run_with(d, ok_all), 0);
	assert_int_equal(fired, 2);
	assert_int_equal(order[0], 2);            /* B */
	assert_int_equal(commit_before_io, 0);
	assert_int_equal(d->d_nodes[order[1]].n_comp, 0);
	raid_dag_free(d);
	fake_free(s);

	/* raid10: one leg of each pair fails -> every segment landed once: 0;
	 * both legs of pair 1 fail -> its segment is lost: -EIO, though the
	 * DAG rolled forward and pair 0 was written */
	s = fake_set(RAID_LAYOUT_RAID10, 4, 4096);
	io = mkio(RAID_OP_WRITE, 0, buf, 8192, -1);
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(run_with(d, fail_odd), 0);
	assert_int_equal(fails_seen, 2);
	raid_dag_free(d);
	assert_int_equal(s->ops->build_write(s, &io, &d), 0);
	assert_int_equal(run_with(d, fail_comp23), -EIO);
	assert_int_equal(fails_seen, 2);
	assert_int_equal(fired, 4);
	raid_dag_free(d);
	/* raid10 read rolls back on a failed leg (set.c then retries) */
	io = mkio(RAID_OP_READ, 0, buf, 8192, 0);
	assert_int_equal(s->ops->build_read(s, &io, &d), 0);
	assert_int_equal(run_with(d, fail_node3), -EIO);
	assert_int_equal(first_of(d, RN_COMMIT)->n_state, RNS_SKIPPED);
	raid_dag_free(d);
	fake_free(s);
}

static int fail_read1(struct raid_dag *d, int i) { return i == 1 ? -EIO : 0; }

static void test_resync_copy_skips_write(void **st)
{
	static uint8_t buf[8192] __attribute__((aligned(4096)));
	struct raid_set *s = fake_set(RAID_LAYOUT_MIRROR, 2, 0);
	struct raid_dag *d;

	assert_int_equal(s->ops->build_resync(s, 0, 1, 0, buf, 4096, &d), 0);
	assert_int_equal(d->d_nodes[1].n_comp, 0);
	assert_int_equal(run_with(d, fail_read1), -EIO);
	assert_int_equal(fired, 1);
	assert_int_equal(order[0], 1);            /* R ran, W never did */
	assert_int_equal(d->d_nodes[2].n_state, RNS_SKIPPED);   /* the write */
	raid_dag_free(d);
	/* good path: R completes before W starts */
	assert_int_equal(s->ops->build_resync(s, 0, 1, 0, buf, 4096, &d), 0);
	assert_int_equal(run_with(d, ok_all), 0);
	assert_int_equal(fired, 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	raid_dag_free(d);
	fake_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stripe_read_shape),
		cmocka_unit_test(test_stripe_write_flush_shape),
		cmocka_unit_test(test_mirror_shapes),
		cmocka_unit_test(test_raid10_shapes),
		cmocka_unit_test(test_recovery_directions),
		cmocka_unit_test(test_resync_copy_skips_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
