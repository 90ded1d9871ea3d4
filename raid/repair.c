/*
 * repair.c — per-copy access for scrub and repair: is a copy of a range
 * usable, and rewrite one copy of a range (from data the caller verified
 * on another copy), plus the set's overall state.
 *
 *   write one copy:   H -> W(component of that copy) -> C -> T
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

/* Component holding copy `copy` of logical offset off (single and mirror:
 * one column, component = copy).  -EOPNOTSUPP for striped layouts until
 * their map is here (issue 4). */
static int copy_comp(const struct raid_set *s, int copy, uint64_t off, size_t len)
{
	(void)off;
	(void)len;
	if (copy < 0 || copy >= raid_ncopies(s))
		return -EINVAL;
	if (s->layout == RAID_LAYOUT_SINGLE || s->layout == RAID_LAYOUT_MIRROR)
		return copy;
	return -EOPNOTSUPP;
}

int raid_copy_usable(struct raid_set *s, int copy, uint64_t off, size_t len)
{
	int c = copy_comp(s, copy, off, len);

	if (c < 0)
		return c;
	return s->comp[c].c_fd >= 0 && s->comp[c].c_state == RAID_COMP_OPTIMAL;
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
	struct raid_node *h, *x, *c, *t;
	struct raid_dag *d;
	int comp = copy_comp(s, copy, off, len);

	if (comp < 0)
		return comp;
	if ((off % RAID_SECTOR) || (len % RAID_SECTOR) || !len || !buf || len > (1u << 30))
		return -EINVAL;
	if (off > s->size || len > s->size - off)
		return -ERANGE;
	if (s->readonly)
		return -EROFS;
	if (s->comp[comp].c_fd < 0 || s->comp[comp].c_state != RAID_COMP_OPTIMAL)
		return -ENODEV;   /* a failed or missing leg is rebuilt, not repaired */
	d = raid_dag_new(s);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	x = raid_dag_node(d, RN_WRITE);
	x->n_comp = comp;
	x->n_off = off + RAID_DATA_OFF;
	x->n_buf = (void *)buf;
	x->n_len = len;
	if (s->comp[comp].c_direct && ((uintptr_t)buf % RAID_SECTOR)) {
		if (posix_memalign(&x->n_bounce, RAID_SECTOR, len)) {
			raid_dag_free(d);
			return -ENOMEM;
		}
	}
	c = raid_dag_node(d, RN_COMMIT);
	t = raid_dag_node(d, RN_TERM);
	raid_dag_edge(h, x);
	raid_dag_edge(x, c);
	raid_dag_edge(c, t);
	d->d_done = copy_done;
	d->d_priv = &w;
	atomic_fetch_add(&s->inflight, 1);
	raid_dag_dispatch(d);
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.m);
	pthread_mutex_unlock(&w.m);
	if (!w.err)
		atomic_fetch_add(&s->comp[comp].c_repaired, 1);
	return w.err;
}

void raid_note_crc_error(struct raid_set *s, int copy, uint64_t off, size_t len)
{
	int c = copy_comp(s, copy, off, len);

	if (c >= 0)
		atomic_fetch_add(&s->comp[c].c_crc_errs, 1);
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
