/*
 * fuse_data.c — FUSE operations on file data: open, create, release,
 * read, write, fsync, fallocate and lseek; and how an open chooses
 * between the page cache and direct I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs/dir.h"
#include "fs/fuse_int.h"

/* Below this much space for data, files opened write-only bypass the page
 * cache (FOPEN_DIRECT_IO): write(2) then reaches us and gets its ENOSPC
 * itself, at the exact byte, as on a local filesystem, instead of a later
 * writeback error that programs which ignore close(2)'s result never see.
 * Only write-only opens: mmap needs a descriptor open for reading, and a
 * direct_io file cannot be mapped shared-writable (ENODEV without
 * FUSE_DIRECT_IO_ALLOW_MMAP, which libfuse 3.14 cannot ask for), so a
 * read-write open stays cached and the writeback budget covers its dirty
 * pages (dirty.c). */
#define HFS_NEARFULL_BLOCKS ((64u << 20) / HFS_BLKSIZE)

/* Direct or cached; fs->lock not held. */
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
	if ((fi->flags & O_ACCMODE) == O_WRONLY && st.avail_blocks < HFS_NEARFULL_BLOCKS) {
		fi->direct_io = 1;
		return;
	}
	/* No ENOSPC here for a volume already full: the writes may go into
	 * fallocated blocks, which need no space (dirty.c) */
	pthread_mutex_lock(&fs->lock);
	fi->fh |= FH_CACHED;
	fs->cached_writers++;
	hfs_open_cached(ip->ino, 1);
	pthread_mutex_unlock(&fs->lock);
}

/* Whether a read-only open may keep the file's pages the kernel caches
 * (FOPEN_KEEP_CACHE; without it the open drops them).  Kept only when a
 * read now would not move atime: then the first read after a change (which
 * relatime must stamp) still reaches us.  Nor while a writer is open (its
 * pages may be dirty and its mtime not sent yet), nor for O_TRUNC, nor
 * while the pages may be stale (hfs_open_stale: data written around the
 * cache, a failed write).  fs->lock held. */
