/*
 * fuse_ops.c — the FUSE lowlevel operations over inodes, directories,
 * file data and xattrs, and the session loop.
 *
 * Every operation takes fs->lock; modifying ones call hfs_op_begin first
 * (crash rule 1).  Permission checks are the kernel's (default_permissions).
 * Open counts live in a small in-memory table so an unlinked open file
 * stays (orphan record) until its last release.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <fuse_lowlevel.h>
#include "fs/dir.h"
#include "fs/hfs_int.h"
#include "fs/shutdown.h"

/* Single host: every change comes through this mount, and the kernel drops
 * what an operation invalidates (link, unlink, rename, setxattr, setattr),
 * so its cache goes stale only through us; a long timeout saves a LOOKUP
 * per path component that was used a second ago (stat then unlink). */
#define TIMEOUT 60.0

/* ---- helpers ------------------------------------------------------------------ */
static struct hfs_fs *FS(fuse_req_t req) { return fuse_req_userdata(req); }


/* The session, for notifications (set once before the loop runs). */
static struct fuse_session *session;

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/* A read or a listing: move atime as the mount's policy says (the kernel
 * leaves atime to FUSE filesystems).  relatime as Linux defines it: when
 * atime is not newer than mtime or ctime, or is a day old.  fs->lock held;
 * returns 1 when it stored a new atime (the caller then drops the kernel's
 * cached attributes with atime_notify, after unlocking).  Best effort: a
 * failure leaves the old atime, never fails the read. */
static int atime_touch(struct hfs_fs *fs, struct hfs_inode *ip, int flags)
{
	struct timespec now;

	if (fs->readonly || fs->opts.atime == HFS_ATIME_NOATIME || (flags & O_NOATIME) ||
	    (ip->flags & HFS_IFL_NOATIME) || (fs->opts.nodiratime && S_ISDIR(ip->mode)))
		return 0;
	hfs_now(&now);
	if (fs->opts.atime == HFS_ATIME_RELATIME && ts_cmp(&ip->atime, &ip->mtime) > 0 &&
	    ts_cmp(&ip->atime, &ip->ctime) > 0 && now.tv_sec - ip->atime.tv_sec < 24 * 3600)
		return 0;
	/* hfs_op_begin may commit, which waits for data sections with
	 * fs->lock dropped: store atime into a copy loaded after it */
	if (hfs_op_begin(fs) || hfs_inode_load(fs, ip->ino, ip))
		return 0;
	ip->atime = now;
	return hfs_inode_store(fs, ip) == 0;
}

/* An operation that failed with ENOSPC changed nothing (its first change
 * is its one insert, B-tree splits take their nodes before they start,
 * make() undoes a half-made inode).  When freed space waits for its commit,
 * commit it and say to try once more.  fs->lock held. */
static int enospc_commit(struct hfs_fs *fs, int ret)
{
	return ret == -ENOSPC && hfs_alloc_pending_blocks(fs) && hfs_flush_locked(fs) == 0;
}

/* Drop the kernel's cached attributes of ino.  Called before the reply of
 * the request that changed them: once the caller sees the reply, its next
 * stat (or a write(2) through an old descriptor after chattr +i, which
 * must revalidate) finds them gone; sent after the reply, the two raced
 * and the caller could still see the old attributes (t_iflags failed now
 * and then under load). */
