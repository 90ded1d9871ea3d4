/*
 * fuse_io.c — the daemon's own reads and writes of /dev/fuse (libfuse's
 * custom I/O hooks), for what libfuse 3.14 cannot negotiate or pass on:
 * FUSE_HANDLE_KILLPRIV_V2 (docs/DESIGN.md "Set-ID bits: killpriv v2").
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
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fs/fuse_int.h"

static uint64_t init_unique = UINT64_MAX;   /* INIT request being answered (K1) */
static int kp2_offered;                      /* set before op_init runs */
int hfs_killpriv_v2;                         /* negotiated (the reply carried it) */
static __thread int req_kill;                /* (K2) the current request's kill flag */

int hfs_kp2_offered(void) { return kp2_offered; }
int hfs_fuse_killpriv_v2(void) { return hfs_killpriv_v2; }
int hfs_req_kill_suidgid(void) { return req_kill; }

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header *h = buf;
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	req_kill = 0;
	if (n < (ssize_t)sizeof(*h))
		return n;
	switch (h->opcode) {
	case FUSE_INIT:
		if (n >= (ssize_t)(sizeof(*h) + offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))) {
			const struct fuse_init_in *in = (const void *)(h + 1);

			init_unique = h->unique;
			kp2_offered = !!(in->flags & FUSE_HANDLE_KILLPRIV_V2);
		}
		break;
	case FUSE_WRITE:
		if (n >= (ssize_t)(sizeof(*h) + sizeof(struct fuse_write_in))) {
			const struct fuse_write_in *in = (const void *)(h + 1);

			req_kill = !!(in->write_flags & FUSE_WRITE_KILL_SUIDGID);
		}
		break;
	case FUSE_SETATTR:
		if (n >= (ssize_t)(sizeof(*h) + sizeof(struct fuse_setattr_in))) {
			const struct fuse_setattr_in *in = (const void *)(h + 1);

			req_kill = !!(in->valid & FATTR_KILL_SUIDGID);
		}
		break;
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *o = iov[0].iov_base;

	(void)userdata;
	/* (K1) the INIT reply: header, then fuse_init_out (flags at 12) */
	if (init_unique != UINT64_MAX && count >= 2 && iov[0].iov_len >= sizeof(*o) &&
	    o->unique == init_unique) {
		if (!o->error && kp2_offered &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
			struct fuse_init_out *out = iov[1].iov_base;

			out->flags |= FUSE_HANDLE_KILLPRIV_V2;
			hfs_killpriv_v2 = 1;
		}
		init_unique = UINT64_MAX;
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
