/*
 * layout.c — the per-layout DAG builders and the layout ops table.
 *
 * Address math lives in map.c: a request is cut into segments, one per
 * stripe unit it touches (one segment for single/mirror), and each
 * segment becomes one I/O node per copy it goes to, all in one DAG.
 * Shapes (H header NIL, C commit, T terminator; docs/DESIGN.md):
 *
 *   striped read/write (single, stripe):  H -> {IO(seg) ...} -> C -> T
 *       the commit follows the I/O: any failure rolls backward and the
 *       request fails (-EIO): there is no other copy.  Never wrong data.
 *   striped flush:                        H -> {F(comp) ...} -> C -> T
 *   mirrored read (mirror, raid10):       H -> {R(seg, one leg) ...} -> C -> T
 *       a failure rolls backward; set.c then builds the degraded read on
 *       the other legs (exclude mask) until a copy answers.
 *   mirrored write:                       H -> C -> {W(seg, leg) ...} -> T
 *       the commit precedes the writes: a failing leg rolls forward (it is
 *       marked failed, its region marked dirty), and the request succeeds
 *       when one copy of every segment landed (group per segment).
 *   mirrored degraded write:         H -> B -> C -> {W(seg, leg) ...} -> T
 *       B (bitmap node) makes the dirty bits of every segment durable on
 *       the surviving legs first; if it fails the DAG rolls back and no
 *       data is written.
 *   mirrored flush:                       H -> C -> {F(comp) ...} -> T
 *       group per column; a failed flush fails the leg and marks every
 *       region dirty (what it lost is unknown).
 *   resync copy:                          H -> R(src) -> W(dst) -> C -> T
 *       W needs R's data: it is skipped if R fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

/* ---- helpers ------------------------------------------------------------ */

int raid_comp_readable(const struct raid_set *s, int i)
{
	return i >= 0 && i < s->ncomp && s->comp[i].c_fd >= 0 &&
	       s->comp[i].c_state == RAID_COMP_OPTIMAL;
}

int raid_comp_writable(const struct raid_set *s, int i)
{
	return i >= 0 && i < s->ncomp && s->comp[i].c_fd >= 0 &&
	       (s->comp[i].c_state == RAID_COMP_OPTIMAL ||
		s->comp[i].c_state == RAID_COMP_REBUILDING);
}

int raid_col_writable(const struct raid_set *s, int col)
{
	int k, legs = 0;

	for (k = 0; k < s->geom.g_ncopies; k++)
		legs += raid_comp_writable(s, raid_geom_comp(&s->geom, col, k));
	return legs;
}

int raid_set_degraded(const struct raid_set *s)
{
	int i;

	for (i = 0; i < s->ncomp; i++)
		if (s->comp[i].c_fd < 0 || s->comp[i].c_state == RAID_COMP_FAILED ||
		    s->comp[i].c_state == RAID_COMP_MISSING)
			return 1;
	return 0;
}

/* The segments of io: *segp points at stack[] or a malloc'd array (free it
 * when it is not stack).  Count or -errno. */
#define SEG_STACK 16
static int segments(struct raid_set *s, const struct raid_io *io, struct raid_seg *stack,
		    struct raid_seg **segp)
{
	int n = raid_map_count(&s->geom, io->io_off, io->io_len), ret;
	struct raid_seg *seg = stack;

	if (n > SEG_STACK) {
		seg = malloc((size_t)n * sizeof(*seg));
		if (!seg)
			return -ENOMEM;
	}
	ret = raid_map(&s->geom, io->io_off, io->io_len, seg, n);
	if (ret < 0) {
		if (seg != stack)
			free(seg);
		return ret;
	}
	*segp = seg;
	return ret;
}

static void segments_free(struct raid_seg *seg, struct raid_seg *stack)
{
	if (seg != stack)
		free(seg);
}

/* An I/O node on comp at column offset coff. */
static int io_node(struct raid_set *s, struct raid_dag *d, enum raid_node_type t, int comp,
		   uint64_t coff, void *buf, size_t len, struct raid_node **out)
{
	struct raid_node *n = raid_dag_node(d, t);

	n->n_comp = comp;
	n->n_off = coff + RAID_DATA_OFF;
	n->n_buf = buf;
	n->n_len = len;
	if (t != RN_FLUSH && s->comp[comp].c_direct && ((uintptr_t)buf % RAID_SECTOR) != 0) {
		if (posix_memalign(&n->n_bounce, RAID_SECTOR, len))
			return -ENOMEM;
	}
	*out = n;
	return 0;
}