static void atime_notify(uint64_t ino)
{
	/* attributes only (offset < 0): touches no page, safe inside a request */
	if (session)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

static void to_stat(const struct hfs_inode *ip, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = ip->mode;
	st->st_nlink = ip->nlink;
	st->st_uid = ip->uid;
	st->st_gid = ip->gid;
	st->st_size = (off_t)ip->size;
	st->st_blocks = (blkcnt_t)ip->blocks;
	st->st_blksize = HFS_BLKSIZE;
	st->st_rdev = ip->rdev;
	st->st_atim = ip->atime;
	st->st_mtim = ip->mtime;
	st->st_ctim = ip->ctime;
}

/* The generation goes with every entry: the kernel keeps the one it first
 * sees for an inode and puts it into the inode's file handles. */
static void fill_entry(struct fuse_entry_param *e, const struct hfs_inode *ip)
{
	memset(e, 0, sizeof(*e));
	e->ino = ip->ino;
	e->generation = ip->generation;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
	to_stat(ip, &e->attr);
}

static void reply_entry(fuse_req_t req, const struct hfs_inode *ip)
{
	struct fuse_entry_param e;

	fill_entry(&e, ip);
	fuse_reply_entry(req, &e);
}


/* ---- ops ------------------------------------------------------------------------- */

static int hfs_writeback;   /* the kernel caches writes (FUSE_CAP_WRITEBACK_CACHE) */

/* Below this much space for data, files opened for writing bypass the page
 * cache (FOPEN_DIRECT_IO): write(2) then reaches us and gets its ENOSPC
 * itself, as on a local filesystem, instead of a later writeback error
 * that programs which ignore close(2)'s result never see. */
#define HFS_NEARFULL_BLOCKS ((64u << 20) / HFS_BLKSIZE)

/* Bytes a new write may still take (fs->lock held): data space beyond the
 * writeback reserve. */
static uint64_t user_room(struct hfs_fs *fs)
{
	uint64_t d = hfs_alloc_data_blocks(fs), r = hfs_alloc_wb_reserve(fs);

	return d > r ? (d - r) * HFS_BLKSIZE : 0;
}

/* fi->fh of an open that may write (op_release, op_getattr) */
#define FH_WRITER 1u

static void open_mode(struct hfs_fs *fs, struct fuse_file_info *fi, const struct hfs_inode *ip)
{
	struct hfs_statfs st;

	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return;
	fi->fh = FH_WRITER;
	if (!hfs_writeback)
		return;
	/* chattr +S: each write(2) must reach us, to be durable when it
	 * returns (the kernel does not know S_SYNC for FUSE inodes) */
	if (ip->flags & HFS_IFL_SYNC) {
		fi->direct_io = 1;
		return;
	}
	hfs_statfs_get(fs, &st);
	if (st.avail_blocks < HFS_NEARFULL_BLOCKS)
		fi->direct_io = 1;
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
	/* The kernel clears set-ID bits on write, truncate and chown, knowing
	 * the caller's CAP_FSETID (libfuse 3.14 has no killpriv v2 to tell us). */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	/* writeback and readahead requests in flight at once (kernel default
	 * 12): data sections run them in parallel on the device */
	conn->max_background = 32;
	conn->congestion_threshold = 24;
}

/* "." and ".." of any inode: the kernel asks for them only when it decodes
 * a file handle (open_by_handle_at, NFS export) whose inode it no longer
 * caches: "." of the handle's inode number, ".." of a directory to connect
 * it to the tree.  An inode that is gone, or unlinked and only kept for
 * its open files, is ENOENT (the kernel answers ESTALE, as ext4 does for
 * an inode with no links); the kernel compares the generation itself.
 * fs->lock held. */
static int lookup_dots(struct hfs_fs *fs, uint64_t ino, int dotdot, struct hfs_inode *ip)
{
	int ret = hfs_inode_load(fs, ino, ip);

	if (ret)
		return ret;
	if (ip->nlink == 0)
		return -ENOENT;
	if (!dotdot)
		return 0;
	if (!S_ISDIR(ip->mode))
		return -ENOTDIR;
	if (ino == HFS_ROOT_INO)
		return 0;
	ret = hfs_inode_load(fs, ip->parent, ip);
	if (ret == -ENOENT)   /* a directory always has its parent */
		return HFS_CORRUPT("directory %llu: parent %llu missing",
				   (unsigned long long)ino, (unsigned long long)ip->parent);
	return ret;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	uint64_t ino;
	uint8_t t;
	int ret;

	pthread_mutex_lock(&fs->lock);
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		ret = lookup_dots(fs, parent, name[1] == '.', &ip);
	} else {
		ret = hfs_dir_lookup(fs, parent, name, &ino, &t);
		if (!ret)
			ret = hfs_inode_load(fs, ino, &ip);
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &ip);
}

/* Lookup counts need no state here: inodes live in the B-tree, and the
 * lifetime of unlinked files follows opens (orphans), not lookups. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	int ret, same = 0;

	pthread_mutex_lock(&fs->lock);
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
	if (!ret && (ip.flags & HFS_IFL_SYNC))
		ret = hfs_flush_locked(fs);   /* chattr +S: durable on return */
