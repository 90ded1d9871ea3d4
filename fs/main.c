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
#include <limits.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs/hfs.h"

#define MAXDEV RAID_MAX_COMP

static int status_fd = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hfs [-f] [-o opt[,opt...]] DEV... MOUNTPOINT\n"
		"options (-o): ro, norecovery (with ro), degraded, engine=uring|pool,\n"
		"  cache_size=N[KMG], flush_interval=SEC, nodirect, nowriteback,\n"
		"  nofuse_uring (requests through /dev/fuse even where the kernel\n"
		"  offers FUSE over io_uring),\n"
		"  noredo (every fsync commits), nohold, pieces, write_log=FILE, fault=FILE\n"
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

/* The -o lists as given (a remount needs them whole), comma-joined. */
static void add_raw(char *raw, size_t cap, const char *list)
{
	size_t n = strlen(raw);

	snprintf(raw + n, cap - n, "%s%s", n ? "," : "", list);
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
		} else if (!strcmp(tok, "norecovery")) {
			o->norecovery = 1;
		} else if (!strcmp(tok, "relatime") || !strcmp(tok, "strictatime")) {
			o->atime = tok[0] == 'r' ? HFS_ATIME_RELATIME : HFS_ATIME_STRICT;
		} else if (!strcmp(tok, "nodiratime") || !strcmp(tok, "diratime")) {
			o->nodiratime = tok[0] == 'n';
		} else if (!strcmp(tok, "degraded")) {
			o->raid.allow_degraded = 1;
		} else if (!strcmp(tok, "nowriteback")) {
			o->no_writeback = 1;
		} else if (!strcmp(tok, "nofuse_uring") || !strcmp(tok, "fuse_uring")) {
			o->no_fuse_uring = tok[0] == 'n';
		} else if (!strcmp(tok, "pieces")) {
			o->force_pieces = 1;
		} else if (!strcmp(tok, "noredo")) {
			o->redo_off = 1;
		} else if (!strcmp(tok, "nohold")) {
			o->no_hold = 1;
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
		} else if (!strcmp(tok, "lazytime") || !strcmp(tok, "nolazytime")) {
			/* every timestamp change is committed with the next flush
			 * (flush_interval), which is more than lazytime promises;
			 * the kernel leaves FUSE timestamps to us either way */
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

	/* syslog was opened when the daemon forked (main) */
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

/* The mount(2) flags the -o lists ask for, applied to *flags (which holds
 * the defaults); returns 1 when they ask for a remount.
 * mount -o remount DIR: mount(8) runs the helper (us) again, with the
 * mount's options merged with the new ones.  Not a new daemon: the
 * running one keeps serving; the kernel applies the flags (FUSE takes
 * ro/rw and the per-mount flags on a remount and ignores the rest). */
static int mount_flags(int argc, char **argv, unsigned long *flags)
{
	int remount = 0;

	for (int i = 1; i < argc; i++) {
		char buf[2048], *save = NULL, *tok;
		const char *list = !strcmp(argv[i], "-o") && i + 1 < argc ? argv[++i]
				 : !strncmp(argv[i], "-o", 2) ? argv[i] + 2 : NULL;

		if (!list || strlen(list) >= sizeof(buf))
			continue;
		strcpy(buf, list);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!strcmp(tok, "remount"))
				remount = 1;
			hfs_mount_flag(tok, flags);
		}
	}
	return remount;
}

/* mount -o remount[,...] [DEV] DIR: remount.c does both halves (the
 * daemon's mode over its control socket, the kernel mount's flags). */
static int do_remount(int argc, char **argv)
{
	char raw[2048] = "";
	const char *mnt = NULL;

	/* the mount point is the last argument that is neither an option
	 * nor an option's value */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			add_raw(raw, sizeof(raw), argv[++i]);
		else if (!strncmp(argv[i], "-o", 2))
			add_raw(raw, sizeof(raw), argv[i] + 2);
		else if (argv[i][0] != '-')
			mnt = argv[i];
	}
	if (!mnt) {
		usage(stderr);
		return 1;
	}
	return hfs_remount_main(mnt, raw);
}

/* A mount of the root of the hfs on DEV (canonical path, our fsname),
 * into mp: 1 found, 2 DEV is mounted but only through bind mounts of
 * something below its root, 0 not mounted. */
static int find_mount(const char *dev, char *mp, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int found = 0;

	if (!f)
		return 0;
	while (found != 1 && fgets(line, sizeof(line), f)) {
		char root[4096], point[4096], *sep = strstr(line, " - "), type[64], src[4096];

		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(sep + 3, "%63s %4095s", type, src) != 2)
			continue;
		hfs_mountinfo_unescape(root);
		hfs_mountinfo_unescape(point);
		hfs_mountinfo_unescape(src);
		if (strcmp(type, "fuse.hfs") || strcmp(src, dev))
			continue;
		if (!strcmp(root, "/") && strlen(point) < cap) {
			strcpy(mp, point);
			found = 1;
		} else {
			found = -1;   /* go on looking for a mount of the root */
		}
	}
	fclose(f);
	return found < 0 ? 2 : found;
}

/* 1 when another process holds DEV's lock (a running hfs, fsck, mkfs) */
static int dev_locked(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC), busy;

	if (fd < 0)
		return 0;   /* hfs_open says what is wrong with it */
	busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* Attach a new mount of the filesystem mounted on MP to MNT, as a fresh
 * mount(2) of a kernel filesystem's device would be: a clone of MP's root
 * that is made private before it is attached (a plain MS_BIND of a shared
 * mount would join MP's peer group, and mounts would then propagate
 * between the two), with the mount flags of this mount.  0 or -1 (errno). */
