/*
 * resync.c — bringing a REBUILDING leg back in sync: region by region,
 * a resync-copy DAG (layout.c: H -> R(src) -> W(dst) -> C -> T) per piece
 * of at most RS_CHUNK bytes, from a readable leg of the same column.
 * Incremental (the dirty bits of the bitmap) or full (a replacement: every
 * region).  The cursor is kept in the bitmap so a resync resumes after an
 * unmount (checkpointed every RS_CHECKPOINT regions and at the end).
 *
 * Resync vs concurrent writes (invariant R1): a region must not be copied
 * while a write to it is in flight, or the copy could put old bytes over
 * the new ones on the rebuilding leg.  Writes are never blocked (a blocked
 * submitter could hold locks a completion needs); instead writes count
 * themselves per region bucket (raid_wr_begin/end: wr_active, wr_starts),
 * and resync waits until no write to the region's bucket is in flight,
 * copies, and copies again if a write to the bucket started meanwhile.
 *
 * Finishing: the leg becomes optimal (generation++, labels); when every
 * leg is optimal the bits, the tracking generation and the FULL flag are
 * cleared on disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

#define RS_CHUNK      (1u << 20)
#define RS_CHECKPOINT 64
#define RS_MAX_REDO   64

/* Is region r stale on the resyncing leg?  bm_lock held. */
static int stale(struct raid_bitmap *b, uint64_t r)
{
	return b->rs_full || (b->bm_flags & RAID_BM_FULL) || raid_bm_test(b, r);
}

static uint64_t count_stale(struct raid_bitmap *b, uint64_t from)
{
	uint64_t r, n = 0;

	for (r = from; r < b->bm_nregions; r++)
		n += stale(b, r);
	return n;
}

int raid_resync_start(struct raid_set *s, int comp, int full)
{
	struct raid_bitmap *b = &s->bm;
	int ret = 0;

	if (!s->ops->redundant || !s->ops->build_resync || !b->bm_enabled)
		return -EOPNOTSUPP;
	if (comp < 0 || comp >= s->ncomp || s->comp[comp].c_fd < 0 ||
	    s->comp[comp].c_state != RAID_COMP_REBUILDING)
		return -EINVAL;
	pthread_mutex_lock(&b->bm_lock);
	if (b->rs_comp == comp) {
		if (full > 0 && !b->rs_full) {
			/* a replacement asked for while the leg resyncs its dirty
			 * regions: start over, copying everything */
			b->rs_full = 1;
			b->rs_cursor = 0;
			b->rs_done = 0;
			b->rs_total = count_stale(b, 0);
		}
		pthread_mutex_unlock(&b->bm_lock);
		return 0;
	}
	if (b->rs_comp >= 0) {
		/* one resync at a time (they would compete for the same disks):
		 * this leg starts when the running one finishes */
		if (!b->rs_queued[comp] || full > 0)
			b->rs_queued[comp] = full > 0 ? 2 : 1;
		pthread_mutex_unlock(&b->bm_lock);
		RAID_WARN("component %d: resync queued behind component %d's", comp, b->rs_comp);
		return 0;
	}
	b->rs_queued[comp] = 0;
	b->rs_comp = comp;
	b->rs_cursor = 0;
	if (b->rs_saved_comp == comp) {
		/* resume where the last mount stopped */
		b->rs_cursor = b->rs_saved_cursor < b->bm_nregions ? b->rs_saved_cursor : 0;
		if (full < 0)
			full = b->rs_saved_full;
	}
	b->rs_saved_comp = -1;
	b->rs_full = full > 0;
	b->rs_done = 0;
	b->rs_total = count_stale(b, b->rs_cursor);
	ret = 0;
	pthread_mutex_unlock(&b->bm_lock);
	RAID_WARN("component %d (%s): %s resync of %llu regions of %u KiB starts", comp,
		  s->comp[comp].c_path, full > 0 ? "full" : "incremental",
		  (unsigned long long)b->rs_total, (1u << b->bm_shift) >> 10);
	/* record the resync (and its mode) for a restart */
	if (raid_bm_write(s))
		RAID_WARN("resync state not recorded in the bitmap");
	return ret;
}

