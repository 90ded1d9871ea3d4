/*
 * fuse_ring.c — FUSE over io_uring (kernel 6.14 and later, when the fuse
 * module's enable_uring parameter is on): the kernel puts each request on
 * the queue of the CPU its caller runs on, and threads pinned to that CPU
 * take it from there, instead of read(2) on /dev/fuse.
 *
 * Why: on /dev/fuse the kernel wakes whichever daemon thread waits, most
 * often on the other CPU, and the reply wakes the caller back across CPUs:
 * two cross-CPU wakeups per request, and on a VM each one is an idle exit.
 * On the 2-vCPU bench machine that is most of a metadata request's cost:
 * open(O_CREAT)+close of empty files ran at 14,000/s with free placement,
 * 4,600/s with the daemon and the caller forced onto different CPUs and
 * 50,000/s forced onto the same one (docs/DESIGN.md).
 *
 * Mechanism:
 *  (R1) Negotiation (fuse_io.c's hooks): the INIT request offers
 *       FUSE_OVER_IO_URING or not.  Before the flag goes into the reply,
 *       every thread has made its ring and buffers (hfs_fuse_ring_prepare):
 *       once the kernel has the flag it holds every new request until each
 *       CPU's queue has an entry, so what can fail must fail before.  After
 *       the reply only the registrations are left; a refused REGISTER turns
 *       the kernel back to /dev/fuse by itself.
 *  (R2) Each thread owns one ring and one entry (header and payload
 *       buffers) and serves one request at a time, as a /dev/fuse thread
 *       does: the kernel gives a request to an idle entry of its queue, so
 *       a thread that waits for the device leaves the CPU's other requests
 *       to the other threads of its queue.
 *  (R3) The kernel splits a request into the in-header, the operation's
 *       fixed header (op_in) and the rest (payload).  libfuse 3.14 wants
 *       them in one piece: both headers are copied into the page just
 *       before the payload (the fixed header's length is the in-header's
 *       len less the payload's), so a WRITE's data stays where the kernel
 *       put it, on a page boundary (fuse_loop.c's reason).
 *  (R4) Replies: libfuse writes a reply through fuse_io.c's writev hook,
 *       which gives a reply to the request this thread serves (same unique)
 *       to hfs_fuse_ring_reply: it goes into the entry and to the kernel
 *       with the next COMMIT_AND_FETCH.  hfs answers every request in the
 *       thread that runs it.  Notifications (unique 0) still go to
 *       /dev/fuse, and the kernel still sends FORGET and INTERRUPT there:
 *       the /dev/fuse threads stay.
 *  (R5) A READ brings no payload, so the thread's reply buffer (op_read) is
 *       the entry's payload: the data is read into place, not copied.
 *  (R6) A thread waits for its next request as SCHED_IDLE and turns back to
 *       SCHED_OTHER as soon as it wakes.  The commit wakes the caller while
 *       the thread still runs on the caller's CPU, which therefore looks
 *       busy, so the scheduler would move the caller to the other, idle CPU
 *       (an IPI and a halted vCPU's wakeup, about a fifth of a create's
 *       time in the profile); a CPU that runs only idle-class tasks counts
 *       as idle, so the caller stays.  Measured on the quiet machine, create
 *       and unlink went from about 9,000 and 12,000/s to 33,000 and 30,000/s
 *       (bench/fsops.py); with both CPUs busy with other work it changes
 *       nothing, as there is no idle CPU to move to.  Only where the thread
 *       may turn back (idle_wait_allowed).  Not while a queue streams data
 *       (a large request in the last 50 ms): a READ of a readahead that
 *       arrives while the reader runs on that CPU would wait for the
 *       reader's slice instead of preempting it (sequential read 1,445 ->
 *       1,023 MB/s with the idle wait always on).  Nor in the middle of a
 *       writeback of several pages of one file (WRITEs of one inode less
 *       than 1 ms apart) while another thread of the queue has a request
 *       coming (queue_busy): that thread keeps the CPU busy anyway, and
 *       the two scheduler calls were 13% of the daemon's CPU in fsync'd
 *       random writes (bench randw +12%, 17% less CPU per write; a close's
 *       one-page WRITE, which its caller waits for, still waits idle).
 *       Nor after a RELEASE: the kernel sends it in the background (but
 *       for a failed open), so its commit wakes no caller to keep here,
 *       and the two calls would buy nothing (reading back small files,
 *       every fourth request is a RELEASE, and the scheduler calls were a
 *       third of the daemon's CPU).
 *  (R7) Large READs and WRITEs (128 KiB or more) are served unpinned, and
 *       the thread stays unpinned while its queue streams: the kernel
 *       queues a readahead's or a writeback's requests on the one CPU that
 *       issued them, and their CRCs and page-cache copies would all run
 *       there while the other CPU idles.  A small request, or 50 ms without
 *       a large one, pins it again.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <linux/fuse.h>
#include "fs/fuse_int.h"

/* The kernel's ABI (linux/fuse.h, protocol 7.42); Debian 12's headers are
 * older.  The INIT flag is bit 41 (flags2 bit 9). */
