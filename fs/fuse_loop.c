/*
 * fuse_loop.c — the FUSE request loop: leader and followers over /dev/fuse.
 *
 * libfuse's multithreaded loop keeps every idle worker blocked in read(2)
 * of /dev/fuse, and the kernel wakes those readers first in, first out: a
 * synchronous caller's requests (stat, then unlink, then the kernel's
 * GETATTR and SETATTR that follow it) each go to the thread that has been
 * idle longest, so every request wakes a cold thread, most often on the
 * other CPU (on a VM, an inter-processor interrupt into a halted vCPU).
 * Counted on the bench's metadata phases that cost more than the work:
 * one thread served 10,000 unlinks in 125 ms of daemon CPU against 285 ms
 * for eight, and 2-2.5x the files/s.  One thread alone would stall every
 * request behind one waiting for the device, so:
 *
 *   (L1) at most one worker is in fuse_session_receive_buf (lf.reading):
 *        the leader.  The others wait on their own condition variable,
 *        the one parked last on top (lf.idle is a stack), so the thread
 *        woken next is the one whose cache is warm.
 *   (L2) a leader that took a request which may wait for the device or
 *        for other requests (data I/O, fsync, ioctl, lseek's launder of
 *        cached pages, anything not in lf_inline) first promotes a
 *        follower (or starts a new worker, up to the limit), so that the
 *        requests after it are read meanwhile.
 *   (L3) a namespace or attribute request is served inline: nobody reads
 *        until it is done.  These wait for nothing but fs->lock and the
 *        device (a commit in hfs_op_begin); none waits for another FUSE
 *        request (their only notifications drop attributes, touching no
 *        page: atime_notify), so no request they need can be stuck unread.
 *
 * Exit: an unmount (ENODEV), an aborted connection or a signal ends the
 * session; the worker that sees it stops the loop (lf_stop_locked) and
 * posts lf.finish.  The main thread then wakes the followers and cancels
 * a leader blocked in read(2) (cancellation is enabled only there), and
 * joins every worker, each finishing the request it is serving first.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fuse.h>
#include <fuse_lowlevel.h>
#include "fs/fuse_int.h"

/* ---- types ------------------------------------------------------------------ */

struct lf_worker {
	pthread_t w_thread;
	pthread_cond_t w_cond;     /* signalled when promoted (w_woken) */
	int w_woken;               /* lf.lock */
	struct lf_worker *w_next;  /* lf.idle stack, lf.lock */
};

#define LF_MAX_THREADS 64

static struct {
	pthread_mutex_t lock;      /* protects everything below but se and finish */
	struct fuse_session *se;   /* immutable while the loop runs */
	sem_t finish;              /* posted when the loop stops */
	struct lf_worker *idle;    /* parked followers, last parked on top (L1) */
	struct lf_worker *all[LF_MAX_THREADS];
	unsigned nthreads, max;
	int reading;               /* a leader is in receive (L1) */
	unsigned waking;           /* promoted followers not yet leading */
	int stop;                  /* the loop is ending */
	int error;                 /* the first receive error (-errno) */
} lf = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- helpers ---------------------------------------------------------------- */

/* (L3): requests served without promoting a follower first. */
static int lf_inline(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*in))
		return 0;
	switch (in->opcode) {
	case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR:
	case FUSE_SETATTR: case FUSE_READLINK: case FUSE_SYMLINK: case FUSE_MKNOD:
	case FUSE_MKDIR: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME:
	case FUSE_RENAME2: case FUSE_LINK: case FUSE_OPEN: case FUSE_CREATE:
	case FUSE_RELEASE: case FUSE_FLUSH: case FUSE_OPENDIR: case FUSE_READDIR:
	case FUSE_READDIRPLUS: case FUSE_RELEASEDIR: case FUSE_STATFS: case FUSE_ACCESS:
	case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
	case FUSE_INTERRUPT:
		return 1;
	default:
		return 0;
	}
}

static void lf_stop_locked(int err)
{
	unsigned i;

	if (err && !lf.error)
		lf.error = err;
	if (lf.stop)
		return;
	lf.stop = 1;
	for (i = 0; i < lf.nthreads; i++)
		pthread_cond_signal(&lf.all[i]->w_cond);
	sem_post(&lf.finish);
}

static void *lf_work(void *arg);

