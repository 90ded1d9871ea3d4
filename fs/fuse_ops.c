/*
 * fuse_ops.c — the FUSE session: init, the operations table and loop,
 * attributes, statfs, xattrs and ioctls.  Namespace operations are in
 * fuse_ns.c, file data operations in fuse_data.c (shared: fuse_int.h).
 *
 * Every operation takes fs->lock; modifying ones call hfs_op_begin first
 * (crash rule 1).  Permission checks are the kernel's (default_permissions).
 * Open counts live in a small in-memory table so an unlinked open file
 * stays (orphan record) until its last release.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <fuse_lowlevel.h>
#include "fs/dir.h"
#include "fs/fuse_int.h"
#include "fs/shutdown.h"
#include "fs/trim.h"

/* The session, for notifications (set once before the loop runs). */
struct fuse_session *hfs_session;

/* The kernel caches writes (FUSE_CAP_WRITEBACK_CACHE), set by op_init. */
int hfs_writeback;

/* Sequential reads come as requests of this size: max_readahead, and the
 * readahead window of the mount (hfs_fuse_run). */
#define HFS_READAHEAD (4u << 20)

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/* Whether a read of ip now would move its atime (now: the time it would
 * take).  fs->lock held. */
int atime_due(struct hfs_fs *fs, const struct hfs_inode *ip, int flags, struct timespec *now)
{
	if (fs->readonly || fs->opts.atime == HFS_ATIME_NOATIME || (flags & O_NOATIME) ||
	    (ip->flags & HFS_IFL_NOATIME) || (fs->opts.nodiratime && S_ISDIR(ip->mode)))
		return 0;
	hfs_now(now);
	return fs->opts.atime != HFS_ATIME_RELATIME || ts_cmp(&ip->atime, &ip->mtime) <= 0 ||
	       ts_cmp(&ip->atime, &ip->ctime) <= 0 || now->tv_sec - ip->atime.tv_sec >= 24 * 3600;
}

/* A read or a listing: move atime as the mount's policy says (the kernel
 * leaves atime to FUSE filesystems).  relatime as Linux defines it: when
 * atime is not newer than mtime or ctime, or is a day old.  fs->lock held;
 * returns 1 when it stored a new atime (the caller then drops the kernel's
 * cached attributes with atime_notify, after unlocking).  Best effort: a
 * failure leaves the old atime, never fails the read. */
int atime_touch(struct hfs_fs *fs, struct hfs_inode *ip, int flags)
{
	struct timespec now;

	if (!atime_due(fs, ip, flags, &now))
		return 0;
	/* hfs_op_begin may commit, which waits for data sections with
	 * fs->lock dropped: store atime into a copy loaded after it.
	 * Logged (fs/redo.c), or a read between a write and its fsync would
	 * make that fsync commit */
	hfs_redo_op(1);
	if (hfs_op_begin(fs) || hfs_inode_load(fs, ip->ino, ip)) {
		hfs_redo_op(0);
		return 0;
	}
	ip->atime = now;
	if (hfs_inode_store(fs, ip)) {
		hfs_redo_fail(fs);
		hfs_redo_op(0);
		return 0;
	}
	hfs_redo_attr(fs, ip);
	hfs_redo_op(0);
	return 1;
}

/* An operation that failed with ENOSPC changed nothing (its first change
 * is its one insert, B-tree splits take their nodes before they start,
 * make() undoes a half-made inode).  When freed space waits for its commit,
 * commit it and say to try once more.  fs->lock held. */
int enospc_commit(struct hfs_fs *fs, int ret)
{
	return ret == -ENOSPC && hfs_alloc_pending_blocks(fs) && hfs_flush_locked(fs) == 0;
}

/* Drop the kernel's cached attributes of ino.  Called before the reply of
 * the request that changed them: once the caller sees the reply, its next
 * stat (or a write(2) through an old descriptor after chattr +i, which
 * must revalidate) finds them gone; sent after the reply, the two raced
 * and the caller could still see the old attributes (t_iflags failed now
 * and then under load). */
void atime_notify(uint64_t ino)
{
	/* attributes only (offset < 0): touches no page, safe inside a request */
	if (hfs_session)
		fuse_lowlevel_notify_inval_inode(hfs_session, ino, -1, 0);
}