static int open_keeps_cache(struct hfs_fs *fs, const struct hfs_inode *ip, int flags, unsigned stale)
{
	struct timespec now;

	return (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC) && S_ISREG(ip->mode) &&
	       !hfs_open_writers(ip->ino) && !stale && !atime_due(fs, ip, flags, &now);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	int ret, keep = 0;
	unsigned stale = 0;

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
		stale = hfs_open_stalemark(ino);
		keep = open_keeps_cache(fs, &ip, fi->flags, stale);
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
	fi->keep_cache = keep;
	/* this open drops the pages: its release clears the mark it saw (by
	 * then the drop is done, so a later open may keep what is cached) */
	fi->fh |= (uint64_t)stale << FH_STALE_SHIFT;
	fuse_reply_open(req, fi);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct fuse_entry_param e;
	struct hfs_inode ip;
	int ret;

	pthread_mutex_lock(&fs->lock);
	fs->keep_reserve = hfs_writeback;
	ret = ns_make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &ip);
	if (enospc_commit(fs, ret))
		ret = ns_make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &ip);
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
int release_ino(struct hfs_fs *fs, fuse_ino_t ino, int writer)
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
		} else if (writer && fs->nheld) {
			/* written and closed: its held tail has nothing to wait for */
			ret = hfs_held_settle(fs, ino, 0, UINT64_MAX);
			ret = ret < 0 ? ret : 0;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	unsigned stale = (unsigned)(fi->fh >> FH_STALE_SHIFT);

	/* the kernel wrote this file's pages back before RELEASE (dirty.c B2) */
	if (fi->fh & FH_CACHED) {
		pthread_mutex_lock(&fs->lock);
		fs->cached_writers--;
		hfs_open_cached(ino, -1);
		pthread_mutex_unlock(&fs->lock);
	}
	if (stale) {
		pthread_mutex_lock(&fs->lock);
		hfs_open_unstale(ino, stale);
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, -release_ino(fs, ino, !!(fi->fh & FH_WRITER)));
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	char *buf;
	ssize_t n;
	int ret, touched;

	/* the thread's reply buffer, kept from one request to the next: a
	 * fresh 1 MiB allocation per request is an mmap and munmap, and the
	 * faults on its pages cost about a fifth of the daemon's CPU in a
	 * sequential read.  Page-aligned, so whole blocks are read straight
	 * into it (no bounce). */
	buf = hfs_iobuf_local(HFS_IOBUF_REPLY, size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	__atomic_add_fetch(&fs->read_reqs, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&fs->lock);
	ret = hfs_inode_load(fs, ino, &ip);
	n = ret ? ret : hfs_file_read(fs, &ip, buf, size, (uint64_t)off);
	/* the read dropped fs->lock around its I/O (data sections, section.c):
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
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	struct hfs_inode ip;
	struct timespec mt = { 0 }, ct = { 0 };
	uint64_t room = UINT64_MAX;
	ssize_t n;
	int ret, loaded, soft, full, stale = 0, retried = 0, killed = 0;
	uint64_t *others = NULL, before;
	size_t nothers = 0, i;

	pthread_mutex_lock(&fs->lock);
	/* a small write logs itself (fs/redo.c): an fsync then makes it
	 * durable with a REDO record instead of a commit */
	hfs_redo_op(1);
	ret = hfs_op_begin(fs);
	before = hfs_alloc_data_blocks(fs);
	if (!ret && !fi->writepage && hfs_writeback) {
		/* a new write may not take the writeback reserve (kept only
		 * when the kernel caches writes).  Before the inode is loaded:
		 * the flush lets other writes of this inode finish meanwhile */
		room = hfs_dirty_room(fs);
		if (room < size && hfs_alloc_pending_blocks(fs) && !hfs_flush_locked(fs))
			room = hfs_dirty_room(fs);
	}
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	/* writes that reach us from write(2) itself (direct I/O, no
	 * writeback cache): +i refuses them, +a all but appends.  The
	 * writeback of cached pages is data write(2) already accepted. */
	if (!ret && !fi->writepage && ((ip.flags & HFS_IFL_IMMUTABLE) ||
				       ((ip.flags & HFS_IFL_APPEND) && !(fi->flags & O_APPEND)))) {
		/* refused, nothing written: no error to keep for close */
		hfs_redo_op(0);
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

		retried = 1;
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
	if (n > 0 && !fi->writepage && hfs_writeback)
		hfs_open_stale(ino);   /* around the page cache (direct_io, O_DIRECT) */
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
		/* killpriv v2 (fuse_io.c): a writer without CAP_FSETID drops
		 * the set-ID bits; the kernel writes through (not cached) then */
		if (hfs_killpriv_v2 && hfs_req_kill_suidgid())
			killed = hfs_kill_suidgid(&ip);
		ret = hfs_inode_store(fs, &ip);
		if (ret && n > 0)
			n = ret;
	}
	/* (R1) the record in the same fs->lock hold as the write's last
	 * change; anything less than the whole write in one group (a retry
	 * after a commit, an error midway) is not logged, and the next fsync
	 * commits; nor a write that dropped set-ID bits (a replay does
	 * not set the mode) */
	if (n > 0 && (size_t)n == size && !stale && !retried && !killed)
		hfs_redo_write(fs, &ip, (uint64_t)off, buf, size);
	else if (size)
		hfs_redo_fail(fs);
	hfs_redo_op(0);
	/* cached writes reached the reserve: the writer's next write(2) gets
	 * ENOSPC, while what the cache holds still fits; and so does every
	 * other writer through the cache, or each would go on filling the
	 * cache until its own writeback came (8 writers overran the reserve).
	 * Only when space was taken (or could not be): a writeback into
	 * fallocated blocks, or one that replaced as much as it took, is a
	 * write a full volume still holds, and must not fail the next one. */
	full = fi->writepage && hfs_writeback && hfs_dirty_room(fs) == 0 &&
	       (n <= 0 || (size_t)n < size || hfs_alloc_data_blocks(fs) < before);
	soft = full && n > 0;
	if (soft)
		hfs_open_setsoft(ino, -ENOSPC);
	if (full)
		nothers = hfs_open_soft_cached(-ENOSPC, &others);
	/* chattr +S (such files are opened direct_io): durable on return */
	if (n > 0 && !fi->writepage && (ip.flags & HFS_IFL_SYNC)) {
		ret = hfs_flush_locked(fs);
		if (ret)
			n = ret;
	}
	pthread_mutex_unlock(&fs->lock);
	/* attributes only: touches no page (see below) */
	for (i = 0; hfs_session && i < nothers; i++)
		fuse_lowlevel_notify_inval_inode(hfs_session, others[i], -1, 0);
	free(others);
	if (soft && hfs_session && (size_t)n == size) {
		fuse_reply_write(req, size);
		fuse_lowlevel_notify_inval_inode(hfs_session, ino, -1, 0);
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
		if (hfs_session)
			fuse_lowlevel_notify_inval_inode(hfs_session, ino, -1, 0);
		return;
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	/* the kernel's cached mode still has the bits (attributes only) */
	if (killed && hfs_session)
		fuse_lowlevel_notify_inval_inode(hfs_session, ino, -1, 0);
}

/* close(2) needs nothing of us: the kernel writes the file's cached pages
 * back (WRITE) before it would send FLUSH, and reports their errors from
 * the mapping (op_write's error replies).  ENOSYS tells it to stop sending
 * FLUSH, one round trip less per close (create, small-file writes and
 * reads).  An error still kept for this file (hfs_open_seterr) goes out
 * first. */
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	int err;

	pthread_mutex_lock(&fs->lock);
	err = hfs_open_takeerr(ino);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, err ? -err : ENOSYS);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct hfs_fs *fs = FS(req);
	int err;

	pthread_mutex_lock(&fs->lock);
	err = hfs_fsync_locked(fs);   /* REDO records or a commit */
	if (!err)
		err = hfs_open_takeerr(ino);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -err);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
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

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
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
	if (hfs_writeback && hfs_session && (whence == SEEK_DATA || whence == SEEK_HOLE) && off >= 0)
		fuse_lowlevel_notify_inval_inode(hfs_session, ino, off, 0);
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
