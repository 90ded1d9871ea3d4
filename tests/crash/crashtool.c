/*
 * crashtool.c — crash replay of scripted workloads on the real hfs daemon
 * (docs/DESIGN.md "Crash testing").
 *
 *   crashtool [-s SEED] [-n RANDOM] [-w NAME,...] [-k KEEPDIR] [-v] DIR
 *   crashtool --kill [-s SEED] [-w NAME,...] DIR
 *   crashtool --replay KEPT
 *   crashtool --list
 *
 * Power-cut mode (default), per workload:
 *  1. mkfs an image, copy it, mount the copy with -o write_log=LOG,nowriteback;
 *     run the workload (ops.c): every state of the tree and every sync point
 *     (the log's size when fsync returned) is recorded; unmount.
 *  2. crash points: every FLUSH record, plus RANDOM random record prefixes
 *     whose unflushed tail is kept, or dropped/reordered/torn by a seed.
 *  3. for each, in log order: rebuild the image (a prefix image advanced to
 *     the last flush, copied, plus the tail), then check (check.c): fsck -n
 *     exits 0, the daemon mounts it, the tree is a state of the window, every
 *     fsync'd file has its fsync'd content, unmount is clean, fsck -n again.
 * Kill mode: the same workloads on a mount without the log; the daemon is
 * SIGKILLed at a random moment, then the image is checked the same way.
 *
 * A failure prints the workload, the crash point (record, tail seed) and a
 * diff, and keeps base image, log, run record and crash image in KEEPDIR for
 * --replay.  Exit status: 0 all states passed, 1 failures, 2 usage/setup.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "raid/raid.h"
#include "tests/crash/crash.h"

struct point { long upto; uint64_t seed; };

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	if (x->upto != y->upto)
		return x->upto < y->upto ? -1 : 1;
	return x->seed < y->seed ? -1 : x->seed > y->seed;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Window of a crash after 'upto' records: the last sync point whose fsync
 * had returned (its records all in the prefix) up to the next one. */
static int window(const struct run *r, long upto, int *lo, int *hi)
{
	int k = 0, j;

	for (j = 0; j < r->nsyncs; j++)
		if (r->syncs[j].rec <= upto)
			k = j;
	*lo = r->syncs[k].state;
	*hi = k + 1 < r->nsyncs ? r->syncs[k + 1].state : r->nstates - 1;
	/* no state whose op began after the crash: its writes (at least the
	 * commit) all come after its start, so none are in the prefix */
	while (*hi > *lo && r->startrec[*hi] >= upto)
		(*hi)--;
	return k;
}

/* Image for a crash at p: prefix advanced to the last flush, copied, tail. */
static int build_image(struct raid_wlog *w, int pfd, long *applied, const struct point *p,
		       const char *img)
{
	long lf = raid_wlog_last_flush(w, 0, p->upto) + 1;
	int fd, ret;

	if (lf > *applied) {
		ret = raid_wlog_apply(w, 0, pfd, *applied, lf);
		if (ret < 0)
			return ret;
		*applied = lf;
	}
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = ct_copy_fd(pfd, fd);
	if (!ret) {
		ret = raid_wlog_apply_tail(w, 0, fd, p->upto, 0, p->seed);
		ret = ret < 0 ? ret : 0;
	}
	close(fd);
	return ret;
}

static int keep(const struct ctx *c, const struct workload *wl, const char *wdir,
		const struct run *r, const struct point *p, const char *img)
{
	char d[PATH_MAX], f[PATH_MAX], from[PATH_MAX];

	snprintf(d, sizeof(d), "%s/%s-%ld-%llu", c->keepdir, wl->name, p->upto,
		 (unsigned long long)p->seed);
	if (ct_mkdirs(d))
		return -errno;
	snprintf(f, sizeof(f), "%s/run", d);
	run_save(r, f);
	snprintf(f, sizeof(f), "%s/point", d);
	{
		FILE *pf = fopen(f, "w");

		if (!pf)
			return -errno;
		fprintf(pf, "%s %ld %llu\n", wl->name, p->upto, (unsigned long long)p->seed);
		fclose(pf);
	}
	snprintf(from, sizeof(from), "%s/base.img", wdir);
	snprintf(f, sizeof(f), "%s/base.img", d);
	ct_copy_path(from, f);
	snprintf(from, sizeof(from), "%s/log", wdir);
	snprintf(f, sizeof(f), "%s/log", d);
	ct_copy_path(from, f);
	snprintf(f, sizeof(f), "%s/crash.img", d);
	ct_copy_path(img, f);
	printf("    kept in %s (replay: crashtool --replay %s)\n", d, d);
	return 0;
}

