/*
 * crash.h — the crash tool's pieces: the run context, the workload table
 * (workloads.c) and the image checks and process helpers (check.c).
 */
#ifndef HFS_CRASH_CRASH_H
#define HFS_CRASH_CRASH_H

#include <limits.h>
#include <sys/types.h>
#include "tests/crash/ops.h"

struct ctx {
	char dir[PATH_MAX];       /* scratch: one subdirectory per workload */
	char keepdir[PATH_MAX];   /* failures are kept here ("" = not kept) */
	char hfs[PATH_MAX], mkfs[PATH_MAX], fsck[PATH_MAX];
	int nrandom;              /* random crash points per workload */
	int live, verbose;
	long states;              /* crash states checked */
	double t_build, t_fsck, t_mount, t_walk, t_umount;   /* seconds spent */
	const char *mopts;        /* extra -o options for ct_mount (the workload's), or NULL */
};

struct workload {
	const char *name, *what;
	void (*fn)(struct wl *w);
	const char *mkfs_undo;    /* mkfs -U value, or NULL */
	int min_forced;           /* flush cycles the workload must force before its first fsync */
	int kill;                 /* also used by --kill */
	int max_random;           /* cap on random crash points (slow checks), 0 = none */
	const char *mount_opts;   /* extra -o options of the recording mount, or NULL */
};
extern const struct workload workloads[];

/* check.c */
void ct_find_bins(struct ctx *c, const char *argv0);
int  ct_mkdirs(const char *path);
void ct_rmtree(const char *path);
int  ct_listed(const char *list, const char *name);
int  ct_copy_fd(int in, int out);
int  ct_copy_path(const char *from, const char *to);
int  ct_mkfs(struct ctx *c, const char *img, const char *undo);
/* Start the daemon in the foreground on img at mnt and wait until mounted:
 * log = write log or NULL; kill: flush every second (the kill test). */
int  ct_mount(struct ctx *c, const char *img, const char *mnt, const char *log, int kill,
	      pid_t *pid);
/* Unmount (lazily when the daemon was killed) and reap the daemon:
 * its exit status, or -1. */
int  ct_umount(struct ctx *c, const char *mnt, pid_t pid, int killed);
/* The checks of one crash image against states lo..hi of r (sync point k
 * made lo durable): 0 passed, 1 failed (reasons printed, headed by what). */
int  ct_check_image(struct ctx *c, const char *img, const struct run *r, int k, int lo, int hi,
		    const char *what);
void ct_times(const struct ctx *c);
double ct_now(void);
/* Wait (up to 10 s) until nobody holds the image's flock: a killed daemon's
 * files can outlive it briefly (io_uring workers). */
void ct_wait_unlocked(const char *img);

#endif