void to_stat(const struct hfs_inode *ip, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = ip->mode;
	st->st_nlink = ip->nlink;
	st->st_uid = ip->uid;
	st->st_gid = ip->gid;
	st->st_size = (off_t)ip->size;
	st->st_blocks = (blkcnt_t)(ip->blocks + ip->held_blocks);
	st->st_blksize = HFS_BLKSIZE;
	st->st_rdev = ip->rdev;
	st->st_atim = ip->atime;
	st->st_mtim = ip->mtime;
	st->st_ctim = ip->ctime;
}

/* The generation goes with every entry: the kernel keeps the one it first
 * sees for an inode and puts it into the inode's file handles. */
void fill_entry(struct fuse_entry_param *e, const struct hfs_inode *ip)
{
	memset(e, 0, sizeof(*e));
	e->ino = ip->ino;
	e->generation = ip->generation;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
	to_stat(ip, &e->attr);
}

void reply_entry(fuse_req_t req, const struct hfs_inode *ip)
{
	struct fuse_entry_param e;

	fill_entry(&e, ip);
	fuse_reply_entry(req, &e);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct hfs_fs *fs = userdata;

	/* nowriteback: the crash tool needs each write(2) to reach us before it
	 * returns, so the states on disk are states the workload had */
	if ((conn->capable & FUSE_CAP_WRITEBACK_CACHE) && !fs->opts.no_writeback) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		hfs_writeback = 1;
	}
	/* Not atomic O_TRUNC: with it the kernel drops the set-ID clearing
	 * of open(O_TRUNC) (fuse_do_setattr skips the setattr of ATTR_OPEN);
	 * without it the truncate comes as a setattr that carries the mode. */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* chattr/lsattr of directories and FS_IOC_SHUTDOWN on the mount
	 * point come as FUSE_IOCTL_DIR (iflags.c, shutdown.c) */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	/* the kernel enforces ACLs; we inherit them and apply the umask (acl.c) */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_DONT_MASK)
		conn->want |= FUSE_CAP_DONT_MASK;
	/* file handles (open_by_handle_at, NFS): nodeid + generation, decoded
	 * through lookups of "." and ".." (lookup_dots) */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Not killpriv v1: only the kernel knows the caller's CAP_FSETID.
	 * Killpriv v2 tells us (fuse_io.c adds it to the INIT reply when the
	 * kernel offers it, libfuse 3.14 knows no such bit); its flags reach
	 * us through the read hook, which splice reads would bypass (K3). */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	if (hfs_kp2_offered())
		conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	conn->max_write = 1u << 20;
	conn->max_readahead = HFS_READAHEAD;
	/* writeback and readahead requests in flight at once (kernel default
	 * 12): data sections run them in parallel on the device */
	conn->max_background = 32;
	conn->congestion_threshold = 24;
}

