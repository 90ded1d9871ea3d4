/*
 * check.c — the checks of one crash image, and the process and file
 * helpers of the crash tool: mkfs, the daemon in the foreground (so it is
 * our child: we know when it exits and how), sparse image copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tests/crash/crash.h"

double ct_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- files ------------------------------------------------------------------ */

void ct_find_bins(struct ctx *c, const char *argv0)
{
	char self[PATH_MAX], *d;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = 0;
	d = dirname(self);   /* crashtool lives beside the binaries in BUILDDIR */
	snprintf(c->hfs, sizeof(c->hfs), "%s/hfs", d);
	snprintf(c->mkfs, sizeof(c->mkfs), "%s/mkfs.hfs", d);
	snprintf(c->fsck, sizeof(c->fsck), "%s/fsck.hfs", d);
}

int ct_mkdirs(const char *path)
{
	char p[PATH_MAX], *s;

	snprintf(p, sizeof(p), "%s", path);
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

void ct_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int ct_listed(const char *list, const char *name)
{
	size_t l = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[l] == 0 || p[l] == ','))
			return 1;
		p += l;
	}
	return 0;
}

/* Copy only the allocated ranges (images are sparse and mostly empty). */
int ct_copy_fd(int in, int out)
{
	static char buf[1 << 20];
	off_t size = lseek(in, 0, SEEK_END), pos = 0;

	if (size < 0 || ftruncate(out, 0) != 0 || ftruncate(out, size) != 0)
		return -errno;
	while (pos < size) {
		off_t d = lseek(in, pos, SEEK_DATA), h;

		if (d < 0)
			break;   /* ENXIO: only a hole is left */
		h = lseek(in, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		for (pos = d; pos < h;) {
			size_t n = h - pos < (off_t)sizeof(buf) ? (size_t)(h - pos) : sizeof(buf);
			ssize_t r = pread(in, buf, n, pos);

			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			if (pwrite(out, buf, (size_t)r, pos) != r)
				return -EIO;
			pos += r;
		}
	}
	return 0;
}

int ct_copy_path(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out, ret;

	if (in < 0)
		return -errno;
	out = open(to, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return -errno;
	}
	ret = ct_copy_fd(in, out);
	close(in);
	close(out);
	return ret;
}

/* ---- processes ------------------------------------------------------------------ */

/* Run argv with stdout+stderr to out (or /dev/null): exit status, -1. */
static int run_cmd(char *const argv[], const char *out)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int ct_mkfs(struct ctx *c, const char *img, const char *undo)
{
	char *argv[6] = { c->mkfs, "-q", NULL, NULL, NULL, NULL };
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), i = 2;

	if (fd < 0 || ftruncate(fd, 128 << 20) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (undo) {
		argv[i++] = "-U";
		argv[i++] = (char *)undo;
	}
	argv[i] = (char *)img;
	return run_cmd(argv, NULL) == 0 ? 0 : -1;
}

static int mounted(const char *mnt)
{
	char parent[PATH_MAX];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", mnt);
	return stat(mnt, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

int ct_mount(struct ctx *c, const char *img, const char *mnt, const char *log, int killmode,
	     pid_t *pid)
{
	char opts[PATH_MAX + 100], err[PATH_MAX];
	char *argv[] = { c->hfs, "-f", "-o", opts, (char *)img, (char *)mnt, NULL };
	int i, st;

	/* nowriteback: each write(2) is one request the daemon has seen when it
	 * returns; nodirect: images are page-cache files; no timed flushes (the
	 * kill test wants them: then every second) */
	snprintf(opts, sizeof(opts), "nowriteback,nodirect,flush_interval=%d%s%s%s%s",
		 killmode ? 1 : 3600, log ? ",write_log=" : "", log ? log : "",
		 c->mopts ? "," : "", c->mopts ? c->mopts : "");
	snprintf(err, sizeof(err), "%s.err", mnt);
	if (mounted(mnt))
		umount2(mnt, MNT_DETACH);   /* ours, left by an interrupted run */
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 30000; i++) {
		if (mounted(mnt))
			return 0;
		if (waitpid(*pid, &st, WNOHANG) == *pid)
			break;
		usleep(i < 100 ? 200 : 1000);
	}
	if (i == 30000) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &st, 0);
	}
	{
		char line[512];
		FILE *f = fopen(err, "r");

		printf("    mount of %s failed:\n", img);
		while (f && fgets(line, sizeof(line), f))
			printf("      %s", line);
		if (f)
			fclose(f);
	}
	return -1;
}

int ct_umount(struct ctx *c, const char *mnt, pid_t pid, int killed)
{
	int i, st;

	(void)c;
	for (i = 0; i < 500; i++) {
		if (umount2(mnt, killed ? MNT_DETACH : 0) == 0 || errno == EINVAL)
			break;
		if (errno == EPERM) {   /* not root: the FUSE helper can */
			char *argv[] = { "/bin/fusermount3", "-u", killed ? "-z" : "-u", (char *)mnt, NULL };

			if (run_cmd(argv, NULL) == 0)
				break;
		}
		if (errno != EBUSY && errno != EPERM) {
			umount2(mnt, MNT_DETACH);   /* never leave a mount behind */
			break;
		}
		usleep(10000);
	}
	if (i == 500)
		umount2(mnt, MNT_DETACH);
	for (i = 0; i < 60000; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return killed ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		usleep(i < 100 ? 200 : 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	printf("    the daemon did not exit after the unmount of %s\n", mnt);
	return -1;
}

void ct_wait_unlocked(const char *img)
{
	int fd = open(img, O_RDONLY | O_CLOEXEC), i;

	for (i = 0; fd >= 0 && i < 1000; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			flock(fd, LOCK_UN);
			break;
		}
		usleep(10000);
	}
	if (fd >= 0)
		close(fd);
}

/* ---- checks ------------------------------------------------------------------- */

static void head(int *printed, const char *what)
{
	if (!*printed)
		printf("  FAIL %s\n", what);
	*printed = 1;
}

static void print_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f) && n++ < 40)
		printf("      %s", line);
	if (f)
		fclose(f);
}