/* A new worker; it leads at once if nobody reads.  lf.lock held. */
static void lf_spawn_locked(void)
{
	struct lf_worker *w;
	int err;

	if (lf.stop || lf.nthreads >= lf.max)
		return;
	w = calloc(1, sizeof(*w));
	if (!w || pthread_cond_init(&w->w_cond, NULL)) {
		free(w);
		HFS_WARN("cannot set up a FUSE worker (%u running)", lf.nthreads);
		return;
	}
	err = pthread_create(&w->w_thread, NULL, lf_work, w);
	if (err) {
		pthread_cond_destroy(&w->w_cond);
		free(w);
		HFS_WARN("cannot start a FUSE worker (%u running): %s", lf.nthreads, strerror(err));
		return;
	}
	lf.all[lf.nthreads++] = w;
}

/* (L2): make sure someone reads while the caller serves its request.
 * lf.lock held. */
static void lf_promote_locked(void)
{
	struct lf_worker *w = lf.idle;

	if (lf.reading || lf.waking)
		return;
	if (!w) {
		lf_spawn_locked();
		return;
	}
	lf.idle = w->w_next;
	w->w_woken = 1;
	lf.waking++;
	pthread_cond_signal(&w->w_cond);
}

static void lf_free_buf(void *arg)
{
	struct fuse_buf *buf = arg;

	free(buf->mem);
	buf->mem = NULL;
}

/* ---- internals -------------------------------------------------------------- */

static void *lf_work(void *arg)
{
	struct lf_worker *w = arg;
	struct fuse_buf buf;
	int res;

	memset(&buf, 0, sizeof(buf));
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(lf_free_buf, &buf);
	pthread_mutex_lock(&lf.lock);
	while (!lf.stop) {
		if (lf.reading) {
			/* (L1): park on top of the stack until promoted */
			w->w_woken = 0;
			w->w_next = lf.idle;
			lf.idle = w;
			while (!w->w_woken && !lf.stop)
				pthread_cond_wait(&w->w_cond, &lf.lock);
			if (w->w_woken)
				lf.waking--;
			continue;
		}
		if (fuse_session_exited(lf.se)) {
			lf_stop_locked(0);
			break;
		}
		lf.reading = 1;
		pthread_mutex_unlock(&lf.lock);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(lf.se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&lf.lock);
		lf.reading = 0;
		if (res == -EINTR || res == -EAGAIN)
			continue;
		/* 0: unmounted (ENODEV) or exited (a signal) */
		if (res <= 0) {
			lf_stop_locked(res);
			break;
		}
		if (!lf_inline(&buf))
			lf_promote_locked();
		pthread_mutex_unlock(&lf.lock);
		fuse_session_process_buf(lf.se, &buf);
		pthread_mutex_lock(&lf.lock);
	}
	pthread_mutex_unlock(&lf.lock);
	pthread_cleanup_pop(1);
	return NULL;
}

/* ---- public ------------------------------------------------------------------- */

/* Serve se with up to max_threads workers until it ends: 0 when it was
 * unmounted or stopped by a signal, -errno of a read from /dev/fuse that
 * failed (-ECONNABORTED: the connection was aborted).  Called once, from
 * the thread that mounted. */
int hfs_fuse_loop(struct fuse_session *se, unsigned max_threads)
{
	unsigned i, n;
	int ret;

	if (sem_init(&lf.finish, 0, 0))
		return -errno;
	pthread_mutex_lock(&lf.lock);
	lf.se = se;
	lf.max = max_threads < 1 ? 1 : max_threads > LF_MAX_THREADS ? LF_MAX_THREADS : max_threads;
	lf_spawn_locked();
	ret = lf.nthreads ? 0 : -EAGAIN;
	pthread_mutex_unlock(&lf.lock);
	if (ret) {
		sem_destroy(&lf.finish);
		return ret;
	}
	/* a signal interrupts sem_wait here, or the read of the leader */
	for (;;) {
		int stop;

		pthread_mutex_lock(&lf.lock);
		stop = lf.stop;
		pthread_mutex_unlock(&lf.lock);
		if (stop || fuse_session_exited(se))
			break;
		sem_wait(&lf.finish);
	}
	pthread_mutex_lock(&lf.lock);
	lf_stop_locked(0);
	n = lf.nthreads;
	pthread_mutex_unlock(&lf.lock);
	/* only a worker blocked in read(2) has cancellation enabled */
	for (i = 0; i < n; i++)
		pthread_cancel(lf.all[i]->w_thread);
	for (i = 0; i < n; i++) {
		pthread_join(lf.all[i]->w_thread, NULL);
		pthread_cond_destroy(&lf.all[i]->w_cond);
		free(lf.all[i]);
		lf.all[i] = NULL;
	}
	ret = lf.error;
	sem_destroy(&lf.finish);
	return ret;
}