/* Lookup counts need no state here: inodes live in the B-tree, and the
 * lifetime of unlinked files follows opens (orphans), not lookups.
 * Counted for hfsctl status. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	__atomic_add_fetch(&FS(req)->forgets, 1, __ATOMIC_RELAXED);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	__atomic_add_fetch(&FS(req)->forgets, count, __ATOMIC_RELAXED);
	fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	struct stat st;
	int ret, nocache;

	pthread_mutex_lock(&fs->lock);
	/* A GETATTR that carries a file handle comes from the kernel's
	 * write(2) path (fuse_update_attributes) after op_write invalidated
	 * the attributes: a cached write's writeback failed (ENOSPC), and
	 * this is how the writer gets the error from write(2) itself instead
	 * of filling the page cache forever (stat and fstat carry no handle). */
	ret = fi && hfs_writeback ? hfs_open_takesoft(ino) : 0;
	/* ... while the space is still down to the reserve: an rm since
	 * then made room again, and the write may go ahead (dirty.c) */
	if (ret && hfs_dirty_room(fs) > 0)
		ret = 0;
	if (!ret && fi && hfs_writeback)
		ret = hfs_open_takeerr(ino);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	/* the same path: a write(2) through a descriptor opened before
	 * chattr +i (op_ioctl dropped the cached attributes to get here) */
	if (!ret && fi && hfs_writeback && (fi->fh & FH_WRITER) && (ip.flags & HFS_IFL_IMMUTABLE))
		ret = -EPERM;
	/* an immutable file someone holds open for writing: attributes the
	 * kernel may not cache, or the GETATTR of a permission check (no
	 * handle) would let a later write(2) through the old descriptor skip
	 * the one above that refuses it (t_iflags failed now and then) */
	nocache = !ret && S_ISREG(ip.mode) && (ip.flags & HFS_IFL_IMMUTABLE) && hfs_open_writers(ino);
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	to_stat(&ip, &st);
	fuse_reply_attr(req, &st, nocache ? 0.0 : TIMEOUT);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int set,
		       struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	struct stat st;
	/* times and owner only (the kernel's writeback cache sends the times
	 * of cached writes before an fsync): logged, fs/redo.c */
	int logged = !(set & ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME |
			       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
			       FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID));
	int ret, same = 0, killed = 0;

	pthread_mutex_lock(&fs->lock);
	hfs_redo_op(logged);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		ret = hfs_iflags_may_setattr(&ip, set, hfs_open_writers(ino));
	if (ret)
		goto out;
	if (set & FUSE_SET_ATTR_MODE) {
		ip.mode = (ip.mode & S_IFMT) | (a->st_mode & 07777);
		ret = hfs_acl_chmod(fs, ino, ip.mode);
		if (ret)
			goto out;
	}
	/* set-ID bits dropped by chown come as a mode change in the same call */
	if ((set & FUSE_SET_ATTR_UID) && a->st_uid != (uid_t)-1)
		ip.uid = a->st_uid;
	if ((set & FUSE_SET_ATTR_GID) && a->st_gid != (gid_t)-1)
		ip.gid = a->st_gid;
	/* killpriv v2 (fuse_io.c): set-ID bits of a chown, and of a truncate
	 * by a caller without CAP_FSETID, are ours to drop.  chown(-1, -1)
	 * comes as ctime alone (nothing else sends that).  A REDO replay sets
	 * owner and times, not the mode: such a setattr is not logged */
	if (hfs_killpriv_v2 && ((set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ||
				set == FUSE_SET_ATTR_CTIME ||
				((set & FUSE_SET_ATTR_SIZE) && hfs_req_kill_suidgid())))
		killed = hfs_kill_suidgid(&ip);
	if (killed && logged) {
		hfs_redo_fail(fs);
		logged = 0;
	}
	if (set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(ip.mode)) {
			ret = S_ISDIR(ip.mode) ? -EISDIR : -EINVAL;
			goto out;
		}
		/* the same size changes no times: with the writeback cache the
		 * kernel keeps its own mtime/ctime then (and sends new ones when
		 * the size does change) */
		same = (uint64_t)a->st_size == ip.size && !(set & ~FUSE_SET_ATTR_SIZE);
		ret = hfs_file_truncate(fs, &ip, (uint64_t)a->st_size);
		if (ret) {
			/* failed midway: keep the block count of what was dropped */
			hfs_inode_store_changed(fs, &ip);
			goto out;
		}
	}
	if (set & FUSE_SET_ATTR_ATIME_NOW)
		hfs_now(&ip.atime);
	else if (set & FUSE_SET_ATTR_ATIME)
		ip.atime = a->st_atim;
	if (set & FUSE_SET_ATTR_MTIME_NOW)
		hfs_now(&ip.mtime);
	else if (set & FUSE_SET_ATTR_MTIME)
		ip.mtime = a->st_mtim;
	if (set & FUSE_SET_ATTR_CTIME)
		ip.ctime = a->st_ctim;
	else if (!same)
		hfs_now(&ip.ctime);
	ret = hfs_inode_store(fs, &ip);
	if (!ret && logged)
		hfs_redo_attr(fs, &ip);   /* (R1) same fs->lock hold as the store */
	if (!ret && (ip.flags & HFS_IFL_SYNC))
		ret = hfs_flush_locked(fs);   /* chattr +S: durable on return */