out:
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	to_stat(&ip, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* Create a new inode named name in parent (mknod, mkdir, symlink, create). */
static int make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		const char *link, struct hfs_inode *ip)
{
	struct hfs_fs *fs = FS(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct hfs_acl_new *acl;
	struct hfs_inode dir;
	uint64_t x;
	uint8_t t;
	int ret;

	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, parent, &dir);
	if (ret)
		return ret;
	if (!S_ISDIR(dir.mode) || !dir.nlink)
		return -ENOENT;
	ret = hfs_iflags_no_add(&dir);
	if (ret)
		return ret;
	ret = hfs_dir_lookup(fs, parent, name, &x, &t);
	if (ret == 0)
		return -EEXIST;
	if (ret != -ENOENT)
		return ret;
	acl = malloc(sizeof(*acl));
	if (!acl)
		return -ENOMEM;
	ret = hfs_acl_inherit(fs, parent, &mode, ctx->umask, acl);
	if (ret) {
		free(acl);
		return ret;
	}
	memset(ip, 0, sizeof(*ip));
	ip->mode = mode;
	ip->uid = ctx->uid;
	ip->gid = (dir.mode & S_ISGID) ? dir.gid : ctx->gid;
	if (S_ISDIR(mode) && (dir.mode & S_ISGID))
		ip->mode |= S_ISGID;
	ip->nlink = S_ISDIR(mode) ? 2 : 1;
	ip->rdev = rdev;
	ip->parent = S_ISDIR(mode) ? parent : 0;
	/* inherited as on ext4: sync, nodump, noatime (never +i/+a) */
	if (S_ISREG(mode) || S_ISDIR(mode))
		ip->flags = dir.flags & (HFS_IFL_SYNC | HFS_IFL_NODUMP | HFS_IFL_NOATIME |
					 (S_ISDIR(mode) ? HFS_IFL_DIRSYNC : 0));
	hfs_now(&ip->atime);
	ip->mtime = ip->ctime = ip->btime = ip->atime;
	if (link)
		ip->size = strlen(link);
	ret = hfs_inode_create(fs, ip);
	if (ret) {
		free(acl);
		return ret;
	}
	ret = hfs_acl_store_new(fs, ip->ino, acl);
	free(acl);
	if (ret)
		goto undo;
	if (link) {
		struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_SYMLINK, 0);

		ret = hfs_bt_insert(fs, &k, link, strlen(link));
		if (ret)
			goto undo;
	}
	ret = hfs_dir_add(fs, parent, name, ip->ino, hfs_dtype(mode));
	if (ret)
		goto undo;
	ret = hfs_dir_touch(fs, parent, S_ISDIR(mode) ? 1 : 0);
	return ret ? ret : hfs_iflags_dirsync(fs, parent);
undo:
	hfs_inode_destroy(fs, ip->ino);
	return ret;
}

static void reply_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       dev_t rdev, const char *link)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	fs->keep_reserve = hfs_writeback;
	ret = make(req, parent, name, mode, rdev, link, &ip);
	if (enospc_commit(fs, ret))
		ret = make(req, parent, name, mode, rdev, link, &ip);
	fs->keep_reserve = false;
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &ip);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	reply_make(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) > HFS_SYMLINK_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	reply_make(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_SYMLINK, 0);
	char buf[HFS_SYMLINK_MAX + 1];
	struct hfs_inode ip;
	size_t len;
	int ret, touched;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_bt_lookup(fs, &k, buf, sizeof(buf) - 1, &len);
	/* readlink(2) is an access (touch_atime in the VFS) */
	touched = !ret && hfs_inode_load(fs, ino, &ip) == 0 && atime_touch(fs, &ip, 0);
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, ret == -ENOENT ? EINVAL : -ret);
		return;
	}
	buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = 0;
	if (touched)
		atime_notify(ino);   /* before the reply (see atime_notify) */
	fuse_reply_readlink(req, buf);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct hfs_fs *fs = FS(req);
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_do_unlink(fs, parent, name, 0);
	if (!ret)
		ret = hfs_iflags_dirsync(fs, parent);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct hfs_fs *fs = FS(req);
	int ret;

	if (!strcmp(name, ".")) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	ret = hfs_do_unlink(fs, parent, name, 1);
	if (!ret)
		ret = hfs_iflags_dirsync(fs, parent);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

