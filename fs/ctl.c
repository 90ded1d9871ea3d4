/*
 * ctl.c — the daemon's control socket for hfsctl (protocol in fs/hfs.h):
 * a unix stream socket in /run/hfs beside the status file, mode 0600,
 * served by one thread of the daemon, one short request per connection.
 * Long work (scrub, replace) runs on its own thread; a request only
 * starts, pauses or reports it.
 *
 * Threads: ctl_main accepts and answers; hfs_ctl_stop (unmount) wakes it
 * through a pipe and joins it.  A request takes fs->lock only as long as
 * the status JSON or a start needs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>
#include "fs/hfs_int.h"

#define CTL_DIR "/run/hfs"
#define CTL_MAX_REQ 4096

struct hfs_ctl {
	int c_listen;
	int c_wake[2];              /* write end wakes the thread to stop */
	pthread_t c_thread;
	char c_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* ---- the socket path (shared with hfsctl) ------------------------------ */

int hfs_ctl_path(const char *mountpoint, char *out, size_t cap)
{
	char real[4096], *p;
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);

	if (!realpath(mountpoint, real))
		return -errno;
	if (cap < max)
		return -ENAMETOOLONG;
	for (p = real; *p; p++)
		if (*p == '/')
			*p = '_';
	if ((size_t)snprintf(out, max, "%s/%s.sock", CTL_DIR, real) < max)
		return 0;
	/* too long for sun_path: name it by a hash of the mount point */
	snprintf(out, max, "%s/m%08lx.sock", CTL_DIR,
		 crc32(crc32(0L, Z_NULL, 0), (const Bytef *)real, (uInt)strlen(real)));
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static void reply_err(FILE *f, int err, const char *msg)
{
	fprintf(f, "error %d %s\n", -err, msg ? msg : strerror(-err));
}

static void handle(struct hfs_fs *fs, char *req, FILE *f)
{
	char *save = NULL, *verb = strtok_r(req, " ", &save);
	int ret, resumed = 0;

	if (!verb) {
		reply_err(f, -EINVAL, "empty request");
	} else if (!strcmp(verb, "ping")) {
		fprintf(f, "ok\n");
	} else if (!strcmp(verb, "status")) {
		pthread_mutex_lock(&fs->lock);
		hfs_status_write(fs, f);
		pthread_mutex_unlock(&fs->lock);
		fprintf(f, "ok\n");
	} else if (!strcmp(verb, "remount")) {
		char *mode = strtok_r(NULL, " ", &save), *at = strtok_r(NULL, " ", &save);
		int atime = !at ? -1 : !strcmp(at, "noatime") ? HFS_ATIME_NOATIME :
			    !strcmp(at, "relatime") ? HFS_ATIME_RELATIME :
			    !strcmp(at, "strictatime") ? HFS_ATIME_STRICT : -2;

		if (!mode || (strcmp(mode, "ro") && strcmp(mode, "rw")) || atime == -2 ||
		    strtok_r(NULL, " ", &save)) {
			reply_err(f, -EINVAL, "usage: remount ro|rw [noatime|relatime|strictatime]");
			return;
		}
		ret = hfs_remount(fs, !strcmp(mode, "ro"), atime);
		if (ret)
			reply_err(f, ret, NULL);
		else
			fprintf(f, "ok\n");
	} else if (!strcmp(verb, "scrub")) {
		ret = hfs_scrub_start(fs, &resumed);
		if (ret == -EBUSY)
			reply_err(f, ret, "a scrub is already running");
		else if (ret == -EROFS)
			reply_err(f, ret, "the filesystem is read-only");
		else if (ret)
			reply_err(f, ret, NULL);
		else
			fprintf(f, "{ \"resumed\": %s }\nok\n", resumed ? "true" : "false");
	} else if (!strcmp(verb, "scrub-pause")) {
		ret = hfs_scrub_pause(fs);
		if (ret == -ENOENT)
			reply_err(f, ret, "no scrub is running");
		else if (ret)
			reply_err(f, ret, NULL);
		else
			fprintf(f, "ok\n");
	} else if (!strcmp(verb, "trim")) {
		char *ml = strtok_r(NULL, " ", &save), *end = ml;
		unsigned long long minlen = ml ? strtoull(ml, &end, 10) : 0;
		uint64_t trimmed = 0;

		if ((ml && (end == ml || *end)) || strtok_r(NULL, " ", &save)) {
			reply_err(f, -EINVAL, "usage: trim [MINLEN]");
			return;
		}
		ret = hfs_trim(fs, 0, UINT64_MAX, minlen, &trimmed);
		if (ret == -EROFS)
			reply_err(f, ret, "the filesystem is read-only");
		else if (ret == -EINVAL)
			reply_err(f, ret, "minlen is over a big-block (8 MiB)");
		else if (ret == -EOPNOTSUPP)
			reply_err(f, ret, "a device of the set can discard nothing");
		else if (ret)
			reply_err(f, ret, NULL);
		else
			fprintf(f, "{ \"trimmed\": %llu }\nok\n", (unsigned long long)trimmed);
	} else if (!strcmp(verb, "replace")) {
		char *old = strtok_r(NULL, " ", &save), *new = strtok_r(NULL, " ", &save);
		char *opt = strtok_r(NULL, " ", &save);

		if (!old || !new || (opt && strcmp(opt, "force")) || strtok_r(NULL, " ", &save)) {
			reply_err(f, -EINVAL, "usage: replace OLD NEW [force]");
			return;
		}
		ret = hfs_replace(fs, old, new, opt != NULL);
		if (ret == -ENODEV)
			reply_err(f, ret, "no such component in the set");
		else if (ret == -EEXIST)
			reply_err(f, ret, "the new device is a member already or holds data (-f to overwrite)");
		else if (ret == -ENODATA)
			reply_err(f, ret, "no other readable copy to rebuild from");
		else if (ret == -ENOSPC)
			reply_err(f, ret, "the new device is too small");
		else if (ret)
			reply_err(f, ret, NULL);
		else
			fprintf(f, "ok\n");
	} else {
		reply_err(f, -EINVAL, "unknown request");
	}
}

