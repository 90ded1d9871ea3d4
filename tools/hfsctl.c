/*
 * hfsctl.c — status, scrub and replace of a mounted hfs through the
 * daemon's control socket (fs/hfs.h; the status file when the socket is not
 * there), and status of unmounted devices (labels and header read directly).
 *   hfsctl status MOUNTPOINT [--json]
 *   hfsctl status DEV... [--json]
 *   hfsctl scrub [-w] [-s] [-p] MOUNTPOINT
 *   hfsctl replace [-w] [-f] MOUNTPOINT OLD NEW
 *   hfsctl trim [-m MINLEN] MOUNTPOINT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <uuid.h>
#include "fs/hfs.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hfsctl status MOUNTPOINT|DEV... [--json]\n"
		   "       hfsctl scrub [-w] [-s] [-p] [--json] MOUNTPOINT\n"
		   "           start (or resume) a scrub; -w wait and show progress,\n"
		   "           -s show the scrub's state, -p pause it (resume with scrub)\n"
		   "       hfsctl replace [-w] [-f] MOUNTPOINT OLD NEW\n"
		   "           rebuild onto device NEW in place of OLD (path or index) online;\n"
		   "           -w wait and show progress, -f NEW may hold data\n"
		   "       hfsctl trim [-m MINLEN] MOUNTPOINT\n"
		   "           discard the free space (as fstrim), runs of at least MINLEN bytes\n");
}

/* Alive and not a zombie (a killed daemon may wait unreaped). */
static int pid_alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int alive = 0;

	/* EPERM: it exists, it is root's and we are not */
	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

/* ---- the status JSON of a mounted filesystem ---------------------------- */

/* Live from the control socket, else from the status file (an older
 * daemon, or the socket unavailable).  *out is malloc'ed.  0 or 1 (message
 * printed). */
static int get_status(const char *mnt, char **out)
{
	char path[4300], err[256];
	size_t len = 0;
	FILE *m = open_memstream(out, &len);
	int ret, pid = 0;
	FILE *f;

	if (!m)
		return 1;
	ret = hfs_ctl_request(mnt, "status", m, err, sizeof(err));
	fclose(m);
	if (ret == 0)
		return 0;
	free(*out);
	*out = NULL;
	/* no socket (older daemon), or not root: the status file is world-readable */
	if (ret != -ENOENT && ret != -ECONNREFUSED && ret != -EACCES && ret != -EPERM) {
		fprintf(stderr, "hfsctl: %s: %s\n", mnt, *err ? err : strerror(-ret));
		return 1;
	}
	if (hfs_status_path(mnt, path, sizeof(path)) != 0 || !(f = fopen(path, "r"))) {
		fprintf(stderr, "hfsctl: %s: no hfs mounted there (no status file)\n", mnt);
		return 1;
	}
	/* a daemon that was killed leaves its file behind */
	if (fscanf(f, " { \"pid\": %d", &pid) != 1 || !pid_alive(pid)) {
		fprintf(stderr, "hfsctl: %s: the hfs daemon for it is gone (stale status file %s)\n",
			mnt, path);
		fclose(f);
		return 1;
	}
	rewind(f);
	m = open_memstream(out, &len);
	if (!m) {
		fclose(f);
		return 1;
	}
	while ((ret = fgetc(f)) != EOF)
		fputc(ret, m);
	fclose(f);
	fclose(m);
	return 0;
}

/* The value of "key" in the JSON text js (first occurrence at or after js):
 * a string without its quotes, or a number/word.  "" if absent. */
static const char *jget(const char *js, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	out[0] = 0;
	p = strstr(js, pat);
	if (!p)
		return out;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = strchr(p, '"');
	} else {
		e = p + strcspn(p, ",}\n ");
	}
	if (!e)
		return out;
	n = (size_t)(e - p) < cap - 1 ? (size_t)(e - p) : cap - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