static int attach_clone(const char *mp, const char *mnt, unsigned long flags)
{
	struct mount_attr a = { .propagation = MS_PRIVATE };
	int fd = (int)open_tree(AT_FDCWD, mp, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), ret, e;

	if (fd < 0) {
		if (errno != ENOSYS)
			return -1;
		/* kernels before 5.2: a bind mount with its flags */
		if (mount(mp, mnt, NULL, MS_BIND, NULL) != 0)
			return -1;
		return mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | flags, NULL);
	}
	if (flags & MS_RDONLY)
		a.attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		a.attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		a.attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		a.attr_set |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NODIRATIME)
		a.attr_set |= MOUNT_ATTR_NODIRATIME;
	if (flags & (MS_NOATIME | MS_STRICTATIME)) {
		a.attr_clr |= MOUNT_ATTR__ATIME;
		a.attr_set |= flags & MS_NOATIME ? MOUNT_ATTR_NOATIME : MOUNT_ATTR_STRICTATIME;
	}
	a.attr_clr |= (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
		       MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME) & ~a.attr_set;
	ret = mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a));
	if (!ret)
		ret = move_mount(fd, "", AT_FDCWD, mnt, MOVE_MOUNT_F_EMPTY_PATH);
	e = errno;
	close(fd);   /* the attached mount stays; an unattached clone goes */
	errno = e;
	return ret;
}

/* A device that is already mounted is mounted again as a kernel
 * filesystem is: the new mount shares the running daemon's filesystem (a
 * bind mount of its root, with this mount's own flags), so one cache and
 * one daemon serve both, and the daemon ends with the last unmount.  A
 * device whose lock is held while it is not mounted belongs to a daemon
 * finishing its final flush after an unmount (or to fsck or mkfs): wait
 * for it a while.  Returns 0 mounted here (done), 1 go on and open the
 * device, -1 failed (message printed). */
static int share_mount(const char *dev, const char *mnt, unsigned long flags)
{
	char mp[4096];

	for (int waited = 0; dev_locked(dev); waited++) {
		int m = find_mount(dev, mp, sizeof(mp));

		if (m == 2) {
			/* a new mount needs the root, and there is no path to it */
			fprintf(stderr, "hfs: %s: Device or resource busy (only a bind mount of "
				"a subtree of it is mounted)\n", dev);
			return -1;
		}
		if (m == 1) {
			if (attach_clone(mp, mnt, flags) != 0) {
				fprintf(stderr, "hfs: %s is mounted on %s; sharing it on %s: %s\n",
					dev, mp, mnt, strerror(errno));
				return -1;
			}
			return 0;
		}
		if (waited >= 100)   /* 10 s: hfs_open then reports the busy device */
			break;
		usleep(100 * 1000);
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct hfs_mount_opts o;
	const char *pos[MAXDEV + 1], *mnt;
	char fuse_opts[2048] = "", fsname[300];
	char *fargv[8];
	int npos = 0, foreground = 0, i, ret, fargc = 0, wprot = 0, fellback = 0;
	struct hfs_fs *fs;
	struct stat st;
	char devpath[PATH_MAX];
	unsigned long mflags = 0;

	if (mount_flags(argc, argv, &mflags))
		return do_remount(argc, argv);
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
	/* the source shown in /proc/mounts: the canonical path, which is how
	 * share_mount finds the mount of a device given by another name */
	if (realpath(pos[0], devpath))
		pos[0] = devpath;
	mflags = MS_NOSUID | MS_NODEV;   /* libfuse's defaults for a new mount */
	mount_flags(argc, argv, &mflags);
	ret = share_mount(pos[0], mnt, mflags);
	if (ret <= 0)
		return -ret;
	/* A write-protected device (blockdev --setro, losetup -r, a read-only
	 * image) is mounted read-only with a warning, as mount(8) retries a
	 * kernel filesystem that refused to mount read-write (EACCES/EROFS);
	 * mount(8) cannot do that for a helper, so the helper does. */
	for (i = 0; i < npos && !wprot; i++)
		wprot = raid_write_protected(pos[i]) == 1;
	if (wprot && !o.readonly)
		fellback = o.readonly = 1;
	if (o.norecovery && !o.readonly) {
		fprintf(stderr, "hfs: -o norecovery needs -o ro: a read-write mount always recovers\n");
		return 1;
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
		openlog("hfs", LOG_PID, LOG_DAEMON);
		hfs_log_info_to_syslog = 1;
	}
	ret = hfs_open(pos, npos, &o, &fs);
	if (ret == -EROFS && o.readonly) {
		/* one line, worded like mount(8)'s for a kernel filesystem */
		fprintf(stderr, "mount: %s: cannot mount %s read-only: it was not unmounted cleanly "
			"and its recovery must write, which the %s refuses (-o norecovery mounts "
			"the last commit without recovery)\n", mnt, pos[0],
			wprot ? "device" : "set (a leg missing or not optimal, or a device)");
		return 1;
	}
	if (ret) {
		fprintf(stderr, "hfs: cannot open the filesystem: %s\n", strerror(-ret));
		return 1;
	}
	if (fellback)
		fprintf(stderr, "hfs: %s: WARNING: source write-protected, mounted read-only\n", pos[0]);
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
