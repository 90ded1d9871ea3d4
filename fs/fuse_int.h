/*
 * fuse_int.h — what the FUSE operation files (fuse_ops.c, fuse_ns.c,
 * fuse_data.c) share: reply helpers, the writeback-cache state and the
 * operations the table in fuse_ops.c points to.  fs-internal.
 */
#ifndef HFS_FS_FUSE_INT_H
#define HFS_FS_FUSE_INT_H

#include <sys/stat.h>
#include <fuse_lowlevel.h>
#include "fs/hfs_int.h"

/* Single host: every change comes through this mount, and the kernel drops
 * what an operation invalidates (link, unlink, rename, setxattr, setattr),
 * so its cache goes stale only through us; a long timeout saves a LOOKUP
 * per path component that was used a second ago (stat then unlink). */
#define TIMEOUT 60.0

/* fi->fh of an open that may write (op_release, op_getattr) */
#define FH_WRITER 1u
/* ... through the page cache: counted in fs->cached_writers (dirty.c) */
#define FH_CACHED 2u
/* ... and above these bits, the stale mark it saw (op_open, hfs_open_stale) */
#define FH_STALE_SHIFT 32

static inline struct hfs_fs *FS(fuse_req_t req) { return fuse_req_userdata(req); }

extern int hfs_writeback;                 /* the kernel caches writes */
extern struct fuse_session *hfs_session;  /* for notifications */

/* fuse_loop.c: serve requests on nthreads threads until the session ends;
 * 0 or the first receive error (-errno, e.g. -ECONNABORTED) */
int hfs_fuse_loop(struct fuse_session *se, unsigned nthreads);
/* fuse_loop.c: a thread with the signals left to the main thread */
int hfs_fuse_thread(pthread_t *tid, void *(*fn)(void *), void *arg);
/* fuse_ring.c: FUSE over io_uring (its top comment).  config before the
 * mount (off: -o nofuse_uring); fuse_io.c prepares the threads when INIT
 * offers it and accept()s it into the reply, then go(1) after the reply is
 * written (go(0) if not); stop at the end of the loop.  ring_reply takes
 * a reply to the request this thread serves (1, *res as writev's) or
 * leaves it to /dev/fuse (0).  hfs_fuse_ring_info (hfs_int.h) tells the
 * status. */
struct fuse_init_in;
struct fuse_init_out;
struct fuse_in_header;
void hfs_fuse_ring_config(struct fuse_session *se, unsigned nthreads, int off);
int hfs_fuse_ring_wanted(void);
int hfs_fuse_ring_offered(const struct fuse_init_in *in);
int hfs_fuse_ring_prepare(int fd, size_t payload_cap);
void hfs_fuse_ring_accept(struct fuse_init_out *out);
void hfs_fuse_ring_go(int accepted);
void hfs_fuse_ring_stop(void);
/* whether the ring serves the requests (then /dev/fuse brings only FORGET
 * and INTERRUPT) */
int hfs_fuse_ring_serving(void);
int hfs_fuse_ring_reply(const struct iovec *iov, int count, ssize_t *res);
/* fuse_io.c: what a request's headers ask of the thread serving it (K2);
 * len: the request's length, all of it in memory */
void hfs_fuse_note_request(const struct fuse_in_header *h, size_t len);

int atime_due(struct hfs_fs *fs, const struct hfs_inode *ip, int flags, struct timespec *now);
int atime_touch(struct hfs_fs *fs, struct hfs_inode *ip, int flags);
int enospc_commit(struct hfs_fs *fs, int ret);
void atime_notify(uint64_t ino);
void to_stat(const struct hfs_inode *ip, struct stat *st);
void fill_entry(struct fuse_entry_param *e, const struct hfs_inode *ip);
void reply_entry(fuse_req_t req, const struct hfs_inode *ip);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
int caller_in_group_or_root(fuse_req_t req, gid_t gid);
/* fuse_io.c: killpriv v2 through libfuse's custom I/O (its top comment).
 * hfs_killpriv_v2: the kernel leaves set-ID clearing on write, truncate and
 * chown to us.  hfs_req_kill_suidgid: the request this thread is serving
 * asked for it (the caller lacks CAP_FSETID).  hfs_kill_suidgid: drop the
 * bits as the kernel would (setuid; setgid with group-exec), 1 if changed. */
extern int hfs_killpriv_v2;
int hfs_fuse_io_setup(struct fuse_session *se);
int hfs_kp2_offered(void);
int hfs_req_kill_suidgid(void);
int hfs_kill_suidgid(struct hfs_inode *ip);
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
int ns_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		const char *link, struct hfs_inode *ip);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t sp, const char *sn, fuse_ino_t dp,
		      const char *dn, unsigned int flags);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi);
int release_ino(struct hfs_fs *fs, fuse_ino_t ino, int writer);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi);
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);

#endif
