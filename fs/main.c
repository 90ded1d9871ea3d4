/*
 * main.c — the hfs daemon: hfs [-f] [-o opts] DEV... MOUNTPOINT
 * (also as mount.fuse3's helper: hfs DEV MOUNTPOINT -o rw,...).
 *
 * The filesystem is opened and mounted before the parent returns, so a
 * bad device, a missing mirror leg or a mount error is a message and a
 * non-zero exit, never a daemon that dies silently afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs/hfs.h"

#define MAXDEV RAID_MAX_COMP

static int status_fd = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hfs [-f] [-o opt[,opt...]] DEV... MOUNTPOINT\n"
		"options (-o): ro, degraded, engine=uring|pool, cache_size=N[KMG],\n"
		"  flush_interval=SEC, nodirect, nowriteback, write_log=FILE, fault=FILE\n"
		"  (test devices), noatime|relatime|strictatime, nodiratime|diratime,\n"
		"  and libfuse mount options\n"
		"  (allow_other and default_permissions are added when run as root)\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Take our options out of one -o list; append the rest to fuse_opts. */
static int parse_opts(char *list, struct hfs_mount_opts *o, char *fuse_opts, size_t cap)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "noatime"))
			o->atime = HFS_ATIME_NOATIME;   /* and on to the kernel mount, below */
		if (!strcmp(tok, "ro")) {
			o->readonly = 1;
		} else if (!strcmp(tok, "relatime") || !strcmp(tok, "strictatime")) {
			o->atime = tok[0] == 'r' ? HFS_ATIME_RELATIME : HFS_ATIME_STRICT;
		} else if (!strcmp(tok, "nodiratime") || !strcmp(tok, "diratime")) {
			o->nodiratime = tok[0] == 'n';
		} else if (!strcmp(tok, "degraded")) {
			o->raid.allow_degraded = 1;
		} else if (!strcmp(tok, "nowriteback")) {
			o->no_writeback = 1;
		} else if (!strcmp(tok, "nodirect")) {
			o->raid.no_direct = 1;
		} else if (!strncmp(tok, "write_log=", 10) && tok[10]) {
			o->raid.write_log = tok + 10;   /* in argv: lives as long as we do */
		} else if (!strncmp(tok, "fault=", 6) && tok[6]) {
			o->raid.fault = tok + 6;        /* in argv, as write_log */
		} else if (!strncmp(tok, "engine=", 7)) {
			if (!strcmp(tok + 7, "uring"))
				o->raid.engine = RAID_ENGINE_URING;
			else if (!strcmp(tok + 7, "pool"))
				o->raid.engine = RAID_ENGINE_POOL;
			else {
				fprintf(stderr, "hfs: bad option %s (engine=uring|pool)\n", tok);
				return -1;
			}
		} else if (!strncmp(tok, "cache_size=", 11)) {
			if (parse_size(tok + 11, &o->cache_size) || o->cache_size < (1u << 20)) {
				fprintf(stderr, "hfs: bad option %s (at least 1M)\n", tok);
				return -1;
			}
		} else if (!strncmp(tok, "flush_interval=", 15)) {
			char *end;
			unsigned long v = strtoul(tok + 15, &end, 10);

			if (*end || !v || v > 3600) {
				fprintf(stderr, "hfs: bad option %s (1..3600 seconds)\n", tok);
				return -1;
			}
			o->flush_interval_ms = (unsigned)v * 1000;
		} else if (!strcmp(tok, "rw") || !strcmp(tok, "auto") || !strcmp(tok, "noauto") ||
			   !strcmp(tok, "user") || !strcmp(tok, "nouser") || !strcmp(tok, "_netdev")) {
			/* mount(8) generic options that need nothing from us; dev,
			 * suid and exec go on to libfuse, which mounts nodev,nosuid
			 * unless told otherwise (fstab "defaults" says otherwise) */
		} else {
			if (strlen(fuse_opts) + strlen(tok) + 2 >= cap) {
				fprintf(stderr, "hfs: too many options\n");
				return -1;
			}
			if (*fuse_opts)
				strcat(fuse_opts, ",");
			strcat(fuse_opts, tok);
		}
	}
	return 0;
}

/* A daemon has no terminal: every layer's log lines (written to stderr)
 * are read back from a pipe and sent to syslog, so a critical error is seen
 * by the administrator instead of vanishing into /dev/null. */
static void *log_to_syslog(void *arg)
{
	FILE *in = fdopen((int)(intptr_t)arg, "r");
	char line[1024];

	if (!in)
		return NULL;
	while (fgets(line, sizeof(line), in)) {
		const char *msg = strncmp(line, "hfs: ", 5) ? line : line + 5;
		int pri = LOG_NOTICE;

		line[strcspn(line, "\n")] = 0;
		if (!strncmp(msg, "CRITICAL", 8))
			pri = LOG_CRIT;
		else if (!strncmp(msg, "error", 5) || !strncmp(msg, "corrupt", 7) ||
			 !strncmp(msg, "badcrc", 6))
			pri = LOG_ERR;
		else if (!strncmp(msg, "warning", 7))
			pri = LOG_WARNING;
		syslog(pri, "%s", msg);
	}
	fclose(in);
	return NULL;
}

