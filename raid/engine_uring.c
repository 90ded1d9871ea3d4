/*
 * engine_uring.c — io_uring engine (liburing).
 *
 * One ring per set.  Submitters take sq_lock, queue SQEs for a whole batch
 * and call io_uring_submit once (batched submission; dag.c gives it one
 * component request a call today, so each is its own submit).  A completion thread
 * reaps CQEs and runs callbacks; a short transfer is resubmitted for the
 * remainder from that thread.  Shutdown: a NOP carrying a NULL user_data
 * after every request has completed.
 * Discards go to a worker-pool engine of its own (created with the ring):
 * BLKDISCARD is an ioctl, which this liburing cannot queue, and a
 * blocking call on the reaper thread would stall every completion.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <liburing.h>
#include "raid/engine.h"

struct uring_engine {
	struct raid_engine e;
	struct io_uring ring;
	pthread_mutex_t sq_lock;
	pthread_t reaper;
	atomic_long inflight;
	struct raid_engine *aux;     /* discards (worker pool) */
};

static void uring_prep(struct io_uring_sqe *sqe, struct raid_eng_req *r)
{
	char *p = (char *)r->er_buf + r->er_done_bytes;
	unsigned len = (unsigned)(r->er_len - r->er_done_bytes);
	uint64_t off = r->er_off + r->er_done_bytes;

	switch (r->er_op) {
	case RAID_EOP_READ:  io_uring_prep_read(sqe, r->er_fd, p, len, off); break;
	case RAID_EOP_WRITE: io_uring_prep_write(sqe, r->er_fd, p, len, off); break;
	case RAID_EOP_FSYNC: io_uring_prep_fsync(sqe, r->er_fd, IORING_FSYNC_DATASYNC); break;
	default: abort();   /* impossible op */
	}
	io_uring_sqe_set_data(sqe, r);
}

/* Queue n requests; caller holds sq_lock.  Returns how many were queued. */
static int uring_queue(struct uring_engine *u, struct raid_eng_req **reqs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (!sqe) {
			/* SQ full: push what we have, then retry once. */
			io_uring_submit(&u->ring);
			sqe = io_uring_get_sqe(&u->ring);
			if (!sqe)
				break;
		}
		uring_prep(sqe, reqs[i]);
	}
	return i;
}

static int uring_submit(struct raid_engine *e, struct raid_eng_req **reqs, int n)
{
	struct uring_engine *u = (struct uring_engine *)e;
	int done = 0, ret, i;

	for (i = 0; i < n; i++)
		if (reqs[i]->er_op == RAID_EOP_DISCARD)
			break;
	if (i < n) {
		/* a batch with a discard: one at a time, each to its engine */
		for (i = 0; i < n; i++) {
			ret = reqs[i]->er_op == RAID_EOP_DISCARD ?
			      u->aux->ops->submit(u->aux, &reqs[i], 1) : uring_submit(e, &reqs[i], 1);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	atomic_fetch_add(&u->inflight, n);
	pthread_mutex_lock(&u->sq_lock);
	while (done < n) {
		int q = uring_queue(u, reqs + done, n - done);

		ret = io_uring_submit(&u->ring);
		if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) {
			pthread_mutex_unlock(&u->sq_lock);
			atomic_fetch_sub(&u->inflight, n - done);
			return ret;
		}
		done += q;
	}
	pthread_mutex_unlock(&u->sq_lock);
	return 0;
}

static void *uring_reaper(void *arg)
{
	struct uring_engine *u = arg;

	for (;;) {
		struct io_uring_cqe *cqe;
		struct raid_eng_req *r;
		int ret = io_uring_wait_cqe(&u->ring, &cqe);
		long res;

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			abort();   /* the ring itself broke: nothing sane to do */
		r = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		if (!r)
			return NULL;   /* shutdown NOP */
		if (r->er_op != RAID_EOP_FSYNC && res >= 0) {
			if (res == 0) {
				res = -EIO;   /* EOF inside a bounds-checked range */
			} else if ((size_t)res + r->er_done_bytes < r->er_len) {
				r->er_done_bytes += (size_t)res;
				pthread_mutex_lock(&u->sq_lock);
				uring_queue(u, &r, 1);
				io_uring_submit(&u->ring);
				pthread_mutex_unlock(&u->sq_lock);
				continue;
			} else {
				res = (long)r->er_len;
			}
		}
		atomic_fetch_sub(&u->inflight, 1);
		r->er_done(r, res);
	}
}

static void uring_destroy(struct raid_engine *e)
{
	struct uring_engine *u = (struct uring_engine *)e;
	struct io_uring_sqe *sqe;

	u->aux->ops->destroy(u->aux);   /* waits for its discards */
	while (atomic_load(&u->inflight) > 0)
		sched_yield();
	pthread_mutex_lock(&u->sq_lock);
	while (!(sqe = io_uring_get_sqe(&u->ring)))
		io_uring_submit(&u->ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	io_uring_submit(&u->ring);
	pthread_mutex_unlock(&u->sq_lock);
	pthread_join(u->reaper, NULL);
	io_uring_queue_exit(&u->ring);
	pthread_mutex_destroy(&u->sq_lock);
	free(u);
}

static const struct raid_engine_ops uring_ops = {
	.name = "io_uring", .submit = uring_submit, .destroy = uring_destroy,
};

int raid_engine_uring_create(unsigned depth, struct raid_engine **out)
{
	struct uring_engine *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	ret = io_uring_queue_init(depth ? depth : 128, &u->ring, 0);
	if (ret < 0) {
		free(u);
		return ret;
	}
	ret = raid_engine_pool_create(2, &u->aux);
	if (ret) {
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	pthread_mutex_init(&u->sq_lock, NULL);
	u->e.ops = &uring_ops;
	ret = -pthread_create(&u->reaper, NULL, uring_reaper, u);
	if (ret) {
		u->aux->ops->destroy(u->aux);
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	*out = &u->e;
	return 0;
}