/* Read one request line (bounded, with a timeout) and answer it. */
static void serve(struct hfs_fs *fs, int cfd)
{
	struct timeval tv = { 5, 0 };
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	char req[CTL_MAX_REQ + 1];
	size_t n = 0;
	FILE *f;

	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	f = fdopen(cfd, "w");
	if (!f) {
		close(cfd);
		return;
	}
	/* the socket is 0600 already; refuse anyone but root and our own user */
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		reply_err(f, -EPERM, "permission denied");
		fclose(f);
		return;
	}
	while (n < CTL_MAX_REQ) {
		ssize_t r = read(cfd, req + n, CTL_MAX_REQ - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(req, '\n', n))
			break;
	}
	req[n] = 0;
	if (!memchr(req, '\n', n)) {
		reply_err(f, -EINVAL, n >= CTL_MAX_REQ ? "request too long" : "incomplete request");
	} else {
		*strchr(req, '\n') = 0;
		handle(fs, req, f);
	}
	fclose(f);
}

static void *ctl_main(void *arg)
{
	struct hfs_fs *fs = arg;
	struct hfs_ctl *c = fs->ctl;

	for (;;) {
		struct pollfd p[2] = { { c->c_listen, POLLIN, 0 }, { c->c_wake[0], POLLIN, 0 } };
		int cfd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			HFS_ERR("control socket: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		cfd = accept4(c->c_listen, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		serve(fs, cfd);
	}
	return NULL;
}

/* ---- public (hfs_int.h) ----------------------------------------------------- */

int hfs_ctl_start(struct hfs_fs *fs, const char *mountpoint)
{
	struct hfs_ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int ret;

	if (!c)
		return -ENOMEM;
	c->c_listen = c->c_wake[0] = c->c_wake[1] = -1;
	ret = hfs_ctl_path(mountpoint, c->c_path, sizeof(c->c_path));
	if (ret)
		goto err;
	mkdir(CTL_DIR, 0755);
	c->c_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->c_listen < 0 || pipe2(c->c_wake, O_CLOEXEC) != 0) {
		ret = -errno;
		goto err;
	}
	memcpy(sa.sun_path, c->c_path, sizeof(sa.sun_path));
	unlink(c->c_path);   /* a killed daemon's socket (the mount point is ours now) */
	old = umask(077);    /* created owner-only: no window with a wider mode */
	ret = bind(c->c_listen, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret != 0) {
		ret = -errno;
		goto err;
	}
	if (chmod(c->c_path, 0600) != 0 || listen(c->c_listen, 8) != 0) {
		ret = -errno;
		unlink(c->c_path);
		goto err;
	}
	fs->ctl = c;
	ret = -pthread_create(&c->c_thread, NULL, ctl_main, fs);
	if (ret) {
		fs->ctl = NULL;
		unlink(c->c_path);
		goto err;
	}
	return 0;
err:
	if (c->c_listen >= 0)
		close(c->c_listen);
	if (c->c_wake[0] >= 0) {
		close(c->c_wake[0]);
		close(c->c_wake[1]);
	}
	free(c);
	return ret;
}

void hfs_ctl_stop(struct hfs_fs *fs)
{
	struct hfs_ctl *c = fs->ctl;

	if (!c)
		return;
	if (write(c->c_wake[1], "x", 1) != 1)
		HFS_ERR("control socket: cannot wake its thread");
	pthread_join(c->c_thread, NULL);
	unlink(c->c_path);
	close(c->c_listen);
	close(c->c_wake[0]);
	close(c->c_wake[1]);
	free(c);
	fs->ctl = NULL;
}

/* ---- client (hfsctl) ---------------------------------------------------------- */

int hfs_ctl_request(const char *mountpoint, const char *req, FILE *out, char *err, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[8192], last[8192] = "";
	int fd, ret, have = 0;
	FILE *f;

	if (err && cap)
		err[0] = 0;
	ret = hfs_ctl_path(mountpoint, sa.sun_path, sizeof(sa.sun_path));
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) || write(fd, "\n", 1) != 1) {
		ret = -errno;
		close(fd);
		return ret;
	}
	shutdown(fd, SHUT_WR);
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	/* body lines go to out; the last line is the verdict */
	while (fgets(line, sizeof(line), f)) {
		if (have && out)
			fputs(last, out);
		snprintf(last, sizeof(last), "%s", line);
		have = 1;
	}
	fclose(f);
	if (!have)
		return -EPROTO;   /* the daemon closed without a verdict */
	if (!strcmp(last, "ok\n"))
		return 0;
	if (!strncmp(last, "error ", 6)) {
		char *msg;
		long e = strtol(last + 6, &msg, 10);

		if (err && cap) {
			snprintf(err, cap, "%s", *msg == ' ' ? msg + 1 : msg);
			err[strcspn(err, "\n")] = 0;
		}
		return e > 0 && e < 4096 ? (int)-e : -EPROTO;
	}
	return -EPROTO;
}