static void stderr_to_syslog(void)
{
	pthread_t t;
	int p[2];

	openlog("hfs", LOG_PID, LOG_DAEMON);
	if (pipe(p) != 0)
		return;
	if (pthread_create(&t, NULL, log_to_syslog, (void *)(intptr_t)p[0]) != 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	pthread_detach(t);
	dup2(p[1], 2);
	close(p[1]);
}

static void mounted(void)
{
	int fd, ok = 0;

	if (status_fd < 0)
		return;
	if (write(status_fd, &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
		_exit(1);
	close(status_fd);
	status_fd = -1;
	/* a daemon keeps no terminal and no working directory */
	if (chdir("/") != 0)
		_exit(1);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	stderr_to_syslog();
}

int main(int argc, char **argv)
{
	struct hfs_mount_opts o;
	const char *pos[MAXDEV + 1], *mnt;
	char fuse_opts[2048] = "", fsname[300];
	char *fargv[8];
	int npos = 0, foreground = 0, i, ret, fargc = 0;
	struct hfs_fs *fs;
	struct stat st;

	memset(&o, 0, sizeof(o));
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "-d")) {
			foreground = 1;
		} else if (!strcmp(argv[i], "-o")) {
			if (++i >= argc) {
				usage(stderr);
				return 1;
			}
			if (parse_opts(argv[i], &o, fuse_opts, sizeof(fuse_opts)))
				return 1;
		} else if (!strncmp(argv[i], "-o", 2)) {
			if (parse_opts(argv[i] + 2, &o, fuse_opts, sizeof(fuse_opts)))
				return 1;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "hfs: unknown option %s\n", argv[i]);
			usage(stderr);
			return 1;
		} else {
			if (npos > MAXDEV) {
				fprintf(stderr, "hfs: too many devices\n");
				return 1;
			}
			pos[npos++] = !strncmp(argv[i], "hfs#", 4) ? argv[i] + 4 : argv[i];
		}
	}
	if (npos < 2) {
		usage(stderr);
		return 1;
	}
	mnt = pos[--npos];
	if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "hfs: %s: not a directory\n", mnt);
		return 1;
	}
	if (geteuid() == 0) {
		if (*fuse_opts)
			strcat(fuse_opts, ",");
		strcat(fuse_opts, "allow_other,default_permissions");
	} else {
		if (*fuse_opts)
			strcat(fuse_opts, ",");
		strcat(fuse_opts, "default_permissions");
	}
	snprintf(fsname, sizeof(fsname), "fsname=%s,subtype=hfs", pos[0]);
	if (strlen(fuse_opts) + strlen(fsname) + 2 < sizeof(fuse_opts)) {
		strcat(fuse_opts, ",");
		strcat(fuse_opts, fsname);
	}
	if (o.readonly)
		strcat(fuse_opts, ",ro");
	fargv[fargc++] = argv[0];
	fargv[fargc++] = "-o";
	fargv[fargc++] = fuse_opts;
	fargv[fargc] = NULL;

	if (!foreground) {
		int p[2], status = 1;
		pid_t pid;

		if (pipe(p) != 0) {
			perror("hfs: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("hfs: fork");
			return 1;
		}
		if (pid > 0) {
			close(p[1]);
			if (read(p[0], &status, sizeof(status)) != (ssize_t)sizeof(status))
				status = 1;   /* the daemon died before mounting */
			return status;
		}
		close(p[0]);
		status_fd = p[1];
		setsid();
		hfs_fuse_on_mounted = mounted;
	}
	ret = hfs_open(pos, npos, &o, &fs);
	if (ret) {
		fprintf(stderr, "hfs: cannot open the filesystem: %s\n", strerror(-ret));
		return 1;
	}
	if (!o.readonly && (ret = hfs_orphans_reap(fs)) != 0)
		fprintf(stderr, "hfs: orphan cleanup failed: %s\n", strerror(-ret));
	if (hfs_status_start(fs, mnt) != 0)
		fprintf(stderr, "hfs: warning: no status file for hfsctl\n");
	ret = hfs_fuse_run(fs, mnt, foreground, fargc, fargv);
	hfs_status_remove(fs);
	if (ret)
		fprintf(stderr, "hfs: mounting %s failed\n", mnt);
	i = hfs_close(fs);
	if (i)
		fprintf(stderr, "hfs: final flush failed: %s\n", strerror(-i));
	return ret || i ? 1 : 0;
}