/* Roll-forward bookkeeping of a failed write or flush on a redundant set:
 * the leg is failed (labels on the survivors) and what it missed is dirty
 * in the bitmap, durably, before the request is acknowledged (on_fail runs
 * before the node resolves). */
static void mirror_on_fail(struct raid_dag *d, struct raid_node *n)
{
	struct raid_set *s = d->d_set;

	if (n->n_type == RN_READ)
		return;
	raid_comp_fail(s, n->n_comp, n->n_type == RN_FLUSH ? "flush error" : "write error");
	if (s->comp[n->n_comp].c_state != RAID_COMP_FAILED)
		return;   /* the last copy: the request fails instead */
	if (n->n_type == RN_FLUSH)
		raid_bm_mark_full(s);
	else
		raid_bm_mark(s, n->n_off - RAID_DATA_OFF, n->n_len);
}

/* ---- striped: single, stripe ---------------------------------------------- */

static int striped_io(struct raid_set *s, struct raid_io *io, enum raid_node_type t,
		      struct raid_dag **out)
{
	struct raid_seg stack[SEG_STACK], *seg;
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *x;
	int n, i, ret;

	if (io->io_copy > 0)
		return -EIO;   /* one copy only */
	n = segments(s, io, stack, &seg);
	if (n < 0)
		return n;
	ret = -EIO;
	for (i = 0; i < n; i++) {
		int comp = raid_geom_comp(&s->geom, seg[i].s_col, 0);

		if (t == RN_READ ? !raid_comp_readable(s, comp) : !raid_comp_writable(s, comp))
			goto out;   /* a failed stripe leg: never guess data */
	}
	ret = -ENOMEM;
	d = raid_dag_new_n(s, n + 3, 2 * n + 1);
	if (!d)
		goto out;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < n; i++) {
		ret = io_node(s, d, t, raid_geom_comp(&s->geom, seg[i].s_col, 0), seg[i].s_coff,
			      (char *)io->io_buf + seg[i].s_boff, seg[i].s_len, &x);
		if (ret) {
			raid_dag_free(d);
			goto out;
		}
		raid_dag_edge(h, x);
		raid_dag_edge(x, c);
	}
	raid_dag_edge(c, term);
	*out = d;
	ret = 0;
out:
	segments_free(seg, stack);
	return ret;
}

static int striped_read(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return striped_io(s, io, RN_READ, out);
}

static int striped_write(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return striped_io(s, io, RN_WRITE, out);
}

static int striped_flush(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *x;
	int i, ret;

	for (i = 0; i < s->ncomp; i++)
		if (!raid_comp_writable(s, i))
			return -EIO;
	d = raid_dag_new_n(s, s->ncomp + 3, 2 * s->ncomp + 1);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < s->ncomp; i++) {
		ret = io_node(s, d, RN_FLUSH, i, 0, NULL, 0, &x);
		if (ret) {
			raid_dag_free(d);
			return ret;
		}
		raid_dag_edge(h, x);
		raid_dag_edge(x, c);
	}
	raid_dag_edge(c, term);
	*out = d;
	return 0;
}

/* ---- mirrored: mirror, raid10 ------------------------------------------------ */

/* The leg of column col to read: the forced copy, or round-robin from
 * start over readable legs not in exclude.  -1 if none. */
static int pick_leg(struct raid_set *s, int col, int copy, unsigned start, unsigned exclude)
{
	int k;

	if (copy >= 0) {
		int comp = copy < s->geom.g_ncopies ? raid_geom_comp(&s->geom, col, copy) : -1;

		return raid_comp_readable(s, comp) && !(exclude & (1u << comp)) ? comp : -1;
	}
	for (k = 0; k < s->geom.g_ncopies; k++) {
		int comp = raid_geom_comp(&s->geom, col,
					  (int)((start + (unsigned)k) % (unsigned)s->geom.g_ncopies));

		if (raid_comp_readable(s, comp) && !(exclude & (1u << comp)))
			return comp;
	}
	return -1;
}