/* Check the crash points of one recorded workload; failures counted. */
static int check_points(struct ctx *c, const struct workload *wl, const char *wdir,
			struct run *r, struct raid_wlog *w, struct point *pts, int npts, int *bad)
{
	char base[PATH_MAX], prefix[PATH_MAX], img[PATH_MAX];
	long applied = 0;
	int pfd, i, ret = 0;

	snprintf(base, sizeof(base), "%s/base.img", wdir);
	snprintf(prefix, sizeof(prefix), "%s/prefix.img", wdir);
	snprintf(img, sizeof(img), "%s/crash.img", wdir);
	if (ct_copy_path(base, prefix))
		return -EIO;
	pfd = open(prefix, O_RDWR | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	qsort(pts, (size_t)npts, sizeof(*pts), cmp_point);
	for (i = 0; i < npts; i++) {
		int lo, hi, k = window(r, pts[i].upto, &lo, &hi);
		char what[200];

		double t0 = ct_now();

		ret = build_image(w, pfd, &applied, &pts[i], img);
		c->t_build += ct_now() - t0;
		if (ret) {
			printf("  %s: rebuilding the image at record %ld: %s\n", wl->name, pts[i].upto,
			       strerror(-ret));
			break;
		}
		snprintf(what, sizeof(what), "%s: crash at record %ld of %ld, tail seed %llu "
			 "(sync point %d, states %d..%d)", wl->name, pts[i].upto, raid_wlog_records(w),
			 (unsigned long long)pts[i].seed, k, lo, hi);
		c->states++;
		if (ct_check_image(c, img, r, k, lo, hi, what)) {
			(*bad)++;
			if (*c->keepdir)
				keep(c, wl, wdir, r, &pts[i], img);
		}
	}
	close(pfd);
	unlink(prefix);
	unlink(img);
	return ret;
}

/* Record one workload and check its crash points. */
static int one_workload(struct ctx *c, const struct workload *wl, uint64_t seed)
{
	char wdir[PATH_MAX], base[PATH_MAX], work[PATH_MAX], log[PATH_MAX], mnt[PATH_MAX];
	struct raid_wlog *w = NULL;
	struct point *pts = NULL;
	int bad = 0, npts = 0, j, ret;
	uint64_t rs = mix(seed);
	struct timespec t0, t1;
	long nrec, i, forced = 0;
	struct wl wk;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(wdir, sizeof(wdir), "%s/%s", c->dir, wl->name);
	snprintf(base, sizeof(base), "%s/base.img", wdir);
	snprintf(work, sizeof(work), "%s/work.img", wdir);
	snprintf(log, sizeof(log), "%s/log", wdir);
	snprintf(mnt, sizeof(mnt), "%s/m", wdir);
	if (ct_mkdirs(mnt) || ct_mkfs(c, base, wl->mkfs_undo) || ct_copy_path(base, work))
		return -EIO;
	c->mopts = wl->mount_opts;   /* the recording mount only: checks mount plainly */
	ret = ct_mount(c, work, mnt, log, 0, &pid);
	c->mopts = NULL;
	if (ret)
		return -EIO;
	if (wl_init(&wk, mnt, log, seed))
		return -ENOMEM;
	wk.live = c->live;
	wl->fn(&wk);
	if (ct_umount(c, mnt, pid, 0) && !wk.err) {
		printf("  %s: the recording daemon did not unmount cleanly\n", wl->name);
		wk.err = 1;
	}
	if (wk.err) {
		printf("  %s: FAIL: the workload itself failed (seed %llu)\n", wl->name,
		       (unsigned long long)seed);
		wl_free(&wk);
		return 1;
	}
	{
		struct msync s = { 0 };
		struct stat st;

		/* the unmount's flush: the last state is durable at the end */
		s.state = wk.run.nstates - 1;
		s.until = INT_MAX;
		s.node = -1;
		if (stat(log, &st) == 0)
			s.logbytes = (uint64_t)st.st_size;
		run_add_sync(&wk.run, &s);
	}
	ret = raid_wlog_load(log, &w);
	if (ret) {
		printf("  %s: loading the write log: %s\n", wl->name, strerror(-ret));
		wl_free(&wk);
		return -EIO;
	}
	nrec = raid_wlog_records(w);
	for (j = 0; j < wk.run.nsyncs; j++)
		wk.run.syncs[j].rec = raid_wlog_record_at(w, wk.run.syncs[j].logbytes);
	for (j = 0; j < wk.run.nstates; j++)
		wk.run.startrec[j] = raid_wlog_record_at(w, wk.run.start[j]);
	/* commits the workload did not ask for: flush cycles (three device
	 * flushes each) between two sync points besides the one ending there,
	 * forced by a full UNDO FIFO (or dirty memory) */
	for (j = 0; j + 1 < wk.run.nsyncs; j++) {
		long n = 0;

		for (i = wk.run.syncs[j].rec; i < wk.run.syncs[j + 1].rec; i++)
			n += raid_wlog_record(w, i)->wi_type == RAID_WLOG_FLUSH;
		if (n / 3 > 1)
			forced += n / 3 - 1;
	}
	if (wl->min_forced && forced < wl->min_forced) {
		printf("  %s: FAIL: %ld flush cycles forced, expected >= %d "
		       "(a full UNDO FIFO must force a flush)\n", wl->name, forced, wl->min_forced);
		bad++;
	}
	pts = calloc((size_t)nrec + (size_t)c->nrandom + 2, sizeof(*pts));
	if (!pts) {
		raid_wlog_free(w);
		wl_free(&wk);
		return -ENOMEM;
	}
	for (i = 0; i < nrec; i++)
		if (raid_wlog_record(w, i)->wi_type == RAID_WLOG_FLUSH)
			pts[npts++] = (struct point){ i + 1, 0 };
	pts[npts++] = (struct point){ nrec, 0 };
	for (j = 0; j < c->nrandom && (!wl->max_random || j < wl->max_random); j++) {
		long upto = (long)(mix(rs + 2 * (uint64_t)j) % (uint64_t)nrec) + 1;
		uint64_t s = mix(rs + 2 * (uint64_t)j + 1);

		/* a quarter keep the whole tail in order, the rest drop/reorder/tear */
		pts[npts++] = (struct point){ upto, s % 4 == 0 ? 0 : s | 1 };
	}
	{
		long before = c->states;

		ret = check_points(c, wl, wdir, &wk.run, w, pts, npts, &bad);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("  %-18s seed %-20llu %4d states %5ld records %3d syncs %2ld forced  "
		       "%3d failed  %.1f s\n", wl->name, (unsigned long long)seed,
		       (int)(c->states - before), nrec, wk.run.nsyncs - 2, forced, bad,
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	free(pts);
	raid_wlog_free(w);
	wl_free(&wk);
	if (!*c->keepdir || !bad)
		ct_rmtree(wdir);
	return ret < 0 ? ret : bad ? 1 : 0;
}

/* ---- kill mode ------------------------------------------------------------ */

/* The killer waits for the workload to reach op kill_at (or to end), then
 * a random 0..3 ms more, so SIGKILL lands in the middle of the following
 * requests or of a timed flush. */
struct killer { pid_t pid; unsigned us; int pipe[2]; };

static void *killer_main(void *arg)
{
	struct killer *k = arg;
	char b;

	if (read(k->pipe[0], &b, 1) < 0)
		b = 0;
	usleep(k->us);
	kill(k->pid, SIGKILL);
	return NULL;
}

static void go_kill(void *priv)
{
	struct killer *k = priv;

	if (write(k->pipe[1], "k", 1) != 1)
		kill(k->pid, SIGKILL);
}

static int one_kill(struct ctx *c, const struct workload *wl, uint64_t seed)
{
	char wdir[PATH_MAX], work[PATH_MAX], mnt[PATH_MAX], what[200];
	struct killer k;
	pthread_t th;
	struct wl wk;
	int lo, hi, ret;

	snprintf(wdir, sizeof(wdir), "%s/%s", c->dir, wl->name);
	snprintf(work, sizeof(work), "%s/work.img", wdir);
	snprintf(mnt, sizeof(mnt), "%s/m", wdir);
	if (ct_mkdirs(mnt) || ct_mkfs(c, work, wl->mkfs_undo))
		return -EIO;
	c->mopts = wl->mount_opts;
	ret = ct_mount(c, work, mnt, NULL, 1, &k.pid);
	c->mopts = NULL;
	if (ret)
		return -EIO;
	if (wl_init(&wk, mnt, NULL, seed))
		return -ENOMEM;
	wk.quiet = 1;
	k.us = (unsigned)(mix(seed) % 3000);
	wk.kill_at = (long)(mix(seed + 1) % 60) + 1;
	wk.kill_fn = go_kill;
	wk.kill_priv = &k;
	if (pipe(k.pipe) != 0 || pthread_create(&th, NULL, killer_main, &k) != 0)
		return -errno;
	wl->fn(&wk);
	if (!wk.killed)
		go_kill(&k);   /* a short workload: killed at its end */
	pthread_join(th, NULL);
	close(k.pipe[0]);
	close(k.pipe[1]);
	ct_umount(c, mnt, k.pid, 1);
	ct_wait_unlocked(work);
	/* a process crash loses nothing the daemon wrote: the state is the last
	 * commit, somewhere between the last sync point and the last op */
	lo = wk.run.syncs[wk.run.nsyncs - 1].state;
	hi = wk.run.nstates - 1;
	snprintf(what, sizeof(what), "%s: SIGKILL %u us after op %ld, %ld ops (seed %llu, states %d..%d)",
		 wl->name, k.us, wk.kill_at, wk.nops, (unsigned long long)seed, lo, hi);
	c->states++;
	ret = ct_check_image(c, work, &wk.run, wk.run.nsyncs - 1, lo, hi, what);
	printf("  %-18s seed %-20llu killed %4u us after op %2ld, %4ld ops, %2d syncs: %s\n", wl->name,
	       (unsigned long long)seed, k.us, wk.kill_at, wk.nops, wk.run.nsyncs - 1,
	       ret ? "FAILED" : "ok");
	wl_free(&wk);
	if (!ret)
		ct_rmtree(wdir);
	return ret ? 1 : 0;
}

/* ---- replay ------------------------------------------------------------------ */

static int replay(struct ctx *c, const char *kept)
{
	char f[PATH_MAX], name[100], img[PATH_MAX], what[300];
	struct raid_wlog *w;
	struct point p;
	unsigned long long s;
	struct run r;
	long applied = 0;
	int pfd, lo, hi, k, ret;
	FILE *pf;

	snprintf(f, sizeof(f), "%s/point", kept);
	pf = fopen(f, "r");
	if (!pf || fscanf(pf, "%99s %ld %llu", name, &p.upto, &s) != 3) {
		fprintf(stderr, "crashtool: %s: no crash point\n", f);
		if (pf)
			fclose(pf);
		return 2;
	}
	fclose(pf);
	p.seed = s;
	snprintf(f, sizeof(f), "%s/run", kept);
	if ((ret = run_load(&r, f)) != 0) {
		fprintf(stderr, "crashtool: %s: %s\n", f, strerror(-ret));
		return 2;
	}
	snprintf(f, sizeof(f), "%s/log", kept);
	if ((ret = raid_wlog_load(f, &w)) != 0) {
		fprintf(stderr, "crashtool: %s: %s\n", f, strerror(-ret));
		run_free(&r);
		return 2;
	}
	for (k = 0; k < r.nstates; k++)
		r.startrec[k] = raid_wlog_record_at(w, r.start[k]);
	snprintf(f, sizeof(f), "%s/base.img", kept);
	snprintf(img, sizeof(img), "%s/replay.img", kept);
	pfd = open(f, O_RDONLY | O_CLOEXEC);
	/* the prefix is built on a copy: the kept base stays as it was */
	snprintf(f, sizeof(f), "%s/prefix.img", kept);
	ret = pfd < 0 ? -errno : 0;
	if (!ret) {
		int out = open(f, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		ret = out < 0 ? -errno : ct_copy_fd(pfd, out);
		close(pfd);
		pfd = out;
	}
	if (!ret)
		ret = build_image(w, pfd, &applied, &p, img);
	if (pfd >= 0)
		close(pfd);
	unlink(f);
	if (ret) {
		fprintf(stderr, "crashtool: rebuilding the image: %s\n", strerror(-ret));
	} else {
		k = window(&r, p.upto, &lo, &hi);
		snprintf(what, sizeof(what), "%s: crash at record %ld of %ld, tail seed %llu "
			 "(sync point %d, states %d..%d)", name, p.upto, raid_wlog_records(w), s, k, lo, hi);
		c->verbose = 1;
		ret = ct_check_image(c, img, &r, k, lo, hi, what);
		printf("%s: %s (image %s)\n", what, ret ? "FAILED" : "passed", img);
	}
	raid_wlog_free(w);
	run_free(&r);
	return ret ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: crashtool [-s SEED] [-n RANDOM] [-w NAME,...] [-k KEEPDIR] [-v] [-L] DIR\n"
		   "       crashtool --kill [-s SEED] [-w NAME,...] DIR\n"
		   "       crashtool --replay KEPT\n"
		   "       crashtool --list\n");
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	uint64_t seed = 0;
	const char *only = NULL;
	int i, killmode = 0, nfail = 0, nwl = 0, opt_seed = 0;
	struct timespec t0, t1;

	umask(0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	c.nrandom = 10;
	c.live = 1;
	ct_find_bins(&c, argv[0]);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (int j = 0; workloads[j].name; j++)
				printf("%-18s %s\n", workloads[j].name, workloads[j].what);
			return 0;
		} else if (!strcmp(argv[i], "--replay") && i + 1 < argc) {
			return replay(&c, argv[i + 1]);
		} else if (!strcmp(argv[i], "--kill")) {
			killmode = 1;
		} else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			opt_seed = 1;
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			c.nrandom = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-w") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "-k") && i + 1 < argc) {
			snprintf(c.keepdir, sizeof(c.keepdir), "%s", argv[++i]);
		} else if (!strcmp(argv[i], "-v")) {
			c.verbose = 1;
		} else if (!strcmp(argv[i], "-L")) {
			c.live = 0;
		} else if (argv[i][0] == '-') {
			usage(stderr);
			return 2;
		} else {
			snprintf(c.dir, sizeof(c.dir), "%s", argv[i]);
		}
	}
	if (!*c.dir || c.nrandom < 0) {
		usage(stderr);
		return 2;
	}
	if (!opt_seed) {
		clock_gettime(CLOCK_REALTIME, &t0);
		seed = (uint64_t)t0.tv_nsec ^ ((uint64_t)t0.tv_sec << 20) ^ (uint64_t)getpid();
	}
	printf("crashtool: %s, seed %llu (replay this run with -s %llu)\n",
	       killmode ? "process kill" : "power cut", (unsigned long long)seed,
	       (unsigned long long)seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; workloads[i].name; i++) {
		const struct workload *wl = &workloads[i];
		uint64_t ws = mix(seed ^ (uint64_t)(i + 1) * 0x100000001b3ull);
		int ret;

		if (only && !ct_listed(only, wl->name))
			continue;
		if (killmode && !wl->kill)
			continue;
		nwl++;
		ret = killmode ? one_kill(&c, wl, ws) : one_workload(&c, wl, ws);
		if (ret < 0) {
			printf("  %s: setup failed: %s\n", wl->name, strerror(-ret));
			nfail++;
		} else {
			nfail += ret;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (c.verbose)
		ct_times(&c);
	printf("crashtool: %d workloads, %ld crash states, %d failed workloads, %.1f s (seed %llu)\n",
	       nwl, c.states, nfail,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)seed);
	return nwl == 0 ? 2 : nfail ? 1 : 0;
}
