/*
 * dag.c — the DAG execution engine (algorithm in dag.h).
 *
 * Threads: raid_dag_dispatch runs on the submitter; raid_node_done runs on
 * an engine completion thread (or a test's thread).  Nodes are fired after
 * d_lock is dropped, because a node may complete synchronously.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

static const char *const node_state_names[] = {
	[RNS_WAIT] = "wait", [RNS_FIRED] = "fired", [RNS_GOOD] = "good",
	[RNS_BAD] = "bad", [RNS_SKIPPED] = "skipped", [RNS_UNDONE] = "undone",
};

const char *raid_node_state_name(enum raid_node_state s)
{
	return (unsigned)s < sizeof(node_state_names) / sizeof(node_state_names[0]) ?
		node_state_names[s] : "?";
}

struct raid_dag *raid_dag_new_n(struct raid_set *s, int nodes, int edges)
{
	struct raid_dag *d;
	size_t sz;

	if (nodes < 1 || edges < 0)
		return NULL;
	/* one allocation: the DAG, its nodes, its edges, its group counters */
	sz = sizeof(*d) + (size_t)nodes * sizeof(struct raid_node) +
	     (size_t)edges * sizeof(struct raid_edge) + (size_t)nodes * sizeof(int);
	d = calloc(1, sz);
	if (!d)
		return NULL;
	d->d_nodes = (struct raid_node *)(d + 1);
	d->d_edges = (struct raid_edge *)(d->d_nodes + nodes);
	d->d_group_good = (int *)(d->d_edges + edges);
	d->d_cap = nodes;
	d->d_ecap = edges;
	pthread_mutex_init(&d->d_lock, NULL);
	d->d_set = s;
	d->d_min_good = 1;
	return d;
}

struct raid_dag *raid_dag_new(struct raid_set *s)
{
	return raid_dag_new_n(s, RAID_DAG_MAX_NODES, 2 * RAID_DAG_MAX_NODES + 8);
}

void raid_dag_free(struct raid_dag *d)
{
	int i;

	if (!d)
		return;
	for (i = 0; i < d->d_nnodes; i++)
		free(d->d_nodes[i].n_bounce);
	free(d->d_free_priv);
	pthread_mutex_destroy(&d->d_lock);
	free(d);
}

struct raid_node *raid_dag_node(struct raid_dag *d, enum raid_node_type t)
{
	struct raid_node *n;

	if (d->d_nnodes >= d->d_cap)
		abort();   /* a builder asked for more nodes than it sized the DAG for */
	n = &d->d_nodes[d->d_nnodes++];
	memset(n, 0, sizeof(*n));
	n->n_type = t;
	n->n_dag = d;
	n->n_comp = -1;
	n->n_group = -1;
	d->d_unresolved++;
	return n;
}

void raid_dag_edge(struct raid_node *a, struct raid_node *b)
{
	struct raid_dag *d = a->n_dag;
	struct raid_edge *e;

	if (d->d_nedges >= d->d_ecap || b->n_dag != d)
		abort();   /* builder bug: undersized DAG or an edge across DAGs */
	e = &d->d_edges[d->d_nedges++];
	e->e_to = b;
	e->e_next = NULL;
	if (a->n_succ_tail)
		a->n_succ_tail->e_next = e;
	else
		a->n_succ = e;
	a->n_succ_tail = e;
	a->n_nsucc++;
	b->n_ante++;
}

static int is_io(const struct raid_node *n)
{
	return n->n_type == RN_READ || n->n_type == RN_WRITE ||
	       n->n_type == RN_FLUSH || n->n_type == RN_FUNC || n->n_type == RN_DISCARD;
}

/* Resolve n (already GOOD/BAD/SKIPPED) towards its successors; collect
 * nodes to fire on the list *fire (linked through n_fire_next: a node
 * fires at most once, so it is on at most one list).  d_lock held. */
struct fire_list { struct raid_node *head, **tail; };