static int mirrored_read_ex(struct raid_set *s, struct raid_io *io, unsigned exclude,
			    struct raid_dag **out)
{
	struct raid_seg stack[SEG_STACK], *seg;
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *x;
	unsigned start = atomic_fetch_add(&s->rr, 1);
	int n, i, ret, *leg;

	n = segments(s, io, stack, &seg);
	if (n < 0)
		return n;
	ret = -ENOMEM;
	leg = malloc((size_t)n * sizeof(*leg));
	if (!leg)
		goto out;
	ret = -EIO;
	for (i = 0; i < n; i++) {
		/* consecutive rows alternate legs: sequential reads use every copy */
		leg[i] = pick_leg(s, seg[i].s_col, io->io_copy,
				  start + (unsigned)(seg[i].s_coff / (s->geom.g_ncols > 1 ? s->geom.g_su : 1)),
				  exclude);
		if (leg[i] < 0)
			goto out;
	}
	ret = -ENOMEM;
	d = raid_dag_new_n(s, n + 3, 2 * n + 1);
	if (!d)
		goto out;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < n; i++) {
		ret = io_node(s, d, RN_READ, leg[i], seg[i].s_coff,
			      (char *)io->io_buf + seg[i].s_boff, seg[i].s_len, &x);
		if (ret) {
			raid_dag_free(d);
			goto out;
		}
		raid_dag_edge(h, x);
		raid_dag_edge(x, c);
	}
	raid_dag_edge(c, term);
	*out = d;
	ret = 0;
out:
	free(leg);
	segments_free(seg, stack);
	return ret;
}

static int mirrored_read(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return mirrored_read_ex(s, io, 0, out);
}

static int mirrored_read_degraded(struct raid_set *s, struct raid_io *io, unsigned exclude,
				  struct raid_dag **out)
{
	return mirrored_read_ex(s, io, exclude, out);
}

/* The bitmap node B of a degraded write: every segment's region dirty and
 * durable before the commit lets the writes start. */
struct bm_node_priv {
	int n;
	struct raid_seg seg[];
};

static void bitmap_node_fn(struct raid_node *n)
{
	struct bm_node_priv *p = n->n_priv;
	struct raid_set *s = n->n_dag->d_set;
	int i, ret = 0;

	for (i = 0; i < p->n && !ret; i++)
		ret = raid_bm_mark(s, p->seg[i].s_coff, p->seg[i].s_len);
	raid_node_done(n, ret);
}

static int mirrored_write_ex(struct raid_set *s, struct raid_io *io, int with_bitmap,
			     struct raid_dag **out)
{
	struct raid_seg stack[SEG_STACK], *seg;
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *b = NULL, *x;
	struct bm_node_priv *bp = NULL;
	int n, i, k, ret, nio = 0;

	n = segments(s, io, stack, &seg);
	if (n < 0)
		return n;
	ret = -EIO;
	for (i = 0; i < n; i++) {
		int legs = raid_col_writable(s, seg[i].s_col);

		if (!legs)
			goto out;   /* no copy of this segment can take it */
		nio += legs;
	}
	ret = -ENOMEM;
	if (with_bitmap) {
		bp = malloc(sizeof(*bp) + (size_t)n * sizeof(bp->seg[0]));
		if (!bp)
			goto out;
		bp->n = n;
		for (i = 0; i < n; i++)
			bp->seg[i] = seg[i];
	}
	d = raid_dag_new_n(s, nio + 4, 2 * nio + 2);
	if (!d)
		goto out;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	if (with_bitmap) {
		b = raid_dag_node(d, RN_FUNC);
		b->n_fn = bitmap_node_fn;
		b->n_priv = bp;
		d->d_free_priv = bp;   /* freed with the DAG */
		bp = NULL;
		raid_dag_edge(h, b);
		raid_dag_edge(b, c);
	} else {
		raid_dag_edge(h, c);
	}
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < n; i++) {
		for (k = 0; k < s->geom.g_ncopies; k++) {
			int comp = raid_geom_comp(&s->geom, seg[i].s_col, k);

			if (!raid_comp_writable(s, comp))
				continue;
			ret = io_node(s, d, RN_WRITE, comp, seg[i].s_coff,
				      (char *)io->io_buf + seg[i].s_boff, seg[i].s_len, &x);
			if (ret) {
				raid_dag_free(d);
				goto out;
			}
			x->n_group = i;
			raid_dag_edge(c, x);
			raid_dag_edge(x, term);
		}
	}
	d->d_ngroups = n;
	d->d_on_fail = mirror_on_fail;
	*out = d;
	ret = 0;