/* The size and hash fields of path's line in a tree text. */
static int find_file(const char *text, const char *path, unsigned long long *size,
		     unsigned long long *hash)
{
	char key[M_PATH + 3];
	const char *p = text;
	size_t l;

	snprintf(key, sizeof(key), "/%s\t", path);
	l = strlen(key);
	while (p && *p) {
		if (!strncmp(p, key, l)) {
			char type;
			unsigned mode, nlink;

			return sscanf(p + l, "%c\t%o\t%u\t%llu\t%llx", &type, &mode, &nlink, size,
				      hash) == 5 && type == 'f' ? 0 : -1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

int ct_check_image(struct ctx *c, const char *img, const struct run *r, int k, int lo, int hi,
		   const char *what)
{
	char dir[PATH_MAX], mnt[PATH_MAX], out[PATH_MAX], tmp[PATH_MAX];
	char *fsck_argv[] = { c->fsck, "-n", (char *)img, NULL };
	int printed = 0, st, i, match = -1, j;
	double t = ct_now(), t2;
	char *text;
	pid_t pid;

	snprintf(tmp, sizeof(tmp), "%s", img);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(mnt, sizeof(mnt), "%s/c", dir);
	snprintf(out, sizeof(out), "%s/fsck.out", dir);
	if (ct_mkdirs(mnt))
		return 1;
	/* 1: fsck -n replays UNDO in memory and checks everything */
	st = run_cmd(fsck_argv, out);
	if (st != 0) {
		head(&printed, what);
		printf("    fsck.hfs -n exits %d before any mount:\n", st);
		print_file(out);
	} else if (c->verbose) {
		print_file(out);
	}
	t2 = ct_now();
	c->t_fsck += t2 - t;
	/* 2: the daemon mounts it (and replays UNDO for real) */
	if (ct_mount(c, img, mnt, NULL, 0, &pid)) {
		head(&printed, what);
		printf("    the filesystem does not mount\n");
		return 1;
	}
	t = ct_now();
	c->t_mount += t - t2;
	/* 3: the tree is a state the workload had in the window */
	text = tree_text(mnt);
	if (!text) {
		head(&printed, what);
		printf("    reading the tree: %s\n", strerror(errno));
	} else {
		uint64_t h = m_hash(text, strlen(text), M_HASH0);

		for (i = lo; i <= hi && match < 0; i++)
			if (r->hash[i] == h)
				match = i;
		if (match < 0) {
			head(&printed, what);
			printf("    the tree is none of states %d..%d; against state %d (durable at sync "
			       "point %d), - expected, + found:\n", lo, hi, lo, k);
			if (r->text[lo])
				text_diff(r->text[lo], text, "      ");
			if (hi != lo && r->text[hi]) {
				printf("    against state %d (the window's end):\n", hi);
				text_diff(r->text[hi], text, "      ");
			}
		} else if (c->verbose) {
			printf("    the tree is state %d (window %d..%d)\n", match, lo, hi);
		}
		/* 4: files fsync'd by then (and not changed since) are exact */
		for (j = 1; j <= k; j++) {
			const struct msync *s = &r->syncs[j];
			unsigned long long size, hash;

			if (!*s->path || s->until <= hi)
				continue;
			if (find_file(text, s->path, &size, &hash) || size != s->size || hash != s->hash) {
				head(&printed, what);
				printf("    %s fsync'd at sync point %d (%zu bytes, hash %016llx) is %s\n",
				       s->path, j, s->size, (unsigned long long)s->hash,
				       find_file(text, s->path, &size, &hash) ? "missing" : "different");
			}
		}
		free(text);
	}
	t2 = ct_now();
	c->t_walk += t2 - t;
	/* 5: a clean unmount; 6: what the mount wrote is consistent too */
	st = ct_umount(c, mnt, pid, 0);
	if (st != 0) {
		head(&printed, what);
		snprintf(tmp, sizeof(tmp), "%s.err", mnt);
		printf("    the daemon exits %d after the unmount:\n", st);
		print_file(tmp);
	}
	t = ct_now();
	c->t_umount += t - t2;
	st = run_cmd(fsck_argv, out);
	if (st != 0) {
		head(&printed, what);
		printf("    fsck.hfs -n exits %d after the mount:\n", st);
		print_file(out);
	}
	c->t_fsck += ct_now() - t;
	return printed;
}

void ct_times(const struct ctx *c)
{
	printf("crashtool: time in build %.1f s, fsck %.1f s, mount %.1f s, tree %.1f s, "
	       "unmount %.1f s\n", c->t_build, c->t_fsck, c->t_mount, c->t_walk, c->t_umount);
}
