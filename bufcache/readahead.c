/*
 * readahead.c — bufcache's read-ahead of DATA buffers (bc_get_ra).
 *
 * A miss right after a cached buffer is a sequential pass (small files
 * read in the order they were written sit in consecutive buffers).  The
 * get reads BC_RA_SYNC buffers in one device read and waits for it, as a
 * plain miss would; it also starts the next BC_RA_ASYNC buffers in the
 * background and marks the first of them.  A get that reaches a marked
 * buffer (loaded or still loading) starts the window after it, so while
 * the reader works through one window the device reads the next: its
 * gets find buffers already there instead of waiting for a device read
 * every 128 KiB (the kernel's own readahead marker works the same way).
 *
 * A background window is one raid/ read into a staging copy; its
 * completion, on raid/'s completion thread, copies the bytes into the
 * LOADING buffers (nobody else touches a LOADING buffer's bytes) and then,
 * under c->lock, makes them clean and unreferenced, or drops them on an
 * error or when a direct write overwrote their range meanwhile (b_stale,
 * bc_invalidate): a waiter then finds no buffer and reads it itself.
 * bc_close waits for the windows in flight (ra_outstanding).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "bufcache/bc_int.h"

/* the synchronous part: what the first sequential miss waits for */
#define BC_RA_SYNC   8u
/* the background windows (512 KiB: about 2 ms of a device doing
 * 250 MB/s, against 8 ms of reading 128 files of 4 KiB) */
#define BC_RA_ASYNC 32u

struct ra_window {
	struct raid_io io;
	struct bc *c;
	uint8_t *tmp;
	unsigned n;
	struct bcb *b[BC_RA_ASYNC];
};

/* Make (or drop) the buffers of a finished read: c->lock held.  n
 * buffers whose bytes start at tmp (already copied when tmp is NULL). */
static void settle(struct bc *c, struct bcb **bl, unsigned n, const uint8_t *tmp, int err)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct bcb *b = bl[i];

		if (err || (b->b_stale && b->b_refs == 0)) {
			bcb_destroy(c, b);   /* waiters find nothing and read it themselves */
			continue;
		}
		if (tmp)
			memcpy(b->pub.b_data, tmp + (size_t)i * BC_BUFSIZE, BC_BUFSIZE);
		b->b_state = BCB_CLEAN;
		b->b_stale = 0;
		b->b_undo_seq = 0;
		if (b->b_refs == 0) {   /* read ahead: reclaimable like any clean buffer */
			TAILQ_INSERT_TAIL(&c->lru, b, b_lru);
			b->b_on_lru = 1;
		}
	}
	pthread_cond_broadcast(&c->cv);
}

static void window_done(struct raid_io *io, int err)
{
	struct ra_window *w = (struct ra_window *)io;
	struct bc *c = w->c;
	unsigned i;

	if (!err)   /* outside the lock: LOADING bytes are the read-ahead's own */
		for (i = 0; i < w->n; i++)
			memcpy(w->b[i]->pub.b_data, w->tmp + (size_t)i * BC_BUFSIZE, BC_BUFSIZE);
	pthread_mutex_lock(&c->lock);
	settle(c, w->b, w->n, NULL, err);
	if (err)
		c->st.ra_failed++;
	if (--c->ra_outstanding == 0)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	free(w->tmp);
	free(w);
}

/* Buffers that may be made from off on: at most max, none past the end
 * of the set, stopping at one already cached.  c->lock held. */
static unsigned missing_run(struct bc *c, uint64_t off, unsigned max)
{
	unsigned n = 0;

	while (n < max && off + (uint64_t)(n + 1) * BC_BUFSIZE <= raid_size(c->rs) &&
	       !bcb_find(c, off + (uint64_t)n * BC_BUFSIZE))
		n++;
	return n;
}

/* Prepare a background window of up to max buffers from off (c->lock
 * held); NULL when there is nothing to read or no memory.  The caller
 * submits it with start_window after unlocking. */
static struct ra_window *new_window(struct bc *c, enum bc_type t, uint64_t off, unsigned max)
{
	unsigned n = missing_run(c, off, max < BC_RA_ASYNC ? max : BC_RA_ASYNC), i;
	struct ra_window *w;