static void op_rename(fuse_req_t req, fuse_ino_t sp, const char *sn, fuse_ino_t dp,
		      const char *dn, unsigned int flags)
{
	struct hfs_fs *fs = FS(req);
	unsigned wo = flags & RENAME_WHITEOUT;
	int ret;

	/* RENAME_WHITEOUT (overlayfs): the source name becomes a whiteout, a
	 * character device 0:0 (the kernel checked CAP_MKNOD).  Known gap: not
	 * atomic with the rename, an ENOSPC for the whiteout leaves the rename
	 * done and the error returned. */
	if (wo && (flags & RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	flags &= ~(unsigned)RENAME_WHITEOUT;
	pthread_mutex_lock(&fs->lock);
	ret = hfs_do_rename(fs, sp, sn, dp, dn, flags);
	if (enospc_commit(fs, ret))
		ret = hfs_do_rename(fs, sp, sn, dp, dn, flags);
	if (!ret && wo) {
		struct hfs_inode w;

		ret = make(req, sp, sn, S_IFCHR, 0, NULL, &w);
		if (enospc_commit(fs, ret))
			ret = make(req, sp, sn, S_IFCHR, 0, NULL, &w);
	}
	if (!ret)
		ret = hfs_iflags_dirsync(fs, sp);
	if (!ret && dp != sp)
		ret = hfs_iflags_dirsync(fs, dp);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret, again = 1;

	pthread_mutex_lock(&fs->lock);
retry:
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (!ret && S_ISDIR(ip.mode))
		ret = -EPERM;
	if (!ret)
		ret = hfs_iflags_fixed(&ip);   /* vfs_link's check */
	if (!ret) {
		struct hfs_inode d;

		ret = hfs_inode_load(fs, parent, &d);
		if (!ret)
			ret = hfs_iflags_no_add(&d);
	}
	if (!ret && ip.nlink >= 65000)
		ret = -EMLINK;
	if (!ret) {
		fs->keep_reserve = hfs_writeback;
		ret = hfs_dir_add(fs, parent, name, ino, hfs_dtype(ip.mode));
		fs->keep_reserve = false;
	}
	if (again-- && enospc_commit(fs, ret))
		goto retry;
	if (!ret) {
		ip.nlink++;
		hfs_now(&ip.ctime);
		ret = hfs_inode_store(fs, &ip);
	}
	if (!ret)
		ret = hfs_dir_touch(fs, parent, 0);
	if (!ret)
		ret = hfs_iflags_dirsync(fs, parent);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &ip);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		ret = hfs_iflags_may_open(&ip, fi->flags);
	if (!ret && (fi->flags & O_TRUNC) && ip.size) {
		/* loaded again after hfs_op_begin, which may drop fs->lock */
		ret = hfs_op_begin(fs);
		if (!ret)
			ret = hfs_inode_load(fs, ino, &ip);
		if (!ret)
			ret = hfs_file_truncate(fs, &ip, 0);
		if (!ret)
			ret = hfs_inode_store(fs, &ip);
	}
	if (!ret) {
		hfs_open_get(ino);
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			hfs_open_writer(ino, 1);   /* open_mode sets FH_WRITER */
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	open_mode(fs, fi, &ip);   /* takes fs->lock */
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct fuse_entry_param e;
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	fs->keep_reserve = hfs_writeback;
	ret = make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &ip);
	if (enospc_commit(fs, ret))
		ret = make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &ip);
	fs->keep_reserve = false;
	if (!ret) {
		hfs_open_get(ip.ino);
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			hfs_open_writer(ip.ino, 1);   /* open_mode sets FH_WRITER */
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	open_mode(fs, fi, &ip);   /* takes fs->lock */
	fill_entry(&e, &ip);
	fuse_reply_create(req, &e, fi);
}

/* The last close of an inode that lost its last link destroys it (it was
 * an orphan since the unlink, or since a rename replaced it). */
static int release_ino(struct hfs_fs *fs, fuse_ino_t ino, int writer)
{
	int ret = 0;

	pthread_mutex_lock(&fs->lock);
	if (writer)
		hfs_open_writer(ino, -1);
	if (hfs_open_put(ino) == 0) {
		struct hfs_inode ip;

		if (hfs_inode_load(fs, ino, &ip) == 0 && ip.nlink == 0) {
			ret = hfs_op_begin(fs);
			if (!ret)
				ret = hfs_inode_destroy(fs, ino);
			if (!ret)
				ret = hfs_orphan_del(fs, ino);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -release_ino(FS(req), ino, !!(fi->fh & FH_WRITER)));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	char *buf = NULL;
	ssize_t n;
	int ret, touched;

	/* aligned, so whole blocks are read straight into it (no bounce) */
	if (posix_memalign((void **)&buf, 4096, size ? size : 1))
		buf = NULL;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &ip);
	n = ret ? ret : hfs_file_read(fs, &ip, buf, size, (uint64_t)off);
	/* the read dropped fs->lock around its I/O (data sections in file.c):
	 * others may have changed the inode meanwhile, so the atime goes into
	 * a fresh copy, never the one loaded before (it reverted their size
	 * and block count: i_blocks disagreed with the data records) */
	touched = n >= 0 && hfs_inode_load(fs, ino, &ip) == 0 && atime_touch(fs, &ip, fi->flags);
	pthread_mutex_unlock(&fs->lock);
	if (touched)
		atime_notify(ino);   /* before the reply (see atime_notify) */
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	struct timespec mt = { 0 }, ct = { 0 };
	uint64_t room = UINT64_MAX;
	ssize_t n;
	int ret, loaded, soft, stale = 0;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_op_begin(fs);
	if (!ret && !fi->writepage && hfs_writeback) {
		/* a new write may not take the writeback reserve (kept only
		 * when the kernel caches writes).  Before the inode is loaded:
		 * the flush lets other writes of this inode finish meanwhile */
		room = user_room(fs);
		if (room < size && hfs_alloc_pending_blocks(fs) && !hfs_flush_locked(fs))
			room = user_room(fs);
	}
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	/* writes that reach us from write(2) itself (direct I/O, no
	 * writeback cache): +i refuses them, +a all but appends.  The
	 * writeback of cached pages is data write(2) already accepted. */
	if (!ret && !fi->writepage && ((ip.flags & HFS_IFL_IMMUTABLE) ||
				       ((ip.flags & HFS_IFL_APPEND) && !(fi->flags & O_APPEND)))) {
		/* refused, nothing written: no error to keep for close */
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, EPERM);
		return;
	}
	if (!ret && (fi->flags & O_APPEND))
		off = (off_t)ip.size;
	loaded = !ret;
	if (!ret && room < size) {
		/* all or nothing, as callers expect of a full disk; blocks
		 * preallocated by fallocate are filled in place and take none */
		int64_t need = hfs_file_write_need(fs, &ip, (uint64_t)off, size);

		ret = need < 0 ? (int)need : room < (uint64_t)need ? -ENOSPC : 0;
	}
	if (loaded) {
		mt = ip.mtime;
		ct = ip.ctime;
	}
	n = ret ? ret : hfs_file_write(fs, &ip, buf, size, (uint64_t)off);
	if (((n >= 0 && (size_t)n < size) || n == -ENOSPC) && hfs_alloc_pending_blocks(fs)) {
		/* out of space with frees waiting for their commit: commit what
		 * was written so far (a consistent state), then do the rest */
		size_t did = n > 0 ? (size_t)n : 0;
		ssize_t m;

		ret = did ? hfs_inode_store(fs, &ip) : 0;
		if (!ret)
			ret = hfs_flush_locked(fs);
		/* the flush waited for other data sections with fs->lock
		 * dropped: writes to this inode may have changed it */
		if (!ret)
			ret = hfs_inode_load(fs, ino, &ip);
		stale = ret != 0;   /* what was done is stored; ip is not current */
		if (!ret && !loaded) {
			loaded = 1;
			mt = ip.mtime;
			ct = ip.ctime;
		}
		m = ret ? ret : hfs_file_write(fs, &ip, buf + did, size - did, (uint64_t)off + did);
		n = m >= 0 ? (ssize_t)did + m : (did ? (ssize_t)did : m);
	}
	if (n >= 0 && (size_t)n < size)
		hfs_open_seterr(ino, -ENOSPC);   /* the rest did not fit */
	else if (n < 0)
		hfs_open_seterr(ino, (int)n);
	/* ip is current here (hfs_file_write loads it again after any wait),
	 * and a write that returns <= 0 stored what it changed itself */
	if (n > 0 && !stale) {
		/* writeback of the kernel's cache: the kernel stamped mtime/ctime
		 * at write(2) and sends them itself (setattr, before or after this
		 * write); stamping the writeback time here would differ from
		 * what it showed */
		if (fi->writepage && n > 0) {
			ip.mtime = mt;
			ip.ctime = ct;
		}
		ret = hfs_inode_store(fs, &ip);
		if (ret && n > 0)
			n = ret;
	}
	/* cached writes reached the reserve: the writer's next write(2) gets
	 * ENOSPC, while what the cache holds still fits */
	soft = fi->writepage && n > 0 && hfs_writeback && user_room(fs) == 0;
	if (soft)
		hfs_open_setsoft(ino, -ENOSPC);
	/* chattr +S (such files are opened direct_io): durable on return */
	if (n > 0 && !fi->writepage && (ip.flags & HFS_IFL_SYNC)) {
		ret = hfs_flush_locked(fs);
		if (ret)
			n = ret;
	}
	pthread_mutex_unlock(&fs->lock);
	if (soft && session && (size_t)n == size) {
		fuse_reply_write(req, size);
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
		return;
	}
	if (fi->writepage && (n < 0 || (size_t)n < size)) {
		/* Writeback of the page cache: the next write(2) gets the error
		 * (see op_getattr); the error reply sets the mapping's error,
		 * which the kernel hands to fsync(2) and close(2) itself (there
		 * is no FLUSH: op_flush).  Invalidating the attributes only
		 * (offset < 0) touches no page, so this cannot deadlock with
		 * the writeback. */
		fuse_reply_err(req, n < 0 ? (int)-n : ENOSPC);
		if (session)
			fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
		return;
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* close(2) needs nothing of us: the kernel writes the file's cached pages
 * back (WRITE) before it would send FLUSH, and reports their errors from
 * the mapping (op_write's error replies).  ENOSYS tells it to stop sending
 * FLUSH, one round trip less per close (create, small-file writes and
 * reads).  An error still kept for this file (hfs_open_seterr) goes out
 * first. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	int err;

	pthread_mutex_lock(&fs->lock);
	err = hfs_open_takeerr(ino);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, err ? -err : ENOSYS);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	int err = hfs_sync(fs);

	pthread_mutex_lock(&fs->lock);
	if (!err)
		err = hfs_open_takeerr(ino);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -err);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -hfs_sync(FS(req)));
}

