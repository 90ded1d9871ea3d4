/*
 * shutdown.c — FS_IOC_SHUTDOWN (XFS_IOC_GOINGDOWN): stop the filesystem
 * at once, as xfs, ext4 and btrfs do.  After it nothing more is written to
 * the devices, not even at unmount, and every operation that would touch
 * the filesystem fails with EIO; the next mount recovers to the last
 * commit (UNDO replay), which is how crash-recovery tests use it.
 *
 * The gate is a wrapper around the lowlevel ops table, so the operations
 * themselves need not know about shutdown.  Only forget, release, flush,
 * statfs, init and destroy pass the gate: the kernel must still be able to
 * drop its references and unmount.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "fs/hfs_int.h"
#include "fs/shutdown.h"

static struct fuse_lowlevel_ops real;

int hfs_is_shut_down(const struct hfs_fs *fs)
{
	return __atomic_load_n(&fs->shut_down, __ATOMIC_ACQUIRE);
}

/* The flags word: the ioctl is encoded _IOR, so FUSE passes no input (a
 * restricted ioctl copies in only for _IOC_WRITE); read it from the
 * caller, who is root here.  -errno when it cannot be read. */
static int read_flags(fuse_req_t req, void *arg, uint32_t *flags)
{
	struct iovec local = { flags, sizeof(*flags) }, remote = { arg, sizeof(*flags) };
	ssize_t n = process_vm_readv(fuse_req_ctx(req)->pid, &local, 1, &remote, 1, 0);

	return n == (ssize_t)sizeof(*flags) ? 0 : n < 0 ? -errno : -EFAULT;
}