/* zpool-status-like view of the JSON. */
static void print_status(const char *js)
{
	char a[256], b[256], c[256], d[64], e[64], f[64], g[64], h[64];
	const char *scrub = strstr(js, "\"scrub\": "), *dev, *p;

	printf("  mount:  %s (pid %s)\n", jget(js, "mountpoint", a, sizeof(a)), jget(js, "pid", b, sizeof(b)));
	printf("  set:    %s (%s, %s engine)\n", jget(js, "uuid", a, sizeof(a)),
	       jget(js, "layout", b, sizeof(b)), jget(js, "engine", c, sizeof(c)));
	jget(js, "set_state", a, sizeof(a));
	upper(a);
	printf("  state:  %s\n", *a ? a : "?");
	/* "read-only", or "read-only (critical write error)" after a failed metadata write */
	if (strcmp(jget(js, "state", b, sizeof(b)), "online"))
		printf("  mode:   %s\n", b);
	if (!strcmp(jget(js, "fuse_transport", a, sizeof(a)), "io_uring"))
		printf("  fuse:   io_uring, %s queues of %s threads, %s requests\n",
		       jget(js, "fuse_uring_queues", b, sizeof(b)),
		       jget(js, "fuse_uring_threads_per_queue", c, sizeof(c)),
		       jget(js, "fuse_uring_requests", d, sizeof(d)));
	else if (*a)
		printf("  fuse:   %s\n", a);
	printf("  space:  %llu MiB, %llu MiB free, %s inodes\n",
	       strtoull(jget(js, "size_bytes", a, sizeof(a)), NULL, 10) >> 20,
	       strtoull(jget(js, "free_bytes", b, sizeof(b)), NULL, 10) >> 20,
	       jget(js, "inodes", c, sizeof(c)));
	/* partial: misses that read nothing (bc_get_part); filled: read later */
	if (*jget(js, "cache_hits", a, sizeof(a)))
		printf("  cache:  %llu MiB (%llu MiB dirty), %s hits, %s misses, %s partial (%s filled), "
		       "direct %s reads, %s writes\n",
		       strtoull(jget(js, "cache_bytes", b, sizeof(b)), NULL, 10) >> 20,
		       strtoull(jget(js, "dirty_bytes", c, sizeof(c)), NULL, 10) >> 20, a,
		       jget(js, "cache_misses", d, sizeof(d)), jget(js, "cache_partial", e, sizeof(e)),
		       jget(js, "cache_fills", f, sizeof(f)), jget(js, "direct_reads", g, sizeof(g)),
		       jget(js, "direct_writes", h, sizeof(h)));
	if (scrub) {
		jget(scrub, "state", a, sizeof(a));
		if (!strcmp(a, "none"))
			printf("  scrub:  none requested\n");
		else
			printf("  scrub:  %s, %s%%: %s blocks, %llu MiB read, %s errors, %s repaired, "
			       "%s unrepairable\n", a, jget(scrub, "progress_pct", b, sizeof(b)),
			       jget(scrub, "blocks", c, sizeof(c)),
			       strtoull(jget(scrub, "bytes", d, sizeof(d)), NULL, 10) >> 20,
			       jget(scrub, "errors", e, sizeof(e)), jget(scrub, "repaired", f, sizeof(f)),
			       jget(scrub, "unrepairable", g, sizeof(g)));
		if (*jget(scrub, "last_error", a, sizeof(a)))
			printf("          stopped by an error: %s\n", a);
	}
	p = strstr(js, "\"rebuild\": ");
	if (p && strncmp(p + 11, "null", 4))
		printf("  rebuild: %s, %s%%: device %s (%s), %s of %s regions, %llu MiB copied\n",
		       jget(p, "state", a, sizeof(a)), jget(p, "progress_pct", b, sizeof(b)),
		       jget(p, "comp", e, sizeof(e)), jget(p, "device", c, sizeof(c)),
		       jget(p, "regions_done", d, sizeof(d)), jget(p, "regions_total", f, sizeof(f)),
		       strtoull(jget(p, "bytes_copied", g, sizeof(g)), NULL, 10) >> 20);
	printf("  config:\n        %-40s %-10s %6s %6s %6s %8s\n", "DEVICE", "STATE", "READ",
	       "WRITE", "CKSUM", "REPAIRED");
	for (dev = strstr(js, "{ \"path\": "); dev; dev = strstr(dev + 1, "{ \"path\": ")) {
		jget(dev, "state", b, sizeof(b));
		upper(b);
		printf("        %-40s %-10s %6s %6s %6s %8s\n", jget(dev, "path", a, sizeof(a)), b,
		       jget(dev, "read_errors", d, sizeof(d)), jget(dev, "write_errors", e, sizeof(e)),
		       jget(dev, "crc_errors", f, sizeof(f)), jget(dev, "repaired", h, sizeof(h)));
	}
}

