/*
 * ops.h — workload operations of the crash tool.  Each one makes one
 * system call on the mounted tree (so with -o nowriteback one FUSE request,
 * which hfs never splits across flush groups), applies the same change to
 * the model and records the new state; sync calls record sync points.
 * On an unexpected result the op prints why and sets w->err; later ops
 * then do nothing (a workload is straight-line code).
 */
#ifndef HFS_CRASH_OPS_H
#define HFS_CRASH_OPS_H

#include "tests/crash/model.h"

struct wl {
	const char *mnt;          /* the mounted tree */
	const char *log;          /* the write log (its size is a sync's position), or NULL */
	struct model m;
	struct run run;
	uint64_t rng;             /* content and choices */
	int err;                  /* first failure: the workload stops */
	int live;                 /* compare the mount with the model after each op */
	int quiet;                /* kill mode: failures are expected, not reported */
	long nops;
	uint64_t op_start;        /* log size when the current op began */
	long kill_at;             /* kill mode: call kill_fn once nops reaches it */
	int killed;               /* kill_fn was called */
	void (*kill_fn)(void *priv);
	void *kill_priv;
};

enum { W_DIRECT = 1 };        /* w_write: open with O_DIRECT (64 KiB-aligned I/O) */

int  wl_init(struct wl *w, const char *mnt, const char *log, uint64_t seed);
void wl_free(struct wl *w);
uint64_t wl_rand(struct wl *w);

void w_mkdir(struct wl *w, const char *p);
void w_rmdir(struct wl *w, const char *p);
void w_create(struct wl *w, const char *p);                    /* empty file */
void w_write(struct wl *w, const char *p, uint64_t off, size_t len, int flags);
void w_append(struct wl *w, const char *p, size_t len);
void w_truncate(struct wl *w, const char *p, uint64_t size);
void w_punch(struct wl *w, const char *p, uint64_t off, uint64_t len);
/* fallocate(2) mode 0 (keep_size 0: the size grows to off + len) or
 * FALLOC_FL_KEEP_SIZE; the file reads the same but for a larger size */
void w_falloc(struct wl *w, const char *p, uint64_t off, uint64_t len, int keep_size);
void w_rename(struct wl *w, const char *from, const char *to);
void w_link(struct wl *w, const char *from, const char *to);
void w_unlink(struct wl *w, const char *p);
void w_symlink(struct wl *w, const char *target, const char *p);
void w_setxattr(struct wl *w, const char *p, const char *name, size_t len);
void w_removexattr(struct wl *w, const char *p, const char *name);
void w_chmod(struct wl *w, const char *p, unsigned mode);
void w_fsync(struct wl *w, const char *p);
void w_fdatasync(struct wl *w, const char *p);
/* fsync of a directory ("" = the root).  No syncfs: this libfuse has no
 * syncfs request, so syncfs(2) makes nothing durable on a FUSE mount. */
void w_fsync_dir(struct wl *w, const char *p);
/* Open p, unlink it, write len bytes through the open descriptor, fsync
 * it (a sync point with an orphan), close. */
void w_unlink_open(struct wl *w, const char *p, size_t len);
/* Write a new file of len bytes in writes of at most chunk bytes. */
void w_file(struct wl *w, const char *p, size_t len, size_t chunk, int flags);

#endif
