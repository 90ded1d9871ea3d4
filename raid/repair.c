/*
 * repair.c — per-copy access for scrub and repair: is a copy of a range
 * usable, and rewrite one copy of a range (from data the caller verified
 * on another copy), plus the set's overall state.  Copy k of a range is
 * leg k of every column it touches (map.c).
 *
 *   write one copy:   H -> {W(seg, leg k of its column) ...} -> C -> T
 *       the commit node follows the write: an error rolls backward and the
 *       caller sees it; the leg is NOT marked failed here (the scrubber
 *       counts the block unrepairable and the next regular write decides).
 *
 * Why it is safe: the caller rewrites copy k only after it read a copy j
 * != k whose CRC verified, and never touches copy j, so a power cut in the
 * middle of the rewrite leaves the good copy as it was (the vdev_mirror
 * rule: never rewrite the last good copy).
 *
 * Threads: raid_write_copy blocks the caller; completion on an engine thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

/* Components holding copy `copy` of [off, off+len): a bit mask (copy k is
 * leg k of every column the range touches, map.c); 0 with *err set when the
 * copy does not exist or the range is bad. */
static unsigned copy_comps(const struct raid_set *s, int copy, uint64_t off, size_t len, int *err)
{
	struct raid_seg one, *seg = &one;
	unsigned mask = 0;
	int n, i;

	*err = 0;
	if (copy < 0 || copy >= raid_ncopies(s)) {
		*err = -EINVAL;
		return 0;
	}
	n = raid_map_count(&s->geom, off, len);
	if (n > 1 && !(seg = malloc((size_t)n * sizeof(*seg)))) {
		*err = -ENOMEM;
		return 0;
	}
	n = raid_map(&s->geom, off, len, seg, n < 1 ? 1 : n);
	if (n < 0)
		*err = n;
	for (i = 0; i < n; i++)
		mask |= 1u << raid_geom_comp(&s->geom, seg[i].s_col, copy);
	if (seg != &one)
		free(seg);
	return *err ? 0 : mask;
}

int raid_copy_usable(struct raid_set *s, int copy, uint64_t off, size_t len)
{
	int err, i;
	unsigned mask = copy_comps(s, copy, off, len, &err);

	if (err)
		return err;
	for (i = 0; i < s->ncomp; i++)
		if ((mask & (1u << i)) && !raid_comp_readable(s, i))
			return 0;
	return 1;
}

struct copy_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done, err;
};

static void copy_done(struct raid_dag *d, int err)
{
	struct copy_wait *w = d->d_priv;
	struct raid_set *s = d->d_set;

	raid_dag_free(d);
	if (atomic_fetch_sub(&s->inflight, 1) == 1) {
		pthread_mutex_lock(&s->idle_lock);
		pthread_cond_broadcast(&s->idle_cv);
		pthread_mutex_unlock(&s->idle_lock);
	}
	pthread_mutex_lock(&w->m);
	w->err = err;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);   /* last touch of w (the waiter's stack) */
}

int raid_write_copy(struct raid_set *s, int copy, uint64_t off, const void *buf, size_t len)
{
	struct copy_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct raid_seg one, *seg = &one;
	struct raid_node *h, *x, *c, *t;
	struct raid_dag *d = NULL;
	uint64_t lo, hi;
	unsigned mask;
	int n, i, ret;

	if ((off % RAID_SECTOR) || (len % RAID_SECTOR) || !len || !buf || len > (1u << 30))
		return -EINVAL;
	if (off > s->size || len > s->size - off)
		return -ERANGE;
	mask = copy_comps(s, copy, off, len, &ret);
	if (ret)
		return ret;
	if (s->readonly)
		return -EROFS;
	for (i = 0; i < s->ncomp; i++)
		if ((mask & (1u << i)) && !raid_comp_readable(s, i))
			return -ENODEV;   /* a failed, missing or rebuilding leg is rebuilt, not repaired */
	n = raid_map_count(&s->geom, off, len);
	if (n > 1 && !(seg = malloc((size_t)n * sizeof(*seg))))
		return -ENOMEM;
	n = raid_map(&s->geom, off, len, seg, n);
	ret = -ENOMEM;
	if (n > 0)
		d = raid_dag_new_n(s, n + 3, 2 * n + 1);
	if (!d)
		goto out;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	t = raid_dag_node(d, RN_TERM);
	for (i = 0; i < n; i++) {
		x = raid_dag_node(d, RN_WRITE);
		x->n_comp = raid_geom_comp(&s->geom, seg[i].s_col, copy);
		x->n_off = seg[i].s_coff + RAID_DATA_OFF;
		x->n_buf = (char *)buf + seg[i].s_boff;
		x->n_len = seg[i].s_len;
		if (s->comp[x->n_comp].c_direct && ((uintptr_t)x->n_buf % RAID_SECTOR) &&
		    posix_memalign(&x->n_bounce, RAID_SECTOR, x->n_len)) {
			raid_dag_free(d);
			goto out;
		}
		raid_dag_edge(h, x);
		raid_dag_edge(x, c);
	}
	raid_dag_edge(c, t);
	d->d_done = copy_done;
	d->d_priv = &w;
	/* a write like any other for a resync running on another leg */
	raid_map_span(&s->geom, off, len, &lo, &hi);
	raid_wr_begin(s, lo, hi);
	atomic_fetch_add(&s->inflight, 1);
	raid_dag_dispatch(d);
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.m);
	pthread_mutex_unlock(&w.m);
	raid_wr_end(s, lo, hi);
	if (!w.err)
		for (i = 0; i < s->ncomp; i++)
			if (mask & (1u << i))
				atomic_fetch_add(&s->comp[i].c_repaired, 1);
	ret = w.err;
out:
	if (seg != &one)
		free(seg);
	return ret;
}

void raid_note_crc_error(struct raid_set *s, int copy, uint64_t off, size_t len)
{
	int err, i;
	unsigned mask = copy_comps(s, copy, off, len, &err);

	for (i = 0; i < s->ncomp; i++)
		if (mask & (1u << i))
			atomic_fetch_add(&s->comp[i].c_crc_errs, 1);
}

const char *raid_set_state(struct raid_set *s)
{
	int i, rebuilding = 0, degraded = 0;

	for (i = 0; i < s->ncomp; i++) {
		rebuilding += s->comp[i].c_state == RAID_COMP_REBUILDING;
		degraded += s->comp[i].c_state == RAID_COMP_FAILED ||
			    s->comp[i].c_state == RAID_COMP_MISSING;
	}
	return rebuilding ? "rebuilding" : degraded ? "degraded" : "optimal";
}