/* An open directory counts like an open file: rmdir, or a rename over it,
 * leaves it an orphan until releasedir (fstat of the fd still works). */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		hfs_open_get(ino);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_open(req, fi);
}

/* Offsets: 1 after ".", 2 after "..", key + 3 after an entry with key.
 * plus: readdirplus, each entry with its attributes (and a lookup). */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct hfs_fs *fs = FS(req);
	char *buf = calloc(1, size), name[256];
	size_t used = 0;
	struct hfs_inode d;
	int ret, touched = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &d);
	if (ret)
		goto out;
	if (!S_ISDIR(d.mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (off == 0)
		touched = atime_touch(fs, &d, 0);   /* a listing starts: an access */
	while (used < size) {
		struct stat st;
		uint64_t key, child;
		uint8_t t;
		size_t n;
		off_t next;

		struct fuse_entry_param e;

		memset(&st, 0, sizeof(st));
		memset(&e, 0, sizeof(e));
		if (off == 0 || off == 1) {
			/* "." and "..": no lookup is taken for them (ino 0 entry) */
			st.st_ino = off == 0 ? ino : (d.parent ? d.parent : ino);
			st.st_mode = S_IFDIR;
			next = off + 1;
			e.attr = st;
			n = plus ? fuse_add_direntry_plus(req, buf + used, size - used, off ? ".." : ".", &e, next)
				 : fuse_add_direntry(req, buf + used, size - used, off ? ".." : ".", &st, next);
		} else {
			ret = hfs_dir_next(fs, ino, (uint64_t)off - 2, &key, name, &child, &t);
			if (ret == -ENOENT) {
				ret = 0;
				break;
			}
			if (ret)
				break;
			st.st_ino = child;
			st.st_mode = (mode_t)t << 12;
			next = (off_t)(key + 3);
			if (plus) {
				struct hfs_inode ci;

				ret = hfs_inode_load(fs, child, &ci);
				if (ret)
					break;
				e.ino = child;
				e.generation = ci.generation;
				e.attr_timeout = e.entry_timeout = TIMEOUT;
				to_stat(&ci, &e.attr);
				n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
			} else {
				n = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
			}
		}
		if (n > size - used)
			break;
		used += n;
		off = next;
	}
out:
	pthread_mutex_unlock(&fs->lock);
	if (touched)
		atime_notify(ino);   /* before the reply (see atime_notify) */
	if (ret && !used)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -release_ino(FS(req), ino, 0));
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
static int caller_in_group_or_root(fuse_req_t req, gid_t gid)
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

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret, killed = 0;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	/* vfs_fallocate's checks: +i nothing, +a only allocation */
	if (!ret && ((ip.flags & HFS_IFL_IMMUTABLE) ||
		     ((ip.flags & HFS_IFL_APPEND) && (mode & ~FALLOC_FL_KEEP_SIZE))))
		ret = -EPERM;
	if (!ret) {
		ret = hfs_file_fallocate(fs, &ip, mode, (uint64_t)off, (uint64_t)len);
		/* A modification drops set-ID bits as setattr_should_drop_suidgid
		 * says: setuid always, setgid with group-exec or for a caller
		 * outside the group.  The kernel's FUSE killpriv (we leave it to
		 * the kernel) keeps setgid without group-exec in both cases. */
		if (!ret && fuse_req_ctx(req)->uid != 0 && (ip.mode & (S_ISUID | S_ISGID))) {
			ip.mode &= ~(uint32_t)S_ISUID;
			if ((ip.mode & S_ISGID) &&
			    ((ip.mode & S_IXGRP) || !caller_in_group_or_root(req, ip.gid)))
				ip.mode &= ~(uint32_t)S_ISGID;
			hfs_now(&ip.ctime);
			killed = 1;
		}
		/* failed midway (ENOSPC): the blocks it did store or drop are in
		 * the tree, so the inode's block count must follow them */
		if (!ret)
			ret = hfs_inode_store(fs, &ip);
		else
			hfs_inode_store_changed(fs, &ip);
	}
	pthread_mutex_unlock(&fs->lock);
	if (killed)
		atime_notify(ino);   /* the kernel's cached mode is stale */
	fuse_reply_err(req, -ret);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	uint64_t out = 0;
	int ret;

	/* With the writeback cache, data written since the last writeback is
	 * only in the kernel's page cache, and the kernel sends FUSE_LSEEK
	 * without writing it back first: a file just written would show no
	 * data (xfstests' SEEK_DATA probe writes a byte and seeks at once).
	 * Invalidating [off, EOF) makes the kernel write those pages back
	 * (launder) before the notification returns; their WRITEs are served
	 * by other loop threads, so fs->lock must not be held here.  Pages
	 * before off cannot change the answer and stay cached. */
	if (hfs_writeback && session && (whence == SEEK_DATA || whence == SEEK_HOLE) && off >= 0)
		fuse_lowlevel_notify_inval_inode(session, ino, off, 0);
	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &ip);
	if (!ret)
		ret = hfs_file_seek(fs, &ip, (uint64_t)off, whence, &out);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, (off_t)out);
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
	struct fuse_loop_config *cfg;
	int ret = -EIO;

	hfs_shutdown_gate(&hfs_ops, &gated_ops);
	se = fuse_session_new(&args, &gated_ops, sizeof(gated_ops), fs);
	session = se;
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (fuse_session_mount(se, mountpoint) != 0)
		goto out_sig;
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_mount;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	{
		/* Threads mostly wait for the device (data sections) or for
		 * fs->lock, so a few per CPU keep the device busy: 4 per CPU,
		 * at least 8 (the kernel's background requests), at most 32. */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned nthr = ncpu > 0 ? (unsigned)ncpu * 4 : 8;

		fuse_loop_cfg_set_max_threads(cfg, nthr < 8 ? 8 : nthr > 32 ? 32 : nthr);
	}
	if (hfs_fuse_on_mounted)
		hfs_fuse_on_mounted();
	ret = fuse_session_loop_mt(se, cfg);
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
	fuse_loop_cfg_destroy(cfg);
out_mount:
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	return ret;
}