	if (!n || !(w = calloc(1, sizeof(*w))))
		return NULL;
	if (posix_memalign((void **)&w->tmp, 4096, (size_t)n * BC_BUFSIZE)) {
		free(w);
		return NULL;
	}
	bcb_reclaim(c, (size_t)n * BC_BUFSIZE);
	for (i = 0; i < n; i++)
		if (!(w->b[i] = bcb_new(c, t, off + (uint64_t)i * BC_BUFSIZE, BCB_LOADING)))
			break;
	if (!(w->n = i)) {
		free(w->tmp);
		free(w);
		return NULL;
	}
	w->b[0]->b_ra_mark = 1;
	w->c = c;
	w->io.io_op = RAID_OP_READ;
	w->io.io_off = off;
	w->io.io_buf = w->tmp;
	w->io.io_len = (size_t)w->n * BC_BUFSIZE;
	w->io.io_copy = -1;
	w->io.io_done = window_done;
	c->ra_outstanding++;
	c->st.ra_windows++;
	return w;
}

/* Submit w (c->lock not held); a refused submission drops its buffers. */
static void start_window(struct bc *c, struct ra_window *w)
{
	if (w && raid_submit(c->rs, &w->io) != 0)
		window_done(&w->io, -EIO);
}

/* The window after a marked buffer at off: from the first buffer past
 * off that is not cached, within the current window.  c->lock held. */
static struct ra_window *next_window(struct bc *c, enum bc_type t, uint64_t off, unsigned ra)
{
	unsigned k = 1;

	while (k < ra && k <= BC_RA_ASYNC && bcb_find(c, off + (uint64_t)k * BC_BUFSIZE))
		k++;
	if (k >= ra || k > BC_RA_ASYNC)
		return NULL;
	return new_window(c, t, off + (uint64_t)k * BC_BUFSIZE, ra - k);
}

int bc_get_ra(struct bc *c, enum bc_type t, uint64_t off, unsigned ra, struct bc_buf **out)
{
	struct bcb *bl[BC_RA_SYNC], *b;
	struct ra_window *w = NULL;
	uint8_t *tmp = NULL;
	unsigned n, i;
	int ret;

	if (t != BC_DATA || ra <= 1 || off % BC_BUFSIZE)
		return bc_get(c, t, off, 0, out);
	pthread_mutex_lock(&c->lock);
	b = bcb_find(c, off);
	if (b) {
		/* a hit (or a load under way): the reader reached a background
		 * window, so the next one starts now */
		if (b->b_ra_mark) {
			b->b_ra_mark = 0;
			w = next_window(c, t, off, ra);
		}
		pthread_mutex_unlock(&c->lock);
		start_window(c, w);
		return bc_get(c, t, off, 0, out);
	}
	/* a miss that does not follow a cached buffer: not a sequential pass */
	if (off < BC_BUFSIZE || !bcb_find(c, off - BC_BUFSIZE)) {
		pthread_mutex_unlock(&c->lock);
		return bc_get(c, t, off, 0, out);
	}
	n = missing_run(c, off, ra < BC_RA_SYNC ? ra : BC_RA_SYNC);
	if (n < 2 || !(tmp = bc_mem_run(&c->mem, (size_t)n * BC_BUFSIZE))) {
		pthread_mutex_unlock(&c->lock);
		return bc_get(c, t, off, 0, out);
	}
	bcb_reclaim(c, (size_t)n * BC_BUFSIZE);
	for (i = 0; i < n; i++) {
		if (!(b = bcb_new(c, t, off + (uint64_t)i * BC_BUFSIZE, BCB_LOADING)))
			break;
		b->b_refs = i == 0;     /* the first is the caller's */
		bl[i] = b;
	}
	n = i;
	c->st.misses++;
	if (n == BC_RA_SYNC && ra > n)
		w = new_window(c, t, off + (uint64_t)n * BC_BUFSIZE, ra - n);
	pthread_mutex_unlock(&c->lock);

	start_window(c, w);
	ret = n ? raid_read(c->rs, off, tmp, (size_t)n * BC_BUFSIZE) : -ENOMEM;
	pthread_mutex_lock(&c->lock);
	settle(c, bl, n, tmp, ret);
	pthread_mutex_unlock(&c->lock);
	bc_mem_run_free(&c->mem, tmp);
	if (ret)   /* perhaps only a neighbour failed: the buffer on its own */
		return bc_get(c, t, off, 0, out);
	*out = &bl[0]->pub;
	return 0;
}
