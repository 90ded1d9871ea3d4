/*
 * fuse_loop.c — the request loop: a fixed set of threads, each reading
 * /dev/fuse into a buffer of its own, placed so that a WRITE request's
 * data starts on a 4 KiB boundary.
 *
 * Why not libfuse's fuse_session_loop_mt: it mallocs each thread's buffer,
 * so the data of a WRITE sits 80 bytes past whatever malloc returned, and
 * O_DIRECT needs it aligned; write_batch (file.c) had to copy every whole
 * block into an aligned staging area first (about an eighth of the
 * daemon's CPU in a sequential write).  With the header placed just before
 * a page boundary, whole blocks go to the device from the request itself.
 * The public fuse_session_receive_buf/process_buf pair does the rest.
 *
 * Every idle thread waits in read(2); the kernel hands each request to
 * one of them and that thread serves it to the end (fuse_io.c relies on
 * it, K2).  Where the kernel offers FUSE over io_uring, fuse_ring.c's
 * threads take the requests instead, and these keep FORGET and INTERRUPT.  A leader/followers loop (one reader at a time, requests served
 * inline) was measured against this on the quiet machine and lost: half
 * the creates, deletes and small-file writes per second (docs/DESIGN.md).
 *
 * (F1) Once the ring serves, only thread 0 reads /dev/fuse; the others
 * park until the session ends.  After a FORGET it naps 1 ms before the
 * next read: the kernel queues an evicted inode's forget and wakes a
 * reader waiting in read(2), and that wakeup (an IPI to the other vCPU)
 * was about 9 us of each unlink's 57 on the caller's side.  While the
 * reader naps nobody waits, so the wakeup is nothing; its next read takes
 * what queued meanwhile as one BATCH_FORGET.  Forgets change nothing in
 * hfs (op_forget), and the nap delays an INTERRUPT by 1 ms at most; hfs
 * serves no request that waits for one.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fuse.h>
#include "fs/fuse_int.h"

/* A WRITE request is the in-header then the write header then the data. */
#define WRITE_HDR (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))
_Static_assert(WRITE_HDR == 80, "FUSE WRITE header size");
#define PAGE 4096u
/* libfuse reads up to its bufsize: max_write (op_init: 1 MiB) plus a page
 * of headers before INIT, the same after; a spare page on top. */
#define RECV_SIZE ((1u << 20) + 2 * PAGE)

struct loop_thread {
	pthread_t tid;
	unsigned idx;
	struct fuse_session *se;
	struct hfs_fuse_loop *loop;
	void *base;              /* what to free */
	struct fuse_buf buf;
	int started;
};

struct hfs_fuse_loop {
	sem_t done;              /* a thread left its loop */
	pthread_mutex_t lock;
	int error;               /* the first receive error, -errno */
};

#define FORGET_NAP_US 1000   /* (F1) */

/* (F1) A thread the ring made redundant: waits for its cancellation at
 * the end of the session. */
static void park(void)
{
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	for (;;)
		pause();
}

static void *loop_main(void *arg)
{
	struct loop_thread *t = arg;

	while (!fuse_session_exited(t->se)) {
		uint32_t opcode = 0;
		int res;

		if (t->idx > 0 && hfs_fuse_ring_serving())
			park();

		/* a thread blocked in read(2) is cancelled at exit (the signal
		 * handler only marks the session exited) */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		t->buf.size = RECV_SIZE;
		res = fuse_session_receive_buf(t->se, &t->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			if (res < 0) {
				pthread_mutex_lock(&t->loop->lock);
				if (!t->loop->error)
					t->loop->error = res;
				pthread_mutex_unlock(&t->loop->lock);
				fuse_session_exit(t->se);
			}
			break;
		}
		if (!(t->buf.flags & FUSE_BUF_IS_FD) && (size_t)res >= sizeof(struct fuse_in_header))
			opcode = ((const struct fuse_in_header *)t->buf.mem)->opcode;
		fuse_session_process_buf(t->se, &t->buf);
		if ((opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET) && hfs_fuse_ring_serving())
			usleep(FORGET_NAP_US);
	}
	sem_post(&t->loop->done);
	return NULL;
}

int hfs_fuse_thread(pthread_t *tid, void *(*fn)(void *), void *arg)
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
	err = pthread_create(tid, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

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
	for (i = 0; i < nthreads; i++) {
		t[i].se = se;
		t[i].idx = i;
		t[i].loop = &loop;
		t[i].base = hfs_iobuf_alloc(RECV_SIZE + PAGE);
		if (!t[i].base) {
			ret = -ENOMEM;
			break;
		}
		/* the header ends, and a WRITE's data starts, on a page boundary */
		t[i].buf.mem = (char *)t[i].base + PAGE - WRITE_HDR;
		if ((ret = hfs_fuse_thread(&t[i].tid, loop_main, &t[i])) != 0)
			break;
		t[i].started = 1;
		started++;
	}
	if (started) {
		ret = 0;   /* fewer threads than asked still serve */
		/* sem_wait returns early on a signal; the handler marks the
		 * session exited */
		while (!fuse_session_exited(se))
			sem_wait(&loop.done);
		for (i = 0; i < nthreads; i++)
			if (t[i].started)
				pthread_cancel(t[i].tid);
		for (i = 0; i < nthreads; i++)
			if (t[i].started)
				pthread_join(t[i].tid, NULL);
		hfs_fuse_ring_stop();
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
