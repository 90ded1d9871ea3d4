/*
 * fuse_loop.c — the request loop: a fixed set of threads, each reading
 * /dev/fuse into a buffer of its own placed so that a WRITE request's data
 * starts on a 4 KiB boundary, and only one of them reading at a time (the
 * leader; the others are followers).
 *
 * Why not libfuse's fuse_session_loop_mt:
 *  - it mallocs each thread's buffer, so the data of a WRITE sits 80 bytes
 *    past whatever malloc returned, and O_DIRECT needs it aligned;
 *    write_batch (file.c) had to copy every whole block into an aligned
 *    staging area first (about an eighth of the daemon's CPU in a
 *    sequential write).  With the header placed just before a page
 *    boundary, whole blocks go to the device from the request itself.
 *  - it keeps every idle thread blocked in read(2) of /dev/fuse, and the
 *    kernel wakes those readers first in, first out: a synchronous
 *    caller's requests (a stat; an unlink and the GETATTR and SETATTR the
 *    kernel sends after it) each went to the thread idle longest, a cold
 *    thread, mostly on the other CPU (on a VM an interrupt into a halted
 *    vCPU).  That cost more than the work: 10,000 unlinks took 300 ms of
 *    daemon CPU on eight threads and 100 ms on one, at 4x the files/s.
 *
 * Invariants:
 *  (L1) at most one thread is in fuse_session_receive_buf (loop.reading):
 *       the leader.  The others wait on their own condition variables,
 *       the one parked last on top (loop.idle is a stack), so the thread
 *       woken next is the one whose cache is warm.
 *  (L2) a leader that took a request which may wait for the device or for
 *       other requests (data I/O, fsync, fallocate, ioctl, lseek, whose
 *       launder of cached pages needs WRITEs served meanwhile: anything
 *       not in serve_inline) first promotes a follower, so that the
 *       requests after it are read meanwhile and data requests still run
 *       in parallel on the device.
 *  (L3) a namespace or attribute request is served inline: nobody reads
 *       until it is done.  These wait for nothing but fs->lock and the
 *       device (a commit in hfs_op_begin); none waits for another FUSE
 *       request (their only notifications drop attributes, touching no
 *       page: atime_notify), so no request they need can be stuck unread.
 *
 * Exit: an unmount (ENODEV), a failed read or a signal (the handler only
 * marks the session exited; the main thread, the only one not blocking
 * the signals, waits in sem_wait and sees it) ends the session.  The main
 * thread then wakes the followers, cancels a leader blocked in read(2)
 * (cancellation is enabled only there) and joins every thread, each
 * finishing the request it serves first.  The public
 * fuse_session_receive_buf/process_buf pair does the rest.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fuse.h>
#include "fs/fuse_int.h"

/* ---- types ------------------------------------------------------------------ */

/* A WRITE request is the in-header then the write header then the data. */
#define WRITE_HDR (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))
_Static_assert(WRITE_HDR == 80, "FUSE WRITE header size");
#define PAGE 4096u
/* libfuse reads up to its bufsize: max_write (op_init: 1 MiB) plus a page
 * of headers before INIT, the same after; a spare page on top. */
#define RECV_SIZE ((1u << 20) + 2 * PAGE)

struct hfs_fuse_loop;

struct loop_thread {
	pthread_t tid;                /* immutable once started */
	struct fuse_session *se;      /* immutable */
	struct hfs_fuse_loop *loop;   /* immutable */
	void *base;                   /* what to free (the main thread) */
	struct fuse_buf buf;          /* this thread's own */
	int started;                  /* the main thread's */
	pthread_cond_t cond;          /* signalled when promoted or at stop */
	int woken;                    /* loop->lock: promoted */
	struct loop_thread *next;     /* loop->lock: the idle stack */
};

struct hfs_fuse_loop {
	sem_t done;                   /* posted when the loop stops */
	pthread_mutex_t lock;         /* protects the fields below */
	struct loop_thread *idle;     /* parked followers, last parked on top (L1) */
	int reading;                  /* a leader is in receive (L1) */
	unsigned waking;              /* promoted followers not yet leading */
	int stop;                     /* the loop is ending */
	int error;                    /* the first receive error, -errno */
	struct loop_thread *threads;  /* immutable: nthreads entries */
	unsigned nthreads;            /* immutable */
};

/* ---- helpers ---------------------------------------------------------------- */

/* (L3): the requests served without promoting a follower first. */
static int serve_inline(const struct fuse_buf *buf)
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

/* End the loop: every follower leaves, the main thread wakes.  lock held. */
static void loop_stop_locked(struct hfs_fuse_loop *loop, int err)
{
	unsigned i;

	if (err && !loop->error)
		loop->error = err;
	if (loop->stop)
		return;
	loop->stop = 1;
	for (i = 0; i < loop->nthreads; i++)
		if (loop->threads[i].started)
			pthread_cond_signal(&loop->threads[i].cond);
	sem_post(&loop->done);
}

