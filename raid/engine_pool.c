/*
 * engine_pool.c — worker-pool engine, the fallback where io_uring is not
 * available (containers often forbid it) or when forced.
 *
 * Work is hashed by (fd, 1 MiB region) onto one of nq queues, each served
 * by at most one worker, so requests to the same region run in submission
 * order.  Workers are created on demand and exit after an idle timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <linux/fs.h>
#include "raid/engine.h"

#define POOL_IDLE_SEC 10

struct pool_item {
	STAILQ_ENTRY(pool_item) link;
	struct raid_eng_req *req;
};

struct pool_queue {
	pthread_mutex_t lock;
	pthread_cond_t cv;           /* work arrived / shutdown */
	STAILQ_HEAD(, pool_item) items;
	int has_worker;              /* a worker thread is alive for this queue */
	int stop;
	long pending;                /* queued + running */
	pthread_cond_t drained;
};

struct pool_engine {
	struct raid_engine e;
	unsigned nq;
	struct pool_queue *q;
};

long raid_engine_discard(const struct raid_eng_req *r)
{
	int ret;

	if (r->er_blkdev) {
		uint64_t range[2] = { r->er_off, r->er_len };

		ret = ioctl(r->er_fd, BLKDISCARD, range);
	} else {
		ret = fallocate(r->er_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)r->er_off, (off_t)r->er_len);
	}
	if (ret == 0)
		return 0;
	/* what "this file or device cannot discard" looks like: ENOTTY from
	 * a device without the ioctl, ENOSYS/EOPNOTSUPP from a filesystem
	 * without hole punching */
	return errno == ENOTTY || errno == ENOSYS || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
}

long raid_engine_run(struct raid_eng_req *r)
{
	if (r->er_op == RAID_EOP_DISCARD)
		return raid_engine_discard(r);
	while (r->er_done_bytes < r->er_len || r->er_op == RAID_EOP_FSYNC) {
		char *p = (char *)r->er_buf + r->er_done_bytes;
		size_t len = r->er_len - r->er_done_bytes;
		off_t off = (off_t)(r->er_off + r->er_done_bytes);
		ssize_t n;

		switch (r->er_op) {
		case RAID_EOP_READ:  n = pread(r->er_fd, p, len, off); break;
		case RAID_EOP_WRITE: n = pwrite(r->er_fd, p, len, off); break;
		case RAID_EOP_FSYNC: return fdatasync(r->er_fd) ? -errno : 0;
		default: abort();
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		r->er_done_bytes += (size_t)n;
	}
	return (long)r->er_len;
}

static void *pool_worker(void *arg)
{
	struct pool_queue *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct pool_item *it;

		while (STAILQ_EMPTY(&q->items) && !q->stop) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += POOL_IDLE_SEC;
			if (pthread_cond_timedwait(&q->cv, &q->lock, &ts) == ETIMEDOUT &&
			    STAILQ_EMPTY(&q->items))
				goto out;   /* idle: exit; the next submit makes a new worker */
		}
		if (STAILQ_EMPTY(&q->items))
			goto out;   /* stop requested and nothing left */
		it = STAILQ_FIRST(&q->items);
		STAILQ_REMOVE_HEAD(&q->items, link);
		pthread_mutex_unlock(&q->lock);
		{
			struct raid_eng_req *r = it->req;
			long res;

			free(it);
			res = raid_engine_run(r);
			r->er_done(r, res);
		}
		pthread_mutex_lock(&q->lock);
		if (--q->pending == 0)
			pthread_cond_broadcast(&q->drained);
	}
out:
	q->has_worker = 0;
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int pool_submit(struct raid_engine *e, struct raid_eng_req **reqs, int n)
{
	struct pool_engine *p = (struct pool_engine *)e;
	int i;

	for (i = 0; i < n; i++) {
		struct raid_eng_req *r = reqs[i];
		unsigned h = (unsigned)(((uint64_t)r->er_fd * 2654435761u) ^ (r->er_off >> 20));
		struct pool_queue *q = &p->q[h % p->nq];
		struct pool_item *it = malloc(sizeof(*it));

		if (!it)
			return -ENOMEM;   /* requests before i were queued and will complete */
		it->req = r;
		pthread_mutex_lock(&q->lock);
		STAILQ_INSERT_TAIL(&q->items, it, link);
		q->pending++;
		if (!q->has_worker) {
			pthread_t t;

			if (pthread_create(&t, NULL, pool_worker, q) == 0) {
				pthread_detach(t);
				q->has_worker = 1;
			} else if (q->pending == 1) {
				STAILQ_REMOVE(&q->items, it, pool_item, link);
				q->pending--;
				pthread_mutex_unlock(&q->lock);
				free(it);
				return -EAGAIN;
			}
		}
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->lock);
	}
	return 0;
}

static void pool_destroy(struct raid_engine *e)
{
	struct pool_engine *p = (struct pool_engine *)e;
	unsigned i;

	for (i = 0; i < p->nq; i++) {
		struct pool_queue *q = &p->q[i];

		pthread_mutex_lock(&q->lock);
		while (q->pending > 0)
			pthread_cond_wait(&q->drained, &q->lock);
		q->stop = 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->lock);
		/* detached workers: wait until the queue's worker has left */
		for (;;) {
			int alive;

			pthread_mutex_lock(&q->lock);
			alive = q->has_worker;
			pthread_mutex_unlock(&q->lock);
			if (!alive)
				break;
			usleep(1000);
		}
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cv);
		pthread_cond_destroy(&q->drained);
	}
	free(p->q);
	free(p);
}

static const struct raid_engine_ops pool_ops = {
	.name = "pool", .submit = pool_submit, .destroy = pool_destroy,
};

int raid_engine_pool_create(unsigned workers, struct raid_engine **out)
{
	struct pool_engine *p = calloc(1, sizeof(*p));
	unsigned i;

	if (!p)
		return -ENOMEM;
	if (!workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		workers = n > 2 ? (unsigned)n * 2 : 4;
	}
	p->nq = workers;
	p->q = calloc(workers, sizeof(*p->q));
	if (!p->q) {
		free(p);
		return -ENOMEM;
	}
	for (i = 0; i < workers; i++) {
		pthread_mutex_init(&p->q[i].lock, NULL);
		pthread_cond_init(&p->q[i].cv, NULL);
		pthread_cond_init(&p->q[i].drained, NULL);
		STAILQ_INIT(&p->q[i].items);
	}
	p->e.ops = &pool_ops;
	*out = &p->e;
	return 0;
}