static void propagate(struct raid_dag *d, struct raid_node *n, struct fire_list *fire)
{
	struct raid_edge *e;

	d->d_unresolved--;
	for (e = n->n_succ; e; e = e->e_next) {
		struct raid_node *s = e->e_to;

		if (n->n_state == RNS_BAD || (n->n_state == RNS_SKIPPED && n->n_data_failed))
			s->n_data_failed = 1;
		if (--s->n_ante > 0)
			continue;
		if (s->n_state != RNS_WAIT)
			abort();   /* a node resolved twice: broken builder */
		if (d->d_rollback || (is_io(s) && s->n_data_failed)) {
			s->n_state = RNS_SKIPPED;
			propagate(d, s, fire);
		} else {
			s->n_state = RNS_FIRED;
			s->n_fire_next = NULL;   /* FIFO: successors fire in edge order */
			*fire->tail = s;
			fire->tail = &s->n_fire_next;
		}
	}
}

/* After a roll forward: did one copy of every piece land? */
static int rolled_forward_ok(const struct raid_dag *d)
{
	int g;

	if (!d->d_ngroups)
		return d->d_ngood_io >= d->d_min_good;
	for (g = 0; g < d->d_ngroups; g++)
		if (!d->d_group_good[g])
			return 0;
	return 1;
}

static void finish(struct raid_dag *d)
{
	int err = d->d_err, i;

	if (d->d_rollback) {
		for (i = d->d_nnodes - 1; i >= 0; i--) {
			struct raid_node *n = &d->d_nodes[i];

			if (n->n_state == RNS_GOOD && n->n_undo) {
				n->n_undo(n);
				n->n_state = RNS_UNDONE;
			}
		}
		if (!err)
			err = -EIO;
	} else if (err && rolled_forward_ok(d)) {
		err = 0;   /* rolled forward on the survivors */
	}
	d->d_done(d, err);   /* last touch: d may be freed */
}

static void eng_done(struct raid_eng_req *r, long res)
{
	struct raid_node *n = r->er_priv;
	int err = res < 0 ? (int)res : 0;
	struct raid_comp *c = &n->n_dag->d_set->comp[n->n_comp];

	atomic_fetch_sub(&c->c_inflight, 1);
	/* a device without discard support has no error: it cannot discard */
	if (err && !(n->n_type == RN_DISCARD && err == -EOPNOTSUPP))
		atomic_fetch_add(n->n_type == RN_READ ? &c->c_read_errs : &c->c_write_errs, 1);
	else if (n->n_type == RN_WRITE)
		raid_wlog_write(n->n_dag->d_set, n->n_comp, n->n_off, r->er_buf, n->n_len);
	else if (n->n_type == RN_FLUSH)
		raid_wlog_flush(n->n_dag->d_set, n->n_comp);
	if (!err && n->n_bounce && n->n_type == RN_READ)
		memcpy(n->n_buf, n->n_bounce, n->n_len);
	if (!err && n->n_fault)
		raid_fault_read_done(n);
	raid_node_done(n, err);
}