static int status_mounted(const char *mnt, int json)
{
	char *js = NULL;

	if (get_status(mnt, &js))
		return 1;
	if (json)
		fputs(js, stdout);
	else
		print_status(js);
	free(js);
	return 0;
}

/* ---- scrub / replace ------------------------------------------------------- */

static int request(const char *mnt, const char *req, FILE *out)
{
	char err[256];
	int ret = hfs_ctl_request(mnt, req, out, err, sizeof(err));

	if (ret == -ENOENT || ret == -ECONNREFUSED)
		fprintf(stderr, "hfsctl: %s: no hfs daemon answers there (%s)\n", mnt, strerror(-ret));
	else if (ret)
		fprintf(stderr, "hfsctl: %s: %s\n", mnt, *err ? err : strerror(-ret));
	return ret;
}

/* Poll the status until the named job ("scrub"/"rebuild") is no longer
 * running; print a progress line per change.  Returns the final JSON. */
static char *wait_job(const char *mnt, const char *job)
{
	char key[32], st[64], pct[16], last[16] = "";
	char *js = NULL;

	snprintf(key, sizeof(key), "\"%s\": ", job);
	for (;;) {
		const char *p;

		free(js);
		js = NULL;
		if (get_status(mnt, &js))
			return NULL;
		p = strstr(js, key);
		if (!p || !strncmp(p + strlen(key), "null", 4))
			return js;
		jget(p, "state", st, sizeof(st));
		jget(p, "progress_pct", pct, sizeof(pct));
		if (strcmp(pct, last)) {
			printf("  %s: %s %s%%\n", job, st, pct);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", pct);
		}
		if (strcmp(st, "running"))
			return js;
		usleep(200 * 1000);
	}
}

static int cmd_trim(int argc, char **argv)
{
	const char *mnt = NULL, *minlen = "0", *p;
	char *body = NULL, req[64], *end;
	size_t len = 0;
	FILE *m;
	int i, ret;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			minlen = argv[++i];
		} else if (argv[i][0] == '-' || mnt) {
			usage(stderr);
			return 2;
		} else {
			mnt = argv[i];
		}
	}
	strtoull(minlen, &end, 10);
	if (!mnt || end == minlen || *end || strlen(minlen) > 20) {
		usage(stderr);
		return 2;
	}
	snprintf(req, sizeof(req), "trim %s", minlen);
	m = open_memstream(&body, &len);
	ret = m ? request(mnt, req, m) : -ENOMEM;
	if (m)
		fclose(m);
	p = body ? strstr(body, "\"trimmed\": ") : NULL;
	if (!ret && p)
		printf("%s: %llu bytes trimmed\n", mnt, strtoull(p + strlen("\"trimmed\": "), NULL, 10));
	else if (!ret)
		fprintf(stderr, "hfsctl: %s: the daemon sent no count\n", mnt);
	free(body);
	return !ret && p ? 0 : 1;
}