void raid_resync_abort_comp(struct raid_set *s, int comp)
{
	struct raid_bitmap *b = &s->bm;

	pthread_mutex_lock(&b->bm_lock);
	b->rs_queued[comp] = 0;
	if (b->rs_comp == comp) {
		RAID_WARN("component %d: resync stopped", comp);
		b->rs_comp = -1;
		b->rs_cursor = 0;
	}
	pthread_mutex_unlock(&b->bm_lock);
}

/* ---- one copy DAG, synchronously ----------------------------------------------- */

struct rs_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done, err, read_bad, write_bad;
};

static void rs_done(struct raid_dag *d, int err)
{
	struct rs_wait *w = d->d_priv;
	int i;

	pthread_mutex_lock(&w->m);
	for (i = 0; i < d->d_nnodes; i++) {
		if (d->d_nodes[i].n_state != RNS_BAD)
			continue;
		if (d->d_nodes[i].n_type == RN_READ)
			w->read_bad = 1;
		else if (d->d_nodes[i].n_type == RN_WRITE)
			w->write_bad = 1;
	}
	w->err = err;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
	raid_dag_free(d);
}

/* Copy [coff, coff+len) from src to dst.  0, or -EIO with *which = 1 (read
 * failed), 2 (write failed). */
static int copy_piece(struct raid_set *s, int src, int dst, uint64_t coff, void *buf, size_t len,
		      int *which)
{
	struct rs_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };
	struct raid_dag *d;
	int ret = s->ops->build_resync(s, src, dst, coff, buf, len, &d);

	if (ret)
		return ret;
	d->d_done = rs_done;
	d->d_priv = &w;
	atomic_fetch_add(&s->inflight, 1);
	raid_dag_dispatch(d);
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.m);
	pthread_mutex_unlock(&w.m);
	if (atomic_fetch_sub(&s->inflight, 1) == 1) {
		pthread_mutex_lock(&s->idle_lock);
		pthread_cond_broadcast(&s->idle_cv);
		pthread_mutex_unlock(&s->idle_lock);
	}
	*which = w.write_bad ? 2 : w.read_bad ? 1 : 0;
	return w.err ? -EIO : 0;
}

/* Copy region r onto dst from any readable leg of its column. */
static int copy_region(struct raid_set *s, int dst, uint64_t r, void *buf, uint64_t *bytes)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t coff = r << b->bm_shift, end = coff + (1ull << b->bm_shift), off;
	int col = dst / s->geom.g_ncopies, k, ret = -EIO;

	if (end > s->geom.g_col_size)
		end = s->geom.g_col_size;
	for (k = 0; k < s->geom.g_ncopies; k++) {
		int src = raid_geom_comp(&s->geom, col, k), which = 0;

		if (src == dst || !raid_comp_readable(s, src))
			continue;
		for (off = coff, ret = 0; off < end && !ret; off += RS_CHUNK) {
			size_t len = end - off < RS_CHUNK ? (size_t)(end - off) : RS_CHUNK;

			ret = copy_piece(s, src, dst, off, buf, len, &which);
			if (!ret)
				*bytes += len;
		}
		if (!ret)
			return 0;
		if (which == 2) {
			raid_comp_fail(s, dst, "resync write error");
			return -EIO;
		}
		RAID_WARN("resync: reading component %d failed; trying another copy", src);
	}
	return ret;
}

/* Region r's bucket has no write in flight; returns its start count. bm_lock held. */
static uint32_t quiesce(struct raid_bitmap *b, uint64_t r)
{
	b->wr_waiters++;
	while (b->wr_active[r % RAID_WR_BUCKETS])
		pthread_cond_wait(&b->bm_cv, &b->bm_lock);
	b->wr_waiters--;
	return b->wr_starts[r % RAID_WR_BUCKETS];
}

