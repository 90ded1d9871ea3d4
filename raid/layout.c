/*
 * layout.c — per-layout address math and DAG builders.
 *
 *   single read/write/flush:  H -> IO -> C -> T
 *       the commit node follows the I/O, so an error rolls backward and
 *       the logical request fails (there is no other copy).
 *   mirror read:              H -> R(leg) -> C -> T
 *       a failed read rolls backward; raid_submit then builds a degraded
 *       read DAG on another leg (exclude mask) until a copy answers.
 *   mirror write / flush:     H -> C -> {W(leg) for each healthy leg} -> T
 *       the commit node precedes the writes: a failed leg rolls forward,
 *       is marked FAILED (labels on the survivors), and the request
 *       succeeds while at least one leg took it (d_min_good = 1).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

static int comp_usable(const struct raid_set *s, int i)
{
	return s->comp[i].c_fd >= 0 && s->comp[i].c_state == RAID_COMP_OPTIMAL;
}

static int io_node(struct raid_set *s, struct raid_dag *d, enum raid_node_type t,
		   int comp, struct raid_io *io, struct raid_node **out)
{
	struct raid_node *n = raid_dag_node(d, t);

	n->n_comp = comp;
	n->n_off = io->io_off + RAID_DATA_OFF;
	n->n_buf = io->io_buf;
	n->n_len = io->io_len;
	if (t != RN_FLUSH && s->comp[comp].c_direct &&
	    ((uintptr_t)io->io_buf % RAID_SECTOR) != 0) {
		if (posix_memalign(&n->n_bounce, RAID_SECTOR, io->io_len))
			return -ENOMEM;
	}
	*out = n;
	return 0;
}

static void mirror_on_fail(struct raid_dag *d, struct raid_node *n)
{
	raid_comp_fail(d->d_set, n->n_comp,
		       n->n_type == RN_FLUSH ? "flush error" : "write error");
}

/* H -> IO -> C -> T on one component. */
static int build_chain(struct raid_set *s, struct raid_io *io, enum raid_node_type t,
		       int comp, struct raid_dag **out)
{
	struct raid_dag *d = raid_dag_new(s);
	struct raid_node *h, *x, *c, *term;
	int ret;

	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	ret = io_node(s, d, t, comp, io, &x);
	if (ret) {
		raid_dag_free(d);
		return ret;
	}
	c = raid_dag_node(d, RN_COMMIT);
	term = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, x);
	raid_dag_edge(x, c);
	raid_dag_edge(c, term);
	*out = d;
	return 0;
}

/* H -> C -> IO(each usable leg) -> T. */
static int build_fanout(struct raid_set *s, struct raid_io *io, enum raid_node_type t,
			struct raid_dag **out)
{
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *x[RAID_MAX_COMP];
	int i, n = 0, ret;

	for (i = 0; i < s->ncomp; i++)
		n += comp_usable(s, i);
	if (!n)
		return -EIO;
	d = raid_dag_new(s);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	raid_dag_edge(h, c);
	n = 0;
	for (i = 0; i < s->ncomp; i++) {
		if (!comp_usable(s, i))
			continue;
		ret = io_node(s, d, t, i, io, &x[n]);
		if (ret) {
			raid_dag_free(d);
			return ret;
		}
		raid_dag_edge(c, x[n]);
		n++;
	}
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < n; i++)
		raid_dag_edge(x[i], term);
	d->d_min_good = 1;
	d->d_on_fail = mirror_on_fail;
	*out = d;
	return 0;
}

static uint64_t single_size(const struct raid_set *s)
{
	return s->data_size;
}

static int single_read(struct raid_set *s, struct raid_io *io, unsigned exclude,
		       struct raid_dag **out)
{
	if ((exclude & 1) || (io->io_copy > 0) || !comp_usable(s, 0))
		return -EIO;
	return build_chain(s, io, RN_READ, 0, out);
}

static int single_write(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	if (!comp_usable(s, 0))
		return -EIO;
	return build_chain(s, io, RN_WRITE, 0, out);
}

static int single_flush(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	if (!comp_usable(s, 0))
		return -EIO;
	return build_chain(s, io, RN_FLUSH, 0, out);
}

/* Pick a leg for a read: the forced copy, or round-robin over usable
 * legs not yet tried. */
static int mirror_pick(struct raid_set *s, int copy, unsigned exclude)
{
	unsigned start, i;

	if (copy >= 0)
		return copy < s->ncomp && s->comp[copy].c_fd >= 0 &&
		       !(exclude & (1u << copy)) ? copy : -1;
	start = atomic_fetch_add(&s->rr, 1);
	for (i = 0; i < (unsigned)s->ncomp; i++) {
		int leg = (int)((start + i) % (unsigned)s->ncomp);

		if (comp_usable(s, leg) && !(exclude & (1u << leg)))
			return leg;
	}
	return -1;
}

static int mirror_read(struct raid_set *s, struct raid_io *io, unsigned exclude,
		       struct raid_dag **out)
{
	int leg = mirror_pick(s, io->io_copy, exclude);

	if (leg < 0)
		return -EIO;
	return build_chain(s, io, RN_READ, leg, out);
}

static int mirror_write(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return build_fanout(s, io, RN_WRITE, out);
}

static int mirror_flush(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return build_fanout(s, io, RN_FLUSH, out);
}

static const struct raid_layout_ops single_ops = {
	.name = "single", .min_comp = 1, .size = single_size,
	.build_read = single_read, .build_write = single_write, .build_flush = single_flush,
};
static const struct raid_layout_ops mirror_ops = {
	.name = "mirror", .min_comp = 2, .size = single_size,
	.build_read = mirror_read, .build_write = mirror_write, .build_flush = mirror_flush,
};

const struct raid_layout_ops *raid_layout_ops_of(enum raid_layout l)
{
	switch (l) {
	case RAID_LAYOUT_SINGLE: return &single_ops;
	case RAID_LAYOUT_MIRROR: return &mirror_ops;
	default: return NULL;   /* stripe/raid10: issue 4 */
	}
}