out:
	if (ret && logged)
		hfs_redo_fail(fs);
	hfs_redo_op(0);
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	to_stat(&ip, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct hfs_statfs s;
	struct statvfs v;

	hfs_statfs_get(FS(req), &s);
	memset(&v, 0, sizeof(v));
	v.f_bsize = v.f_frsize = HFS_BLKSIZE;
	v.f_blocks = s.total_blocks;
	v.f_bfree = s.free_blocks;
	v.f_bavail = s.avail_blocks;
	v.f_files = s.max_inodes;
	v.f_ffree = v.f_favail = s.free_inodes;
	v.f_namemax = 255;
	fuse_reply_statfs(req, &v);
}

/* Whether the caller may keep a setgid bit on a file of group gid: root
 * (CAP_FSETID, as far as the daemon can tell) or a member of the group. */
int caller_in_group_or_root(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t list[256];
	int n, i;

	if (ctx->uid == 0 || ctx->gid == gid)
		return 1;
	n = fuse_req_getgroups(req, (int)(sizeof(list) / sizeof(list[0])), list);
	if (n > (int)(sizeof(list) / sizeof(list[0])))
		n = (int)(sizeof(list) / sizeof(list[0]));
	for (i = 0; i < n; i++)
		if (list[i] == gid)
			return 1;
	return 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret, equiv = 0, again = 1;

	pthread_mutex_lock(&fs->lock);
retry:
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		ret = hfs_iflags_fixed(&ip);   /* xattr_permission's check */
	/* ACLs stay inline (acl.c reads them into HFS_XATTR_MAX buffers):
	 * 511 entries, as an ext4 xattr block holds */
	if (!ret && !strncmp(name, "system.posix_acl_", 17) && size > HFS_XATTR_MAX)
		ret = -E2BIG;
	if (!ret && !strcmp(name, "system.posix_acl_access")) {
		ret = hfs_acl_to_mode(value, size, &ip.mode);
		equiv = ret == 1;
		ret = ret < 0 ? ret : 0;
		/* As posix_acl_update_mode: a caller outside the file's group
		 * (and not root) loses setgid.  The kernel would tell us with
		 * FUSE_SETXATTR_ACL_KILL_SGID, which libfuse 3.14 cannot pass. */
		if (!ret && (ip.mode & S_ISGID) && !caller_in_group_or_root(req, ip.gid))
			ip.mode &= ~(uint32_t)S_ISGID;
	}
	if (!ret && equiv) {
		ret = hfs_xattr_remove(fs, ino, name);   /* the mode says it all */
		if (ret == -ENODATA)
			ret = 0;
	} else if (!ret) {
		fs->keep_reserve = hfs_writeback;
		ret = hfs_xattr_set(fs, ino, name, value, size, flags);
		fs->keep_reserve = false;
		if (again-- && enospc_commit(fs, ret))
			goto retry;
	}
	if (!ret) {
		hfs_now(&ip.ctime);
		ret = hfs_inode_store(fs, &ip);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

/* Reply to getxattr/listxattr: ret is a length or -errno; size 0 asks for the length. */
static void reply_xattr(fuse_req_t req, int ret, const char *buf, size_t size)
{
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (!size)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct hfs_fs *fs = FS(req);
	char *buf = size ? malloc(size) : NULL;
	int ret;

	/* counted: one per cached write(2) without killpriv v2 (fuse_io.c) */
	__atomic_add_fetch(&fs->getxattr_reqs, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&fs->lock);
	ret = size && !buf ? -ENOMEM : hfs_xattr_get(fs, ino, name, buf, size);
	pthread_mutex_unlock(&fs->lock);
	reply_xattr(req, ret, buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct hfs_fs *fs = FS(req);
	char *buf = size ? malloc(size) : NULL;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = size && !buf ? -ENOMEM : hfs_xattr_list(fs, ino, buf, size);
	pthread_mutex_unlock(&fs->lock);
	reply_xattr(req, ret, buf, size);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		ret = hfs_iflags_fixed(&ip);
	if (!ret)
		ret = hfs_xattr_remove(fs, ino, name);
	if (!ret) {
		hfs_now(&ip.ctime);   /* a metadata change (the kernel shows it too) */
		ret = hfs_inode_store(fs, &ip);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

/* FS_IOC_SHUTDOWN (shutdown.c) and chattr/lsattr (iflags.c).  After a
 * change, the kernel's cached attributes go (ctime changed; and a write(2)
 * through a descriptor opened before +i must ask op_getattr, which refuses
 * it). */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct hfs_fs *fs = FS(req);
	uint64_t out[8];   /* the largest argument: struct fsxattr, 28 bytes */
	size_t len = 0;
	int ret;

	if (cmd == HFS_IOC_SHUTDOWN) {
		hfs_ioctl_shutdown(req, arg);
		return;
	}
	if (cmd == HFS_IOC_FITRIM) {
		hfs_ioctl_trim(req, in_buf, in_bufsz, out_bufsz);
		return;
	}
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);   /* 32-bit callers: not translated here */
		return;
	}
	pthread_mutex_lock(&fs->lock);
	ret = hfs_iflags_ioctl(fs, ino, fuse_req_ctx(req)->uid, cmd, in_buf, in_bufsz, out,
			       out_bufsz < sizeof(out) ? out_bufsz : sizeof(out), &len);
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* before the reply, so that a stat right after chattr sees the new
	 * ctime (the kernel holds the inode lock meanwhile, which an
	 * attributes-only invalidation does not take) */
	if (!len)
		atime_notify(ino);
	fuse_reply_ioctl(req, 0, len ? out : NULL, len);
}

void (*hfs_fuse_on_mounted)(void);

static const struct fuse_lowlevel_ops hfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.ioctl = op_ioctl,
};

static struct fuse_lowlevel_ops gated_ops;

int hfs_fuse_run(struct hfs_fs *fs, const char *mountpoint, int foreground, int fuse_argc,
		 char **fuse_argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(fuse_argc, fuse_argv);
	struct fuse_session *se;
	unsigned nthr;
	char canon[PATH_MAX], bdi[64] = "";
	int ret = -EIO, err;

	hfs_shutdown_gate(&hfs_ops, &gated_ops);
	se = fuse_session_new(&args, &gated_ops, sizeof(gated_ops), fs);
	hfs_session = se;
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (!realpath(mountpoint, canon))
		canon[0] = 0;
	if (fuse_session_mount(se, mountpoint) != 0)
		goto out_sig;
	if ((err = hfs_fuse_io_setup(se)) != 0)
		HFS_INFO("no custom FUSE I/O (%s): the kernel clears set-ID bits itself, with a "
			 "GETXATTR before each cached write", strerror(-err));
	/* the mount's bdi: the kernel takes the smaller of its readahead
	 * window and max_readahead (op_init); its dirty limit sizes the
	 * writeback reserve (dirty.c) */
	err = canon[0] ? hfs_mount_bdi(canon, bdi, sizeof(bdi)) : -ENOENT;
	if (err)
		HFS_INFO("no bdi found for the mount on %s: %s", canon[0] ? canon : mountpoint,
			 strerror(-err));
	else if ((err = hfs_bdi_set_readahead(bdi, HFS_READAHEAD >> 10)) != 0)
		HFS_INFO("cannot set the readahead window of %s: %s", canon, strerror(-err));
	hfs_dirty_setup(fs, canon[0] ? canon : mountpoint, bdi[0] ? bdi : NULL);
	{
		/* Threads mostly wait for the device (data sections) or for
		 * fs->lock, so a few per CPU keep the device busy: 4 per CPU,
		 * at least 8 (the kernel's background requests), at most 32. */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		nthr = ncpu > 0 ? (unsigned)ncpu * 4 : 8;
		nthr = nthr < 8 ? 8 : nthr > 32 ? 32 : nthr;
	}
	hfs_fuse_ring_config(se, nthr, fs->opts.no_fuse_uring);
	if (hfs_fuse_on_mounted)
		hfs_fuse_on_mounted();
	ret = hfs_fuse_loop(se, nthr);
	if (ret == -ECONNABORTED) {
		/* umount -f, a fusectl abort, or (seen on kernel 6.18, with
		 * fusectl not even mounted) now and then a plain unmount: the
		 * kernel failed every pending request itself; nothing of ours
		 * is lost, and the caller's final flush commits what we hold. */
		HFS_WARN("the kernel aborted the FUSE connection of %s; flushing and exiting",
			 mountpoint);
		ret = 0;
	}
	ret = ret ? -EIO : 0;
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	return ret;
}