static int finish(struct raid_set *s, int comp)
{
	struct raid_bitmap *b = &s->bm;
	int i, all = 1, ret, next, full = 0;

	pthread_mutex_lock(&s->lock);
	if (s->comp[comp].c_state == RAID_COMP_REBUILDING)
		s->comp[comp].c_state = RAID_COMP_OPTIMAL;
	s->generation++;
	ret = raid_label_write_all(s);
	for (i = 0; i < s->ncomp; i++)
		all &= raid_comp_readable(s, i);
	pthread_mutex_lock(&b->bm_lock);
	b->rs_comp = -1;
	b->rs_full = 0;
	b->rs_cursor = 0;
	if (all) {
		/* every leg holds every block: nothing is stale anywhere */
		memset(b->bm_bits, 0, (b->bm_nregions + 7) / 8);
		b->bm_since = 0;
		b->bm_flags = 0;
	}
	for (next = 0; next < s->ncomp; next++)
		if (b->rs_queued[next])
			break;
	if (next < s->ncomp) {
		full = b->rs_queued[next] == 2;
		b->rs_queued[next] = 0;
	}
	pthread_mutex_unlock(&b->bm_lock);
	pthread_mutex_unlock(&s->lock);
	if (!ret)
		ret = raid_bm_write(s);
	RAID_WARN("component %d (%s): resync done, %llu bytes copied; leg optimal%s", comp,
		  s->comp[comp].c_path, (unsigned long long)b->rs_bytes,
		  all ? ", set optimal" : "");
	if (ret)
		return ret;
	if (next < s->ncomp && raid_resync_start(s, next, full) == 0)
		return 1;   /* the queued leg's resync runs next */
	return 0;
}

int raid_resync_step(struct raid_set *s)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t r, bytes = 0;
	uint32_t starts;
	void *buf;
	int comp, ret, redo;

	pthread_mutex_lock(&b->bm_lock);
	comp = b->rs_comp;
	if (comp < 0) {
		pthread_mutex_unlock(&b->bm_lock);
		return -ENOENT;
	}
	for (r = b->rs_cursor; r < b->bm_nregions && !stale(b, r); r++)
		;
	b->rs_cursor = r;
	pthread_mutex_unlock(&b->bm_lock);
	if (r >= b->bm_nregions)
		return finish(s, comp);
	if (posix_memalign(&buf, RAID_SECTOR, RS_CHUNK))
		return -ENOMEM;
	for (redo = 0;; redo++) {
		pthread_mutex_lock(&b->bm_lock);
		starts = quiesce(b, r);   /* (R1) */
		pthread_mutex_unlock(&b->bm_lock);
		ret = copy_region(s, comp, r, buf, &bytes);
		if (ret)
			break;
		pthread_mutex_lock(&b->bm_lock);
		if (b->wr_starts[r % RAID_WR_BUCKETS] == starts && !b->wr_active[r % RAID_WR_BUCKETS]) {
			pthread_mutex_unlock(&b->bm_lock);
			break;
		}
		pthread_mutex_unlock(&b->bm_lock);
		if (redo == RS_MAX_REDO)
			RAID_WARN("resync: region %llu keeps being written; still copying",
				  (unsigned long long)r);
	}
	free(buf);
	pthread_mutex_lock(&b->bm_lock);
	b->rs_bytes += bytes;
	if (ret) {
		pthread_mutex_unlock(&b->bm_lock);
		return ret;
	}
	if (b->rs_comp == comp) {
		b->rs_cursor = r + 1;
		b->rs_done++;
	}
	ret = b->rs_done % RS_CHECKPOINT == 0;
	pthread_mutex_unlock(&b->bm_lock);
	if (ret && raid_bm_write(s))
		RAID_WARN("resync checkpoint not recorded");
	return 1;
}

int raid_resync_progress(struct raid_set *s, struct raid_resync_progress *p)
{
	struct raid_bitmap *b = &s->bm;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&b->bm_lock);
	p->bytes_copied = b->rs_bytes;
	p->region_size = b->bm_enabled ? 1u << b->bm_shift : 0;
	if (b->rs_comp < 0) {
		p->comp = -1;
		ret = -ENOENT;
	} else {
		p->comp = b->rs_comp;
		p->full = b->rs_full;
		p->regions_total = b->rs_total;
		p->regions_done = b->rs_done;
	}
	pthread_mutex_unlock(&b->bm_lock);
	return ret;
}