int hfs_shutdown(struct hfs_fs *fs, uint32_t flags)
{
	int ret = 0;

	if (flags > HFS_SHUTDOWN_NOLOGFLUSH)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	if (hfs_is_shut_down(fs)) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	/* DEFAULT would also flush the kernel's dirty pages; the daemon cannot
	 * pull those, so it commits what it holds, as LOGFLUSH does */
	if (flags != HFS_SHUTDOWN_NOLOGFLUSH)
		ret = hfs_flush_locked(fs);
	__atomic_store_n(&fs->shut_down, 1, __ATOMIC_RELEASE);
	fs->readonly = true;
	bc_set_readonly(fs->bc);
	HFS_WARN("shut down (FS_IOC_SHUTDOWN, %s): nothing more is written; the next mount "
		 "recovers to the last commit",
		 flags == HFS_SHUTDOWN_NOLOGFLUSH ? "no flush" : ret ? "flush failed" : "flushed");
	hfs_status_publish(fs);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

void hfs_ioctl_shutdown(fuse_req_t req, void *arg)
{
	struct hfs_fs *fs = fuse_req_userdata(req);
	uint32_t flags;
	int ret;

	if (fuse_req_ctx(req)->uid != 0) {   /* CAP_SYS_ADMIN, as far as we can tell */
		fuse_reply_err(req, EPERM);
		return;
	}
	if (read_flags(req, arg, &flags)) {
		HFS_WARN("shutdown: cannot read the caller's flags; committing first");
		flags = HFS_SHUTDOWN_LOGFLUSH;
	}
	ret = hfs_shutdown(fs, flags);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* ---- the gate --------------------------------------------------------------------- */

static int down(fuse_req_t req)
{
	if (!hfs_is_shut_down(fuse_req_userdata(req)))
		return 0;
	fuse_reply_err(req, EIO);
	return 1;
}

#define GATE(op, params, args) \
	static void g_##op params { if (!down(req)) real.op args; }

GATE(lookup, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
GATE(getattr, (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), (req, i, fi))
GATE(setattr, (fuse_req_t req, fuse_ino_t i, struct stat *a, int s, struct fuse_file_info *fi),
     (req, i, a, s, fi))
GATE(readlink, (fuse_req_t req, fuse_ino_t i), (req, i))
GATE(mknod, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d), (req, p, n, m, d))
GATE(mkdir, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m), (req, p, n, m))
GATE(unlink, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
GATE(rmdir, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
GATE(symlink, (fuse_req_t req, const char *l, fuse_ino_t p, const char *n), (req, l, p, n))
GATE(rename, (fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
	      unsigned f), (req, p, n, np, nn, f))
GATE(link, (fuse_req_t req, fuse_ino_t i, fuse_ino_t p, const char *n), (req, i, p, n))
GATE(open, (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), (req, i, fi))
GATE(read, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (req, i, s, o, fi))
GATE(write, (fuse_req_t req, fuse_ino_t i, const char *b, size_t s, off_t o,
	     struct fuse_file_info *fi), (req, i, b, s, o, fi))
GATE(fsync, (fuse_req_t req, fuse_ino_t i, int d, struct fuse_file_info *fi), (req, i, d, fi))
GATE(opendir, (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), (req, i, fi))
GATE(readdir, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (req, i, s, o, fi))
GATE(readdirplus, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (req, i, s, o, fi))
GATE(fsyncdir, (fuse_req_t req, fuse_ino_t i, int d, struct fuse_file_info *fi), (req, i, d, fi))
GATE(setxattr, (fuse_req_t req, fuse_ino_t i, const char *n, const char *v, size_t s, int f),
     (req, i, n, v, s, f))
GATE(getxattr, (fuse_req_t req, fuse_ino_t i, const char *n, size_t s), (req, i, n, s))
GATE(listxattr, (fuse_req_t req, fuse_ino_t i, size_t s), (req, i, s))
GATE(removexattr, (fuse_req_t req, fuse_ino_t i, const char *n), (req, i, n))
GATE(access, (fuse_req_t req, fuse_ino_t i, int m), (req, i, m))
GATE(create, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *fi),
     (req, p, n, m, fi))
/* a second shutdown (on a descriptor opened before) is a no-op, not EIO */
static void g_ioctl(fuse_req_t req, fuse_ino_t i, unsigned int c, void *a, struct fuse_file_info *fi,
		    unsigned f, const void *ib, size_t is, size_t os)
{
	if (c == HFS_IOC_SHUTDOWN || !down(req))
		real.ioctl(req, i, c, a, fi, f, ib, is, os);
}
GATE(fallocate, (fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l, struct fuse_file_info *fi),
     (req, i, m, o, l, fi))
GATE(copy_file_range, (fuse_req_t req, fuse_ino_t ii, off_t oi, struct fuse_file_info *fii,
		       fuse_ino_t io, off_t oo, struct fuse_file_info *fio, size_t l, int f),
     (req, ii, oi, fii, io, oo, fio, l, f))
GATE(lseek, (fuse_req_t req, fuse_ino_t i, off_t o, int w, struct fuse_file_info *fi),
     (req, i, o, w, fi))

void hfs_shutdown_gate(const struct fuse_lowlevel_ops *in, struct fuse_lowlevel_ops *out)
{
	real = *in;
	*out = *in;
#define WRAP(op) do { if (in->op) out->op = g_##op; } while (0)
	WRAP(lookup); WRAP(getattr); WRAP(setattr); WRAP(readlink); WRAP(mknod); WRAP(mkdir);
	WRAP(unlink); WRAP(rmdir); WRAP(symlink); WRAP(rename); WRAP(link); WRAP(open);
	WRAP(read); WRAP(write); WRAP(fsync); WRAP(opendir); WRAP(readdir); WRAP(readdirplus);
	WRAP(fsyncdir); WRAP(setxattr); WRAP(getxattr); WRAP(listxattr); WRAP(removexattr);
	WRAP(access); WRAP(create); WRAP(ioctl); WRAP(fallocate); WRAP(copy_file_range);
	WRAP(lseek);
#undef WRAP
	/* write_buf, bmap, getlk/setlk, flock, poll are not used by hfs; a new
	 * op must be added here or it would run after a shutdown */
	assert(!in->write_buf && !in->bmap && !in->getlk && !in->setlk && !in->flock &&
	       !in->poll);
}
