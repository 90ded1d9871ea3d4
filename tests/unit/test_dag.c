/*
 * test_dag.c — the DAG engine state machine with synthetic nodes (no
 * devices): firing order, skipping, roll-backward and roll-forward.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "raid/dag.h"
#include "tests/unit/helpers.h"

/* Each RN_FUNC node records its firing order and ends with the error in
 * its n_priv slot (as intptr), synchronously or from a thread. */
static int order[RAID_DAG_MAX_NODES], norder;
static int undone[RAID_DAG_MAX_NODES], nundone;
static int done_calls, done_err;
static pthread_mutex_t rec = PTHREAD_MUTEX_INITIALIZER;

static void fn_sync(struct raid_node *n)
{
	pthread_mutex_lock(&rec);
	order[norder++] = (int)(n - n->n_dag->d_nodes);
	pthread_mutex_unlock(&rec);
	raid_node_done(n, (int)(intptr_t)n->n_priv);
}

static void *async_thread(void *arg)
{
	struct raid_node *n = arg;

	usleep((useconds_t)(tu_rand() % 2000));
	raid_node_done(n, (int)(intptr_t)n->n_priv);
	return NULL;
}

static void fn_async(struct raid_node *n)
{
	pthread_t t;

	pthread_mutex_lock(&rec);
	order[norder++] = (int)(n - n->n_dag->d_nodes);
	pthread_mutex_unlock(&rec);
	assert_int_equal(pthread_create(&t, NULL, async_thread, n), 0);
	pthread_detach(t);
}

static void fn_undo(struct raid_node *n)
{
	undone[nundone++] = (int)(n - n->n_dag->d_nodes);
}

static pthread_mutex_t dm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dcv = PTHREAD_COND_INITIALIZER;

static void on_done(struct raid_dag *d, int err)
{
	pthread_mutex_lock(&dm);
	done_calls++;
	done_err = err;
	pthread_cond_broadcast(&dcv);
	pthread_mutex_unlock(&dm);
}

static void reset(void)
{
	norder = nundone = done_calls = 0;
	done_err = 12345;
}

static void run(struct raid_dag *d)
{
	d->d_done = on_done;
	raid_dag_dispatch(d);
	pthread_mutex_lock(&dm);
	while (!done_calls)
		pthread_cond_wait(&dcv, &dm);
	pthread_mutex_unlock(&dm);
	usleep(3000);   /* a second d_done would show up here */
	assert_int_equal(done_calls, 1);
}

static struct raid_node *fnode(struct raid_dag *d, void (*fn)(struct raid_node *), int err)
{
	struct raid_node *n = raid_dag_node(d, RN_FUNC);

	n->n_fn = fn;
	n->n_undo = fn_undo;
	n->n_priv = (void *)(intptr_t)err;
	return n;
}

static int pos_of(int node)
{
	int i;

	for (i = 0; i < norder; i++)
		if (order[i] == node)
			return i;
	return -1;
}

/* H -> A -> B -> C -> T: strict order, all good, no undo. */
static void test_chain_order(void **st)
{
	struct raid_dag *d = raid_dag_new(NULL);
	struct raid_node *h, *a, *b, *c, *t;

	reset();
	h = raid_dag_node(d, RN_NIL);
	a = fnode(d, fn_async, 0);
	b = fnode(d, fn_sync, 0);
	c = raid_dag_node(d, RN_COMMIT);
	t = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, a);
	raid_dag_edge(a, b);
	raid_dag_edge(b, c);
	raid_dag_edge(c, t);
	run(d);
	assert_int_equal(done_err, 0);
	assert_int_equal(norder, 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(nundone, 0);
	assert_int_equal(a->n_state, RNS_GOOD);
	raid_dag_free(d);
}

/* Diamond: H -> {A,B} -> J(join) -> C -> T.  J fires only after both. */
static void test_antecedents(void **st)
{
	int round;

	for (round = 0; round < 50; round++) {
		struct raid_dag *d = raid_dag_new(NULL);
		struct raid_node *h, *a, *b, *j, *c, *t;

		reset();
		h = raid_dag_node(d, RN_NIL);
		a = fnode(d, fn_async, 0);
		b = fnode(d, fn_async, 0);
		j = fnode(d, fn_sync, 0);
		c = raid_dag_node(d, RN_COMMIT);
		t = raid_dag_node(d, RN_TERM);
		raid_dag_edge(h, a);
		raid_dag_edge(h, b);
		raid_dag_edge(a, j);
		raid_dag_edge(b, j);
		raid_dag_edge(j, c);
		raid_dag_edge(c, t);
		run(d);
		assert_int_equal(done_err, 0);
		assert_int_equal(norder, 3);
		assert_int_equal(pos_of(3), 2);   /* J last */
		raid_dag_free(d);
	}
}