#define RING_INIT_FLAG2 (1u << (41 - 32))
enum { RING_CMD_REGISTER = 1, RING_CMD_COMMIT_AND_FETCH = 2 };
struct ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;        /* the request's unique */
	uint32_t payload_sz;       /* bytes used in the payload, either way */
	uint32_t padding;
	uint64_t reserved;
};
struct ring_req_header {
	char in_out[128];          /* fuse_in_header in, fuse_out_header out */
	char op_in[128];           /* the operation's fixed header */
	struct ring_ent_in_out ent;
};
struct ring_cmd_req {            /* in the SQE's 80-byte command area */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
_Static_assert(sizeof(struct ring_req_header) == 288, "fuse_uring_req_header");
_Static_assert(sizeof(struct ring_cmd_req) == 24, "fuse_uring_cmd_req");

#define PAGE 4096u
/* (R7) a request this large is served on whichever CPU is free */
#define WIDE_MIN (128u << 10)
/* (R6) a queue that served one within this many ms waits as SCHED_OTHER */
#define WIDE_QUIET_MS 50
/* (R6) WRITEs of one inode this close together are one writeback */
#define WRITEBACK_GAP_US 1000
#define IN_HDR sizeof(struct fuse_in_header)
_Static_assert(sizeof(struct ring_req_header) + IN_HDR + 128 <= PAGE, "headers fit the page");

/* What a queue's threads share; relaxed atomics: the rules it feeds are
 * heuristics of placement, never of correctness. */
struct ring_queue {
	uint64_t wide_ms;          /* when it last served a large request (R6) */
	uint64_t write_node;       /* the inode of the last WRITE it served (R6) */
	uint64_t write_us;         /* and when */
};

struct ring_thread {
	pthread_t tid;
	struct io_uring ring;
	unsigned qid;
	cpu_set_t cpu;             /* its queue's CPU */
	int state;                 /* 0 starting, 1 ready, -errno failed */
	int started;
	int unpinned;              /* serving a stream, off its CPU pin (R7) */
	int live;                  /* its ring may be peeked at (queue_busy) */
	int writeback;             /* the request just served was a WRITE of a
				    * writeback of several pages (R6) */
	int unwaited;              /* ... or one no caller waits for (R6) */
	char *base;                /* header page, then the payload; what to free */
	struct ring_req_header *hdr;
	char *payload;             /* base + PAGE */
	uint64_t unique;           /* the request being served (R4) */
	int replied;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fuse_session *se;
	unsigned nthreads;         /* the loop's thread count, shared out per queue */
	int off;                   /* -o nofuse_uring */
	int fd;
	size_t payload_cap;
	unsigned nq, n, per_q;
	struct ring_thread *t;
	int go;                    /* 1 register, -1 leave */
	volatile int stop;
	int idle_wait;             /* (R6) */
	cpu_set_t all;             /* the CPUs the daemon may use (R7) */
	struct ring_queue *q;      /* per queue */
	unsigned long long served; /* requests served through the rings (one
				    * served: the kernel took the entries) */
	pthread_rwlock_t peek;     /* a ring is unmapped only with it held for writing */
} R = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	.peek = PTHREAD_RWLOCK_INITIALIZER };