out:
	free(bp);
	segments_free(seg, stack);
	return ret;
}

static int mirrored_write(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return mirrored_write_ex(s, io, 0, out);
}

static int mirrored_write_degraded(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	return mirrored_write_ex(s, io, 1, out);
}

static int mirrored_flush(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	struct raid_dag *d;
	struct raid_node *h, *c, *term, *x;
	int i, n = 0, col, ret;

	for (col = 0; col < s->geom.g_ncols; col++) {
		int legs = raid_col_writable(s, col);

		if (!legs)
			return -EIO;
		n += legs;
	}
	d = raid_dag_new_n(s, n + 3, 2 * n + 1);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	raid_dag_edge(h, c);
	term = raid_dag_node(d, RN_TERM);
	for (i = 0; i < s->ncomp; i++) {
		if (!raid_comp_writable(s, i))
			continue;
		ret = io_node(s, d, RN_FLUSH, i, 0, NULL, 0, &x);
		if (ret) {
			raid_dag_free(d);
			return ret;
		}
		x->n_group = i / s->geom.g_ncopies;   /* its column */
		raid_dag_edge(c, x);
		raid_dag_edge(x, term);
	}
	d->d_ngroups = s->geom.g_ncols;
	d->d_on_fail = mirror_on_fail;
	*out = d;
	return 0;
}

static int mirrored_resync(struct raid_set *s, int src, int dst, uint64_t coff, void *buf,
			   size_t len, struct raid_dag **out)
{
	struct raid_dag *d;
	struct raid_node *h, *r, *w, *c, *term;
	int ret;

	if (!raid_comp_readable(s, src) || !raid_comp_writable(s, dst) ||
	    src / s->geom.g_ncopies != dst / s->geom.g_ncopies || src == dst)
		return -EINVAL;
	d = raid_dag_new_n(s, 5, 4);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	ret = io_node(s, d, RN_READ, src, coff, buf, len, &r);
	if (!ret)
		ret = io_node(s, d, RN_WRITE, dst, coff, buf, len, &w);
	if (ret) {
		raid_dag_free(d);
		return ret;
	}
	c = raid_dag_node(d, RN_COMMIT);
	term = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, r);
	raid_dag_edge(r, w);   /* true data dependency: w is skipped if r fails */
	raid_dag_edge(w, c);
	raid_dag_edge(c, term);
	*out = d;
	return 0;
}

/* ---- ops table ---------------------------------------------------------------- */

static const struct raid_layout_ops single_ops = {
	.name = "single", .redundant = 0,
	.build_read = striped_read, .build_write = striped_write, .build_flush = striped_flush,
	.build_discard = raid_build_discard,
};
static const struct raid_layout_ops stripe_ops = {
	.name = "stripe", .redundant = 0,
	.build_read = striped_read, .build_write = striped_write, .build_flush = striped_flush,
	.build_discard = raid_build_discard,
};
static const struct raid_layout_ops mirror_ops = {
	.name = "mirror", .redundant = 1,
	.build_read = mirrored_read, .build_read_degraded = mirrored_read_degraded,
	.build_write = mirrored_write, .build_write_degraded = mirrored_write_degraded,
	.build_flush = mirrored_flush, .build_resync = mirrored_resync,
	.build_discard = raid_build_discard,
};
static const struct raid_layout_ops raid10_ops = {
	.name = "raid10", .redundant = 1,
	.build_read = mirrored_read, .build_read_degraded = mirrored_read_degraded,
	.build_write = mirrored_write, .build_write_degraded = mirrored_write_degraded,
	.build_flush = mirrored_flush, .build_resync = mirrored_resync,
	.build_discard = raid_build_discard,
};

const struct raid_layout_ops *raid_layout_ops_of(enum raid_layout l)
{
	switch (l) {
	case RAID_LAYOUT_SINGLE: return &single_ops;
	case RAID_LAYOUT_MIRROR: return &mirror_ops;
	case RAID_LAYOUT_STRIPE: return &stripe_ops;
	case RAID_LAYOUT_RAID10: return &raid10_ops;
	default: return NULL;
	}
}
