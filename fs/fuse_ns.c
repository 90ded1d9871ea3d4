/*
 * fuse_ns.c — FUSE namespace operations: lookup, create and remove of
 * names (mknod, mkdir, symlink, link, unlink, rmdir, rename), readlink
 * and directory listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs/dir.h"
#include "fs/fuse_int.h"

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

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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

/* Create a new inode named name in parent (mknod, mkdir, symlink, create). */
int ns_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
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
	ret = ns_make(req, parent, name, mode, rdev, link, &ip);
	if (enospc_commit(fs, ret))
		ret = ns_make(req, parent, name, mode, rdev, link, &ip);
	fs->keep_reserve = false;
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &ip);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	reply_make(req, parent, name, mode, rdev, NULL);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) > HFS_SYMLINK_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	reply_make(req, parent, name, S_IFLNK | 0777, 0, link);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
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

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
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

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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

void op_rename(fuse_req_t req, fuse_ino_t sp, const char *sn, fuse_ino_t dp,
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

		ret = ns_make(req, sp, sn, S_IFCHR, 0, NULL, &w);
		if (enospc_commit(fs, ret))
			ret = ns_make(req, sp, sn, S_IFCHR, 0, NULL, &w);
	}
	if (!ret)
		ret = hfs_iflags_dirsync(fs, sp);
	if (!ret && dp != sp)
		ret = hfs_iflags_dirsync(fs, dp);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
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

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	int err;

	/* entries change only by operations that do not log themselves, so
	 * a group with REDO records has none to commit (fs/redo.c R1) */
	pthread_mutex_lock(&fs->lock);
	err = hfs_fsync_locked(fs);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -err);
}

/* An open directory counts like an open file: rmdir, or a rename over it,
 * leaves it an orphan until releasedir (fstat of the fd still works). */
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -release_ino(FS(req), ino, 0));
}