/* (L2): make sure a thread reads while the caller serves its request; the
 * follower parked last leads.  lock held. */
static void promote_locked(struct hfs_fuse_loop *loop)
{
	struct loop_thread *t = loop->idle;

	if (loop->reading || loop->waking || !t)
		return;   /* one reads, or will; or all serve (they read after) */
	loop->idle = t->next;
	t->woken = 1;
	loop->waking++;
	pthread_cond_signal(&t->cond);
}

/* ---- internals -------------------------------------------------------------- */

static void *loop_main(void *arg)
{
	struct loop_thread *t = arg;
	struct hfs_fuse_loop *loop = t->loop;

	/* cancellable only in read(2): cancelled in pthread_cond_wait, a
	 * follower would leave holding loop->lock */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&loop->lock);
	while (!loop->stop) {
		int res;

		if (loop->reading) {
			/* (L1): a follower, on top of the stack until promoted */
			t->woken = 0;
			t->next = loop->idle;
			loop->idle = t;
			while (!t->woken && !loop->stop)
				pthread_cond_wait(&t->cond, &loop->lock);
			if (t->woken)
				loop->waking--;
			continue;
		}
		if (fuse_session_exited(t->se)) {
			loop_stop_locked(loop, 0);
			break;
		}
		loop->reading = 1;
		pthread_mutex_unlock(&loop->lock);
		/* a thread blocked in read(2) is cancelled at exit */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		t->buf.size = RECV_SIZE;
		res = fuse_session_receive_buf(t->se, &t->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&loop->lock);
		loop->reading = 0;
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			/* 0: unmounted (ENODEV: libfuse marked the session
			 * exited) or a signal */
			if (res < 0)
				fuse_session_exit(t->se);
			loop_stop_locked(loop, res);
			break;
		}
		if (!serve_inline(&t->buf))
			promote_locked(loop);
		pthread_mutex_unlock(&loop->lock);
		fuse_session_process_buf(t->se, &t->buf);
		pthread_mutex_lock(&loop->lock);
	}
	pthread_mutex_unlock(&loop->lock);
	return NULL;
}

static int start_thread(struct loop_thread *t)
{
	sigset_t block, old;
	int err;

	/* signals go to the main thread, which waits for them (fuse_set_signal_handlers) */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&t->tid, NULL, loop_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

/* ---- public ------------------------------------------------------------------- */

int hfs_fuse_loop(struct fuse_session *se, unsigned nthreads)
{
	struct hfs_fuse_loop loop;
	struct loop_thread *t;
	unsigned i, started = 0;
	int ret = 0;

	if (!nthreads)
		nthreads = 1;
	t = calloc(nthreads, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(&loop, 0, sizeof(loop));
	pthread_mutex_init(&loop.lock, NULL);
	sem_init(&loop.done, 0, 0);
	loop.threads = t;
	loop.nthreads = nthreads;
	for (i = 0; i < nthreads; i++) {
		t[i].se = se;
		t[i].loop = &loop;
		t[i].base = hfs_iobuf_alloc(RECV_SIZE + PAGE);
		if (!t[i].base) {
			ret = -ENOMEM;
			break;
		}
		/* the header ends, and a WRITE's data starts, on a page boundary */
		t[i].buf.mem = (char *)t[i].base + PAGE - WRITE_HDR;
		if (pthread_cond_init(&t[i].cond, NULL)) {
			ret = -ENOMEM;
			break;
		}
		/* under the lock: loop_stop_locked reads started */
		pthread_mutex_lock(&loop.lock);
		ret = start_thread(&t[i]);
		t[i].started = !ret;
		pthread_mutex_unlock(&loop.lock);
		if (ret) {
			pthread_cond_destroy(&t[i].cond);
			break;
		}
		started++;
	}
	if (started) {
		ret = 0;   /* fewer threads than asked still serve */
		/* sem_wait returns early on a signal; the handler marks the
		 * session exited */
		for (;;) {
			int stop;

			pthread_mutex_lock(&loop.lock);
			stop = loop.stop;
			pthread_mutex_unlock(&loop.lock);
			if (stop || fuse_session_exited(se))
				break;
			sem_wait(&loop.done);
		}
		pthread_mutex_lock(&loop.lock);
		loop_stop_locked(&loop, 0);
		pthread_mutex_unlock(&loop.lock);
		/* only a thread blocked in read(2) has cancellation enabled */
		for (i = 0; i < nthreads; i++)
			if (t[i].started)
				pthread_cancel(t[i].tid);
		for (i = 0; i < nthreads; i++)
			if (t[i].started) {
				pthread_join(t[i].tid, NULL);
				pthread_cond_destroy(&t[i].cond);
			}
		ret = loop.error;
	}
	for (i = 0; i < nthreads; i++)
		free(t[i].base);
	free(t);
	sem_destroy(&loop.done);
	pthread_mutex_destroy(&loop.lock);
	fuse_session_reset(se);
	return ret;
}
