/*
 * direct.c — bufcache's direct I/O: large file data written and read
 * straight through raid/ with completion callbacks, no copy into a
 * buffer; any cached buffer aliasing the range is dropped (bufcache.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include "bufcache/bc_int.h"

void bc_invalidate(struct bc *c, uint64_t off, uint64_t len)
{
	uint64_t o;

	pthread_mutex_lock(&c->lock);
	for (o = off - off % BC_BUFSIZE; o < off + len; o += BC_BUFSIZE) {
		struct bcb *b = bcb_find(c, o);

		if (b && b->b_state == BCB_LOADING && b->b_refs == 0) {
			b->b_stale = 1;   /* a read-ahead's: its bytes may predate the write */
			continue;
		}
		if (!b || b->b_refs > 0 || b->b_state == BCB_LOADING || b->b_state == BCB_RUNNING)
			continue;
		if (b->b_state == BCB_DIRTY) {
			/* superseded by the direct write */
			RB_REMOVE(bc_modtree, &c->tree[b->pub.b_type], b);
			c->dirty -= BC_BUFSIZE;
		}
		bcb_destroy(c, b);
	}
	pthread_mutex_unlock(&c->lock);
}

struct dio {
	struct raid_io io;
	struct bc *c;
	bc_direct_done_fn done;
	void *priv;
	struct bc_run run;
};

static void direct_done(struct raid_io *io, int err)
{
	struct dio *d = (struct dio *)io;
	struct bc *c = d->c;

	d->done(d->priv, err);
	pthread_mutex_lock(&c->lock);
	bc_run_end(c, &d->run);
	if (err && !c->direct_err)
		c->direct_err = err;
	if (--c->direct_outstanding == 0)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	free(d);
}

int bc_direct_write(struct bc *c, uint64_t off, const void *buf, size_t len,
		    bc_direct_done_fn done, void *priv)
{
	struct dio *d;
	int ret;

	if (c->readonly)
		return -EROFS;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	bc_invalidate(c, off, len);
	d->io.io_op = RAID_OP_WRITE;
	d->io.io_off = off;
	d->io.io_buf = (void *)buf;
	d->io.io_len = len;
	d->io.io_copy = -1;
	d->io.io_done = direct_done;
	d->c = c;
	d->done = done;
	d->priv = priv;
	pthread_mutex_lock(&c->lock);
	c->direct_outstanding++;
	c->st.direct_writes++;
	bc_run_start(c, &d->run);
	pthread_mutex_unlock(&c->lock);
	ret = raid_submit(c->rs, &d->io);
	if (ret) {
		pthread_mutex_lock(&c->lock);
		bc_run_end(c, &d->run);
		c->direct_outstanding--;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->lock);
		free(d);
	}
	return ret;
}

/* Reads need no place in the running-I/O list: nothing waits for them but
 * their caller, and they never make data durable. */
static void direct_read_done(struct raid_io *io, int err)
{
	struct dio *d = (struct dio *)io;

	d->done(d->priv, err);
	free(d);
}

int bc_direct_read_async(struct bc *c, uint64_t off, void *buf, size_t len, int copy,
			 bc_direct_done_fn done, void *priv)
{
	struct dio *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->io.io_op = RAID_OP_READ;
	d->io.io_off = off;
	d->io.io_buf = buf;
	d->io.io_len = len;
	d->io.io_copy = copy;
	d->io.io_done = direct_read_done;
	d->c = c;
	d->done = done;
	d->priv = priv;
	pthread_mutex_lock(&c->lock);
	c->st.direct_reads++;
	c->st.direct_read_bytes += len;
	pthread_mutex_unlock(&c->lock);
	ret = raid_submit(c->rs, &d->io);
	if (ret)
		free(d);
	return ret;
}

int bc_read_verified(struct bc *c, uint64_t off, void *buf, size_t len, raid_verify_fn verify,
		     void *priv, unsigned flags)
{
	int ret, healed = 0;

	uint64_t o;

	ret = raid_read_verified(c->rs, off, buf, len, verify, priv, flags, &healed);
	pthread_mutex_lock(&c->lock);
	/* a clean cached buffer may hold the bad bytes: the next get rereads.
	 * Dirty ones are newer than any copy on disk and stay. */
	for (o = off - off % BC_BUFSIZE; o < off + len; o += BC_BUFSIZE) {
		struct bcb *b = bcb_find(c, o);

		if (b && b->b_refs == 0 && b->b_state == BCB_CLEAN)
			bcb_destroy(c, b);
	}
	c->st.direct_reads++;
	c->st.direct_read_bytes += len;
	if (healed) {
		c->st.crc_retries++;
		c->st.repaired += (uint64_t)healed;
	}
	pthread_mutex_unlock(&c->lock);
	return ret < 0 ? ret : healed;
}

int bc_direct_read(struct bc *c, uint64_t off, void *buf, size_t len, int copy)
{
	pthread_mutex_lock(&c->lock);
	c->st.direct_reads++;
	c->st.direct_read_bytes += len;
	pthread_mutex_unlock(&c->lock);
	return copy < 0 ? raid_read(c->rs, off, buf, len) : raid_read_copy(c->rs, copy, off, buf, len);
}

int bc_wait_all(struct bc *c)
{
	struct bc_run mark = { .r_placemark = 1 };
	int err;

	/* Wait until everything issued before the placemarker has left the
	 * list; writes issued after it do not hold us up. */
	pthread_mutex_lock(&c->lock);
	TAILQ_INSERT_TAIL(&c->running, &mark, r_link);
	while (TAILQ_FIRST(&c->running) != &mark) {
		struct bc_run *r = TAILQ_FIRST(&c->running);

		if (r->r_placemark) {
			/* another waiter's mark ahead of ours: skip over it */
			struct bc_run *n = TAILQ_NEXT(r, r_link);

			while (n != &mark && n->r_placemark)
				n = TAILQ_NEXT(n, r_link);
			if (n == &mark)
				break;
		}
		pthread_cond_wait(&c->cv, &c->lock);
	}
	TAILQ_REMOVE(&c->running, &mark, r_link);
	pthread_cond_broadcast(&c->cv);
	err = c->direct_err;
	c->direct_err = 0;
	pthread_mutex_unlock(&c->lock);
	return err;
}

int bc_wait_direct(struct bc *c)
{
	return bc_wait_all(c);
}
