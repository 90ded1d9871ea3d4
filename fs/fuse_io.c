/*
 * fuse_io.c — the daemon's own reads and writes of /dev/fuse (libfuse's
 * custom I/O hooks), for what libfuse 3.14 cannot negotiate or pass on:
 * FUSE_HANDLE_KILLPRIV_V2 (docs/DESIGN.md "Set-ID bits: killpriv v2") and
 * FUSE over io_uring (K4).
 *
 * Why: without it the kernel asks GETXATTR security.capability before
 * every write(2) to the page cache (file_remove_privs: FUSE sets no
 * SB_NOSEC), one round trip per write(2), most of the cost of a cached
 * 4 KiB write (bench randw: write(2) 19-47 us, 2.5-4 us with it).  With
 * it the kernel marks an inode that has no security.capability S_NOSEC
 * once, and leaves the set-ID clearing of write, truncate and chown to
 * the filesystem, telling it whether the caller lacks CAP_FSETID.
 *
 * Mechanism:
 *  (K1) The read hook sees the INIT request: the kernel offers the flag
 *       or not (hfs_kp2_offered).  The writev hook adds the flag to the
 *       INIT reply libfuse built (the reply to the INIT request's unique,
 *       sent once): libfuse 3.14 knows no such capability bit.
 *  (K2) For every WRITE and SETATTR read, the read hook records the
 *       kernel's kill request (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID)
 *       in a thread-local flag: the thread that received a request
 *       processes it before it reads again (fuse_loop.c: each thread
 *       serves the request it read to the end).
 *  (K3) Splice reads would bypass the read hook: hfs never asks for them
 *       (no write_buf operation; op_init clears FUSE_CAP_SPLICE_READ).
 *  (K4) FUSE over io_uring (fuse_ring.c): the read hook sees whether INIT
 *       offers it, the writev hook puts it into the reply once the ring
 *       threads stand ready, and hands replies to ring requests to them.
 *       Ring threads note their requests' kill flags as the read hook does
 *       (hfs_fuse_note_request).
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fs/fuse_int.h"

static uint64_t init_unique = UINT64_MAX;   /* INIT request being answered (K1) */
static int kp2_offered;                      /* set before op_init runs */
static int ring_offered;                     /* INIT offers FUSE over io_uring (K4) */
int hfs_killpriv_v2;                         /* negotiated (the reply carried it) */
static __thread int req_kill;                /* (K2) the current request's kill flag */

int hfs_kp2_offered(void) { return kp2_offered; }
int hfs_fuse_killpriv_v2(void) { return hfs_killpriv_v2; }
int hfs_req_kill_suidgid(void) { return req_kill; }

void hfs_fuse_note_request(const struct fuse_in_header *h, size_t n)
{
	req_kill = 0;
	if (n < sizeof(*h))
		return;
	switch (h->opcode) {
	case FUSE_INIT:
		if (n >= sizeof(*h) + offsetof(struct fuse_init_in, flags) + sizeof(uint32_t)) {
			const struct fuse_init_in *in = (const void *)(h + 1);

			init_unique = h->unique;
			kp2_offered = !!(in->flags & FUSE_HANDLE_KILLPRIV_V2);
			ring_offered = n >= sizeof(*h) + offsetof(struct fuse_init_in, flags2) +
					    sizeof(uint32_t) && hfs_fuse_ring_offered(in);
		}
		break;
	case FUSE_WRITE:
		if (n >= sizeof(*h) + sizeof(struct fuse_write_in)) {
			const struct fuse_write_in *in = (const void *)(h + 1);

			req_kill = !!(in->write_flags & FUSE_WRITE_KILL_SUIDGID);
		}
		break;
	case FUSE_SETATTR:
		if (n >= sizeof(*h) + sizeof(struct fuse_setattr_in)) {
			const struct fuse_setattr_in *in = (const void *)(h + 1);

			req_kill = !!(in->valid & FATTR_KILL_SUIDGID);
		}
		break;
	}
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	hfs_fuse_note_request(buf, n > 0 ? (size_t)n : 0);
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *o = iov[0].iov_base;
	int ring = 0;
	ssize_t res;

	(void)userdata;
	if (hfs_fuse_ring_reply(iov, count, &res))
		return res;
	/* (K1) the INIT reply: header, then fuse_init_out */
	if (init_unique != UINT64_MAX && count >= 2 && iov[0].iov_len >= sizeof(*o) &&
	    o->unique == init_unique) {
		struct fuse_init_out *out = iov[1].iov_base;

		if (!o->error && kp2_offered &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
			out->flags |= FUSE_HANDLE_KILLPRIV_V2;
			hfs_killpriv_v2 = 1;
		}
		/* (K4) FUSE over io_uring: the ring threads first (fuse_ring.c R1);
		 * the payload must hold the largest request and reply */
		if (!o->error && ring_offered && hfs_fuse_ring_wanted() &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, unused)) {
			size_t cap = out->max_write > 8192 ? out->max_write : 8192;
			int err;

			if ((size_t)out->max_pages * 4096 > cap)
				cap = (size_t)out->max_pages * 4096;
			err = hfs_fuse_ring_prepare(fd, cap);
			if (!err) {
				hfs_fuse_ring_accept(out);
				ring = 1;
			} else {
				HFS_INFO("no FUSE over io_uring (%s): requests go through /dev/fuse",
					 strerror(-err));
			}
		}
		init_unique = UINT64_MAX;
		res = writev(fd, iov, count);
		if (ring)
			hfs_fuse_ring_go(res >= 0);
		return res;
	}
	return writev(fd, iov, count);
}

static const struct fuse_custom_io hfs_io = { .writev = io_writev, .read = io_read };

int hfs_fuse_io_setup(struct fuse_session *se)
{
	int ret = fuse_session_custom_io(se, &hfs_io, fuse_session_fd(se));

	return ret < 0 ? ret : 0;
}

int hfs_kill_suidgid(struct hfs_inode *ip)
{
	uint32_t m = ip->mode & ~(uint32_t)S_ISUID;

	/* setgid without group-exec is mandatory-locking, not set-ID: the
	 * kernel's own clearing (fuse_setattr) keeps it too */
	if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		m &= ~(uint32_t)S_ISGID;
	if (S_ISDIR(ip->mode) || m == ip->mode)
		return 0;
	ip->mode = m;
	return 1;
}