static void fire_one(struct raid_node *n)
{
	struct raid_dag *d = n->n_dag;
	struct raid_set *s = d->d_set;
	struct raid_eng_req *r = &n->n_req;
	int ret;

	switch (n->n_type) {
	case RN_NIL:
	case RN_TERM:
		raid_node_done(n, 0);
		return;
	case RN_COMMIT:
		pthread_mutex_lock(&d->d_lock);
		d->d_committed = 1;
		pthread_mutex_unlock(&d->d_lock);
		raid_node_done(n, 0);
		return;
	case RN_FUNC:
		n->n_fn(n);
		return;
	case RN_READ:
	case RN_WRITE:
	case RN_FLUSH:
	case RN_DISCARD:
		break;
	default:
		abort();
	}
	memset(r, 0, sizeof(*r));
	/* counted before the fd is read: raid_replace waits for c_inflight 0
	 * before it closes a replaced leg's fd; eng_done uncounts */
	atomic_fetch_add(&s->comp[n->n_comp].c_inflight, 1);
	r->er_fd = s->comp[n->n_comp].c_fd;
	r->er_op = n->n_type == RN_READ ? RAID_EOP_READ :
		   n->n_type == RN_WRITE ? RAID_EOP_WRITE :
		   n->n_type == RN_DISCARD ? RAID_EOP_DISCARD : RAID_EOP_FSYNC;
	r->er_blkdev = s->comp[n->n_comp].c_blkdev;
	r->er_off = n->n_off;
	r->er_buf = n->n_bounce ? n->n_bounce : n->n_buf;   /* NULL for a discard */
	r->er_len = n->n_len;
	if (n->n_bounce && n->n_type == RN_WRITE)
		memcpy(n->n_bounce, n->n_buf, n->n_len);
	r->er_done = eng_done;
	r->er_priv = n;
	if (r->er_fd < 0 || (n->n_type == RN_READ ? s->comp[n->n_comp].c_fail_rd :
					       s->comp[n->n_comp].c_fail_wr)) {
		eng_done(r, -EIO);   /* missing device or injected fault */
		return;
	}
	if (s->fault) {
		ret = raid_fault_filter(s, n);
		if (ret < 0) {
			eng_done(r, ret);
			return;
		}
		if (ret > 0)
			return;   /* delayed: the fault device submits it */
	}
	if (d->d_waited) {
		/* The submitter only waits: reading on its own thread saves
		 * the completion thread's wakeup and its hand-back (a futex
		 * wake of the submitter), 15-20% of the daemon's CPU per
		 * 4 KiB random read.  Nothing to batch with: one request. */
		atomic_fetch_add(&s->waited_reads, 1);
		eng_done(r, raid_engine_run(r));
		return;
	}
	ret = s->eng->ops->submit(s->eng, &r, 1);
	if (ret < 0) {
		atomic_fetch_sub(&s->comp[n->n_comp].c_inflight, 1);
		raid_node_done(n, ret);
	}
}

static void fire_all(struct raid_node *fire)
{
	while (fire) {
		struct raid_node *n = fire;

		/* read the link first: n may complete (and the DAG end) in fire_one */
		fire = n->n_fire_next;
		fire_one(n);
	}
}

void raid_dag_dispatch(struct raid_dag *d)
{
	struct raid_node *h = &d->d_nodes[0];

	pthread_mutex_lock(&d->d_lock);
	if (h->n_ante != 0 || h->n_state != RNS_WAIT)
		abort();
	h->n_state = RNS_FIRED;
	pthread_mutex_unlock(&d->d_lock);
	fire_one(h);
}

void raid_node_done(struct raid_node *n, int err)
{
	struct raid_dag *d = n->n_dag;
	struct fire_list fire = { NULL, &fire.head };
	int last;

	pthread_mutex_lock(&d->d_lock);
	if (n->n_state != RNS_FIRED)
		abort();   /* completion of a node that was not running */
	if (err && d->d_committed && d->d_on_fail && is_io(n)) {
		/* Roll-forward bookkeeping (marking a leg failed) takes set->lock:
		 * run it before n resolves, so the DAG cannot finish meanwhile. */
		pthread_mutex_unlock(&d->d_lock);
		d->d_on_fail(d, n);
		pthread_mutex_lock(&d->d_lock);
	}
	n->n_err = err;
	n->n_state = err ? RNS_BAD : RNS_GOOD;
	if (err) {
		if (!d->d_err)
			d->d_err = err;
		if (!d->d_committed)
			d->d_rollback = 1;
	} else if (is_io(n)) {
		d->d_ngood_io++;
		if (n->n_group >= 0 && n->n_group < d->d_ngroups)
			d->d_group_good[n->n_group]++;
	}
	propagate(d, n, &fire);
	last = d->d_unresolved == 0;
	pthread_mutex_unlock(&d->d_lock);
	fire_all(fire.head);
	if (last)
		finish(d);
}