/* Failure before commit: H -> A(good) -> B(bad) -> C -> D -> T.
 * Roll backward: D is skipped, A's undo runs, result = B's error. */
static void test_rollback(void **st)
{
	struct raid_dag *d = raid_dag_new(NULL);
	struct raid_node *h, *a, *b, *c, *x, *t;

	reset();
	h = raid_dag_node(d, RN_NIL);
	a = fnode(d, fn_sync, 0);
	b = fnode(d, fn_async, -EIO);
	c = raid_dag_node(d, RN_COMMIT);
	x = fnode(d, fn_sync, 0);
	t = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, a);
	raid_dag_edge(a, b);
	raid_dag_edge(b, c);
	raid_dag_edge(c, x);
	raid_dag_edge(x, t);
	run(d);
	assert_int_equal(done_err, -EIO);
	assert_int_equal(norder, 2);            /* x never fired */
	assert_int_equal(x->n_state, RNS_SKIPPED);
	assert_int_equal(c->n_state, RNS_SKIPPED);
	assert_int_equal(nundone, 1);
	assert_int_equal(undone[0], 1);         /* a undone */
	assert_int_equal(a->n_state, RNS_UNDONE);
	assert_int_equal(b->n_state, RNS_BAD);
	raid_dag_free(d);
}

static int fails_seen;
static void count_fail(struct raid_dag *d, struct raid_node *n)
{
	fails_seen++;
}

/* Failure after commit: H -> C -> {W0 bad, W1 good, W2 good} -> T.
 * Roll forward: all legs run, no undo, success with d_min_good = 1;
 * d_on_fail reports the failed leg once. */
static void test_rollforward(void **st)
{
	struct raid_dag *d = raid_dag_new(NULL);
	struct raid_node *h, *c, *w[3], *t;
	int i;

	reset();
	fails_seen = 0;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	raid_dag_edge(h, c);
	t = NULL;
	for (i = 0; i < 3; i++) {
		w[i] = fnode(d, fn_async, i == 0 ? -EIO : 0);
		raid_dag_edge(c, w[i]);
	}
	t = raid_dag_node(d, RN_TERM);
	for (i = 0; i < 3; i++)
		raid_dag_edge(w[i], t);
	d->d_on_fail = count_fail;
	run(d);
	assert_int_equal(done_err, 0);
	assert_int_equal(norder, 3);
	assert_int_equal(nundone, 0);
	assert_int_equal(fails_seen, 1);
	assert_int_equal(w[0]->n_state, RNS_BAD);
	assert_int_equal(t->n_state, RNS_GOOD);
	raid_dag_free(d);
}

/* Roll forward with every leg failing: result is the error. */
static void test_rollforward_all_fail(void **st)
{
	struct raid_dag *d = raid_dag_new(NULL);
	struct raid_node *h, *c, *w0, *w1, *t;

	reset();
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	w0 = fnode(d, fn_sync, -EIO);
	w1 = fnode(d, fn_async, -ENOSPC);
	t = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, c);
	raid_dag_edge(c, w0);
	raid_dag_edge(c, w1);
	raid_dag_edge(w0, t);
	raid_dag_edge(w1, t);
	run(d);
	assert_true(done_err == -EIO || done_err == -ENOSPC);
	raid_dag_free(d);
}

/* After commit, an I/O node whose true-data antecedent failed is skipped,
 * while independent nodes still run: H -> C -> R(bad) -> W -> T, C -> X -> T. */
static void test_skip_on_failed_data(void **st)
{
	struct raid_dag *d = raid_dag_new(NULL);
	struct raid_node *h, *c, *r, *w, *x, *t;

	reset();
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	r = fnode(d, fn_sync, -EIO);
	w = fnode(d, fn_sync, 0);
	x = fnode(d, fn_async, 0);
	t = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, c);
	raid_dag_edge(c, r);
	raid_dag_edge(r, w);
	raid_dag_edge(c, x);
	raid_dag_edge(w, t);
	raid_dag_edge(x, t);
	run(d);
	assert_int_equal(w->n_state, RNS_SKIPPED);
	assert_int_equal(x->n_state, RNS_GOOD);
	assert_int_equal(t->n_state, RNS_GOOD);
	assert_int_equal(pos_of(3), -1);
	assert_int_equal(done_err, 0);    /* x succeeded: min_good 1 */
	raid_dag_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_antecedents),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_rollforward),
		cmocka_unit_test(test_rollforward_all_fail),
		cmocka_unit_test(test_skip_on_failed_data),
	};

	tu_seed(42);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