static int cmd_scrub(int argc, char **argv)
{
	int wait = 0, show = 0, pause = 0, json = 0, i, ret;
	const char *mnt = NULL;
	char *js, a[64], b[64], c[64], d[64];
	const char *p;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-w"))
			wait = 1;
		else if (!strcmp(argv[i], "-s"))
			show = 1;
		else if (!strcmp(argv[i], "-p"))
			pause = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' || mnt) {
			usage(stderr);
			return 2;
		} else
			mnt = argv[i];
	}
	if (!mnt || show + pause + wait > 1) {
		usage(stderr);
		return 2;
	}
	if (pause) {
		if (request(mnt, "scrub-pause", NULL))
			return 1;
		printf("scrub paused (hfsctl scrub %s resumes it)\n", mnt);
		return 0;
	}
	if (!show) {
		char *body = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&body, &len);

		ret = m ? request(mnt, "scrub", m) : -ENOMEM;
		if (m)
			fclose(m);
		if (ret) {
			free(body);
			return 1;
		}
		printf("scrub %s on %s\n", body && strstr(body, "true") ? "resumed" : "started", mnt);
		free(body);
		if (!wait)
			return 0;
		js = wait_job(mnt, "scrub");
	} else if (get_status(mnt, &js)) {
		js = NULL;
	}
	if (!js)
		return 1;
	p = strstr(js, "\"scrub\": ");
	if (!p) {
		fprintf(stderr, "hfsctl: %s: the daemon reports no scrub state\n", mnt);
		free(js);
		return 1;
	}
	if (json) {
		printf("%.*s\n", (int)(strchr(p, '}') - p + 1 - 9), p + 9);
	} else {
		printf("  scrub %s, %s%%: %s blocks, %llu MiB read\n", jget(p, "state", a, sizeof(a)),
		       jget(p, "progress_pct", b, sizeof(b)), jget(p, "blocks", c, sizeof(c)),
		       strtoull(jget(p, "bytes", d, sizeof(d)), NULL, 10) >> 20);
		printf("  errors %s, repaired %s, unrepairable %s\n", jget(p, "errors", a, sizeof(a)),
		       jget(p, "repaired", b, sizeof(b)), jget(p, "unrepairable", c, sizeof(c)));
		if (*jget(p, "last_error", a, sizeof(a)))
			printf("  stopped by an error: %s\n", a);
	}
	ret = strcmp(jget(p, "unrepairable", a, sizeof(a)), "0") || *jget(p, "last_error", b, sizeof(b));
	free(js);
	return wait && ret ? 1 : 0;
}

static int cmd_replace(int argc, char **argv)
{
	char req[8300], newp[4096], st[32], *js;
	int wait = 0, force = 0, i, n = 0, ret;
	const char *arg[3], *p;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-w"))
			wait = 1;
		else if (!strcmp(argv[i], "-f"))
			force = 1;
		else if (n < 3)
			arg[n++] = argv[i];
		else
			n = 4;
	}
	if (n != 3) {
		usage(stderr);
		return 2;
	}
	if (!realpath(arg[2], newp)) {
		fprintf(stderr, "hfsctl: %s: %s\n", arg[2], strerror(errno));
		return 1;
	}
	if (strchr(arg[1], ' ') || strchr(newp, ' ')) {
		fprintf(stderr, "hfsctl: device paths with spaces are not supported\n");
		return 1;
	}
	snprintf(req, sizeof(req), "replace %s %s%s", arg[1], newp, force ? " force" : "");
	if (request(arg[0], req, NULL))
		return 1;
	printf("rebuilding onto %s in place of %s\n", newp, arg[1]);
	if (!wait)
		return 0;
	js = wait_job(arg[0], "rebuild");
	if (!js)
		return 1;
	p = strstr(js, "\"rebuild\": ");
	ret = !p || strcmp(jget(p, "state", st, sizeof(st)), "finished");
	if (ret)
		fprintf(stderr, "hfsctl: the rebuild did not finish (%s)\n", p ? st : "no rebuild state");
	else
		printf("rebuild finished\n");
	free(js);
	return ret;
}