static __thread struct ring_thread *self;

void hfs_fuse_ring_config(struct fuse_session *se, unsigned nthreads, int off)
{
	R.se = se;
	R.nthreads = nthreads;
	R.off = off;
}

int hfs_fuse_ring_wanted(void) { return !R.off && R.se; }

/* The kernel makes one queue per possible CPU and picks it by CPU number:
 * only a possible mask "0" or "0-N" maps one onto the other. */
static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	unsigned a, b;
	char rest[8] = "";
	int n, k = 0;

	if (!f)
		return -errno;
	n = fscanf(f, "%u-%u%7s", &a, &b, rest);
	fclose(f);
	if (n == 1 && a == 0)
		k = 1;
	else if (n == 2 && a == 0 && b < 1024)
		k = (int)b + 1;
	return k ? k : -ENOTSUP;
}

/* (R6) A thread may leave SCHED_IDLE for SCHED_OTHER with CAP_SYS_NICE, or
 * where RLIMIT_NICE allows nice 0; otherwise it would stay idle-class. */
static int idle_wait_allowed(void)
{
	struct rlimit rl;

	if (geteuid() == 0)
		return 1;
	if (getrlimit(RLIMIT_NICE, &rl) != 0)
		return 0;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 20;
}

static int ring_setup(struct ring_thread *t)
{
	/* DEFER_TASKRUN: the kernel copies a request into our buffers as task
	 * work, run when this thread waits, not by interrupting it */
	static const unsigned flag_sets[] = {
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SQE128,
	};
	unsigned i;
	int ret = -EINVAL;

	t->base = hfs_iobuf_alloc(PAGE + R.payload_cap);
	if (!t->base)
		return -ENOMEM;
	memset(t->base, 0, PAGE);
	t->hdr = (struct ring_req_header *)t->base;
	t->payload = t->base + PAGE;
	for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p = { .flags = flag_sets[i] };

		ret = io_uring_queue_init_params(4, &t->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static void ring_cmd(struct ring_thread *t, unsigned op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	struct ring_cmd_req *c;
	static __thread struct iovec iov[2];

	/* the ring has 4 slots and one command is ever pending */
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, R.fd, NULL, 0, 0);
	sqe->cmd_op = op;
	if (op == RING_CMD_REGISTER) {
		iov[0] = (struct iovec){ t->hdr, sizeof(*t->hdr) };
		iov[1] = (struct iovec){ t->payload, R.payload_cap };
		sqe->addr = (uintptr_t)iov;
		sqe->len = 2;
	}
	c = (struct ring_cmd_req *)sqe->cmd;
	memset(c, 0, sizeof(*c));
	c->qid = (uint16_t)t->qid;
	c->commit_id = commit_id;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void) { return now_us() / 1000; }

/* (R6) A WRITE of the inode the queue's last WRITE was for, within a
 * millisecond: the kernel writes back several pages of one file (an fsync
 * after random writes), not one page a caller waits for (a close). */
static int writeback_burst(struct ring_queue *q, uint64_t node)
{
	uint64_t now = now_us();
	int burst = __atomic_load_n(&q->write_node, __ATOMIC_RELAXED) == node &&
		    now - __atomic_load_n(&q->write_us, __ATOMIC_RELAXED) < WRITEBACK_GAP_US;

	__atomic_store_n(&q->write_node, node, __ATOMIC_RELAXED);
	__atomic_store_n(&q->write_us, now, __ATOMIC_RELAXED);
	return burst;
}

/* (R3) one request from the entry through libfuse; 1 if it was a large
 * one, served unpinned (R7) */
static int serve(struct ring_thread *t)
{
	struct fuse_in_header h;
	uint32_t plen = t->hdr->ent.payload_sz;
	size_t arg = 0;
	char *start;
	int wide = 0;

	memcpy(&h, t->hdr->in_out, sizeof(h));
	t->unique = h.unique;
	t->replied = 0;
	t->writeback = 0;
	t->unwaited = 0;
	if (plen <= R.payload_cap && h.len >= IN_HDR + plen &&
	    (arg = h.len - IN_HDR - plen) <= sizeof(t->hdr->op_in)) {
		struct fuse_buf buf = { 0 };

		start = t->payload - IN_HDR - arg;
		memcpy(start, &h, IN_HDR);
		memcpy(start + IN_HDR, t->hdr->op_in, arg);
		hfs_fuse_note_request((const struct fuse_in_header *)start, h.len);
		buf.mem = start;
		buf.size = h.len;
		/* (R6) */
		t->writeback = h.opcode == FUSE_WRITE && writeback_burst(&R.q[t->qid], h.nodeid);
		t->unwaited = h.opcode == FUSE_RELEASE || h.opcode == FUSE_RELEASEDIR;
		/* (R7) */
		wide = R.nq > 1 && ((h.opcode == FUSE_WRITE && plen >= WIDE_MIN) ||
				    (h.opcode == FUSE_READ && arg >= sizeof(struct fuse_read_in) &&
				     ((const struct fuse_read_in *)t->hdr->op_in)->size >= WIDE_MIN));
		if (wide && !t->unpinned) {
			(void)pthread_setaffinity_np(pthread_self(), sizeof(R.all), &R.all);
			t->unpinned = 1;
		}
		fuse_session_process_buf(R.se, &buf);
	} else {
		HFS_WARN("FUSE ring: request %llu (opcode %u) has len %u with %u bytes of payload",
			 (unsigned long long)h.unique, h.opcode, h.len, plen);
	}
	if (!t->replied) {
		/* a request left unanswered would hang its caller */
		struct fuse_out_header o = { .len = sizeof(o), .error = -EIO, .unique = h.unique };

		memcpy(t->hdr->in_out, &o, sizeof(o));
		t->hdr->ent.payload_sz = 0;
	}
	return wide;
}

/* (R6) Whether another thread of t's queue has a request in hand or on
 * its way (a completion posted, or task work queued to copy one in, which
 * TASKRUN_FLAG shows in the SQ flags): that thread will run on this CPU,
 * so waiting as SCHED_IDLE would not make the CPU look idle. */
static int queue_busy(const struct ring_thread *t)
{
	unsigned i;
	int busy = 0;

	pthread_rwlock_rdlock(&R.peek);
	for (i = t->qid; i < R.n && !busy; i += R.nq) {
		const struct io_uring *r = &R.t[i].ring;

		if (&R.t[i] == t || !R.t[i].live)
			continue;
		busy = __atomic_load_n(r->cq.ktail, __ATOMIC_ACQUIRE) !=
			       __atomic_load_n(r->cq.khead, __ATOMIC_RELAXED) ||
		       (__atomic_load_n(r->sq.kflags, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN);
	}
	pthread_rwlock_unlock(&R.peek);
	return busy;
}

static void pin(struct ring_thread *t)
{
	(void)pthread_setaffinity_np(pthread_self(), sizeof(t->cpu), &t->cpu);
	t->unpinned = 0;
}

static void *ring_main(void *arg)
{
	struct ring_thread *t = arg;
	struct sched_param sp = { 0 };
	int ret;

	self = t;
	/* placement is the point (top comment); a CPU that cannot be had
	 * (offline) leaves the thread where the scheduler puts it */
	CPU_ZERO(&t->cpu);
	CPU_SET(t->qid, &t->cpu);
	if (pthread_setaffinity_np(pthread_self(), sizeof(t->cpu), &t->cpu) != 0)
		t->cpu = R.all;
	ret = ring_setup(t);
	pthread_mutex_lock(&R.lock);
	t->state = ret ? ret : 1;
	t->live = !ret;
	pthread_cond_broadcast(&R.cond);
	while (!R.go)
		pthread_cond_wait(&R.cond, &R.lock);
	pthread_mutex_unlock(&R.lock);
	if (ret || R.go < 0)
		goto out;
	(void)hfs_iobuf_local_lend(HFS_IOBUF_REPLY, t->payload, R.payload_cap);   /* (R5) */
	ring_cmd(t, RING_CMD_REGISTER, 0);
	for (;;) {
		struct __kernel_timespec ts = { .tv_sec = 1 };
		struct io_uring_cqe *cqe = NULL;
		int res, wide, idle, streaming;

		streaming = now_ms() - __atomic_load_n(&R.q[t->qid].wide_ms, __ATOMIC_RELAXED) <=
			    WIDE_QUIET_MS;
		if (t->unpinned && !streaming)
			pin(t);
		idle = R.idle_wait && !streaming && !t->unwaited && (!t->writeback || !queue_busy(t));
		if (idle)
			(void)sched_setscheduler(0, SCHED_IDLE, &sp);   /* (R6) */
		/* the timeout only lets a session that ends without an unmount
		 * (a signal) stop the thread; an unmount ends the entry */
		ret = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
		if (idle && sched_setscheduler(0, SCHED_OTHER, &sp) != 0) {
			/* cannot be (idle_wait_allowed); never stay an idle-class thread */
			HFS_WARN("FUSE ring queue %u: cannot leave SCHED_IDLE: %s", t->qid,
				 strerror(errno));
			break;
		}
		if (ret == -ETIME || ret == -EINTR) {
			if (R.stop)
				break;
			continue;
		}
		if (ret < 0) {
			HFS_WARN("FUSE ring queue %u: %s", t->qid, strerror(-ret));
			break;
		}
		if (!cqe && io_uring_peek_cqe(&t->ring, &cqe) != 0)
			continue;   /* woken with nothing completed */
		res = cqe->res;
		io_uring_cqe_seen(&t->ring, cqe);
		if (res < 0) {
			/* ENOTCONN, ECANCELED: the connection is going away */
			if (res != -ENOTCONN && res != -ECANCELED && res != -ECONNABORTED &&
			    res != -ENODEV)
				HFS_WARN("FUSE ring queue %u refused (%s): requests go through /dev/fuse",
					 t->qid, strerror(-res));
			break;
		}
		__atomic_fetch_add(&R.served, 1, __ATOMIC_RELAXED);
		wide = serve(t);
		ring_cmd(t, RING_CMD_COMMIT_AND_FETCH, t->unique);
		if (wide) {
			__atomic_store_n(&R.q[t->qid].wide_ms, now_ms(), __ATOMIC_RELAXED);
		} else if (t->unpinned) {
			/* a small request after a stream: its reply goes out from
			 * here, then the thread waits on its queue's CPU again */
			(void)io_uring_submit(&t->ring);
			pin(t);
		}
		if (R.stop) {
			/* the request in hand is answered; what the commit fetched
			 * ends with the unmount that follows (hfs_fuse_run) */
			(void)io_uring_submit(&t->ring);
			break;
		}
	}
out:
	self = NULL;
	if (t->state > 0) {
		pthread_rwlock_wrlock(&R.peek);
		t->live = 0;
		pthread_rwlock_unlock(&R.peek);
		io_uring_queue_exit(&t->ring);
	}
	return NULL;
}

static void ring_join_all(void)
{
	unsigned i;

	for (i = 0; i < R.n; i++)
		if (R.t[i].started)
			pthread_join(R.t[i].tid, NULL);
	for (i = 0; i < R.n; i++)
		free(R.t[i].base);
	free(R.t);
	free(R.q);
	R.t = NULL;
	R.q = NULL;
	R.n = 0;
}

int hfs_fuse_ring_prepare(int fd, size_t payload_cap)
{
	unsigned i, ready = 0;
	int nq = possible_cpus(), err = 0;

	if (nq < 0)
		return nq;
	if (R.t)
		return -EBUSY;
	R.fd = fd;
	R.payload_cap = (payload_cap + PAGE - 1) & ~(size_t)(PAGE - 1);
	R.nq = (unsigned)nq;
	/* at least 4 a queue: a request's handler may wait for another request
	 * of the same CPU (op_lseek's invalidation waits for the WRITEs that
	 * write the pages back, sent from the handler's own CPU) */
	R.per_q = R.nthreads / R.nq > 4 ? R.nthreads / R.nq : 4;
	R.n = R.nq * R.per_q;
	R.go = 0;
	R.stop = 0;
	R.idle_wait = idle_wait_allowed();
	if (sched_getaffinity(0, sizeof(R.all), &R.all) != 0)
		return -errno;
	R.t = calloc(R.n, sizeof(*R.t));
	R.q = calloc(R.nq, sizeof(*R.q));
	if (!R.t || !R.q) {
		R.n = 0;   /* no thread to join */
		ring_join_all();
		return -ENOMEM;
	}
	for (i = 0; i < R.n; i++) {
		R.t[i].qid = i % R.nq;
		if ((err = hfs_fuse_thread(&R.t[i].tid, ring_main, &R.t[i])) != 0)
			break;
		R.t[i].started = 1;
	}
	pthread_mutex_lock(&R.lock);
	for (;;) {
		unsigned waiting = 0;

		ready = 0;
		for (i = 0; i < R.n; i++) {
			if (!R.t[i].started)
				continue;
			if (R.t[i].state == 0)
				waiting++;
			else if (R.t[i].state > 0)
				ready++;
			else if (!err)
				err = R.t[i].state;
		}
		if (!waiting)
			break;
		pthread_cond_wait(&R.cond, &R.lock);
	}
	if (err || ready < R.n) {
		R.go = -1;
		pthread_cond_broadcast(&R.cond);
	}
	pthread_mutex_unlock(&R.lock);
	if (err || ready < R.n) {
		ring_join_all();
		return err ? err : -EAGAIN;
	}
	return 0;
}

void hfs_fuse_ring_go(int accepted)
{
	pthread_mutex_lock(&R.lock);
	R.go = accepted ? 1 : -1;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	if (accepted)
		HFS_INFO("FUSE requests go through io_uring: %u queues of %u threads", R.nq, R.per_q);
}

void hfs_fuse_ring_stop(void)
{
	if (!R.t)
		return;
	pthread_mutex_lock(&R.lock);
	R.stop = 1;
	if (!R.go)
		R.go = -1;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	ring_join_all();
}

int hfs_fuse_ring_serving(void)
{
	return R.t && __atomic_load_n(&R.go, __ATOMIC_RELAXED) > 0 &&
	       __atomic_load_n(&R.served, __ATOMIC_RELAXED) > 0;
}

int hfs_fuse_ring_info(unsigned *per_queue, unsigned long long *requests)
{
	unsigned long long served = __atomic_load_n(&R.served, __ATOMIC_RELAXED);
	int on = hfs_fuse_ring_serving();

	*per_queue = on ? R.per_q : 0;
	*requests = served;
	return on ? (int)R.nq : 0;
}

int hfs_fuse_ring_reply(const struct iovec *iov, int count, ssize_t *res)
{
	struct ring_thread *t = self;
	const struct fuse_out_header *o = iov[0].iov_base;
	size_t total = 0, off = 0;
	int i;

	if (!t || t->replied || count < 1 || iov[0].iov_len < sizeof(*o) || o->unique != t->unique)
		return 0;
	for (i = 1; i < count; i++)
		total += iov[i].iov_len;
	if (total > R.payload_cap) {
		/* cannot be: the kernel sized the payload for the largest reply;
		 * serve() answers EIO */
		errno = EINVAL;
		*res = -1;
		return 1;
	}
	for (i = 1; i < count; i++) {
		if (iov[i].iov_base != t->payload + off)   /* (R5) read in place */
			memmove(t->payload + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	memcpy(t->hdr->in_out, o, sizeof(*o));
	t->hdr->ent.payload_sz = (uint32_t)total;
	t->replied = 1;
	*res = (ssize_t)(iov[0].iov_len + total);
	return 1;
}

int hfs_fuse_ring_offered(const struct fuse_init_in *in)
{
	return (in->flags & FUSE_INIT_EXT) && (in->flags2 & RING_INIT_FLAG2);
}

void hfs_fuse_ring_accept(struct fuse_init_out *out)
{
	out->flags2 |= RING_INIT_FLAG2;
}