static int status_devices(char **devs, int n, int json)
{
	struct raid_opts ro = { .readonly = 1, .allow_degraded = 1 };
	struct raid_comp_status cs[RAID_MAX_COMP];
	struct hfs_volhdr_ondisk vh;
	struct raid_set *rs;
	char u[37];
	int ret, i, nc;

	ret = raid_open((const char *const *)devs, n, &ro, &rs);
	if (ret) {
		fprintf(stderr, "hfsctl: cannot assemble: %s\n", strerror(-ret));
		return 1;
	}
	ret = hfs_read_header(rs, &vh);
	nc = raid_status(rs, cs, RAID_MAX_COMP);
	uuid_unparse(raid_set_uuid(rs), u);
	if (json) {
		printf("{ \"uuid\": \"%s\", \"layout\": \"%s\", \"mounted\": false, \"header\": %s",
		       u, raid_layout_name(raid_layout_of(rs)), ret >= 0 ? "true" : "false");
		if (ret >= 0)
			printf(", \"commit_seq\": %llu, \"size_bytes\": %llu, \"free_bytes\": %llu, \"inodes\": %llu",
			       (unsigned long long)hfs_le64(vh.vh_seq), (unsigned long long)hfs_le64(vh.vh_size),
			       (unsigned long long)hfs_le64(vh.vh_free_blocks) * HFS_BLKSIZE,
			       (unsigned long long)hfs_le64(vh.vh_ninodes));
		printf(", \"devices\": [");
		for (i = 0; i < nc; i++)
			printf("%s{ \"path\": \"%s\", \"state\": \"%s\" }", i ? ", " : "", cs[i].path,
			       raid_comp_state_name(cs[i].state));
		printf("] }\n");
	} else {
		printf("  set:    %s (%s, not mounted)\n", u, raid_layout_name(raid_layout_of(rs)));
		if (ret >= 0)
			printf("  commit: %llu\n  space:  %llu MiB, %llu MiB free\n  inodes: %llu\n",
			       (unsigned long long)hfs_le64(vh.vh_seq),
			       (unsigned long long)(hfs_le64(vh.vh_size) >> 20),
			       (unsigned long long)((hfs_le64(vh.vh_free_blocks) * HFS_BLKSIZE) >> 20),
			       (unsigned long long)hfs_le64(vh.vh_ninodes));
		else
			printf("  header: no valid volume header\n");
		for (i = 0; i < nc; i++)
			printf("  device %d: %-40s %s\n", i, cs[i].path, raid_comp_state_name(cs[i].state));
	}
	raid_close(rs);
	return ret >= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int json = 0, i, n = 0;
	char *args[RAID_MAX_COMP + 1];
	struct stat st;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);   /* also after a command: hfsctl status --help */
			return 0;
		}
	if (!strcmp(argv[1], "scrub"))
		return cmd_scrub(argc, argv);
	if (!strcmp(argv[1], "replace"))
		return cmd_replace(argc, argv);
	if (!strcmp(argv[1], "trim"))
		return cmd_trim(argc, argv);
	if (!strcmp(argv[1], "stats")) {
		fprintf(stderr, "hfsctl: stats is not implemented yet\n");
		return 2;
	}
	if (strcmp(argv[1], "status")) {
		fprintf(stderr, "hfsctl: unknown command %s\n", argv[1]);
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "hfsctl: status: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (n < RAID_MAX_COMP) {
			args[n++] = argv[i];
		}
	}
	if (!n) {
		usage(stderr);
		return 2;
	}
	if (n == 1 && stat(args[0], &st) == 0 && S_ISDIR(st.st_mode))
		return status_mounted(args[0], json);
	return status_devices(args, n, json);
}
