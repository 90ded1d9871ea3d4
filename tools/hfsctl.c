/*
 * hfsctl.c — status of a mounted hfs (from the daemon's status file) or of
 * unmounted devices (labels and header read directly).
 *   hfsctl status MOUNTPOINT [--json]
 *   hfsctl status DEV... [--json]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <uuid.h>
#include "fs/hfs.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hfsctl status MOUNTPOINT|DEV... [--json]\n"
		   "       hfsctl scrub|replace ...   (not implemented yet)\n");
}

/* Alive and not a zombie (a killed daemon may wait unreaped). */
static int pid_alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int alive = 0;

	if (pid <= 0 || kill(pid, 0) != 0)
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

/* Print the JSON status file; the human form is a light reformat. */
static int status_mounted(const char *mnt, int json)
{
	char path[4300], line[1024];
	FILE *f;

	if (hfs_status_path(mnt, path, sizeof(path)) != 0 || !(f = fopen(path, "r"))) {
		fprintf(stderr, "hfsctl: %s: no hfs mounted there (no status file)\n", mnt);
		return 1;
	}
	{
		int pid = 0;

		/* a daemon that was killed leaves its file behind */
		if (fscanf(f, " { \"pid\": %d", &pid) != 1 || !pid_alive(pid)) {
			fprintf(stderr, "hfsctl: %s: the hfs daemon for it is gone (stale status file %s)\n",
				mnt, path);
			fclose(f);
			return 1;
		}
		rewind(f);
	}
	while (fgets(line, sizeof(line), f)) {
		if (json) {
			fputs(line, stdout);
			continue;
		}
		{
			/* "key": value, -> key: value (one device per line) */
			char out[1024], *p = line;
			size_t o = 0;

			for (; *p && o + 1 < sizeof(out); p++) {
				if (*p == '"' || *p == '{' || *p == '}' || *p == '[' || *p == ']' || *p == '\n')
					continue;
				if (*p == ' ' && (o == 0 || out[o - 1] == ' '))
					continue;
				out[o++] = *p;
			}
			while (o && (out[o - 1] == ',' || out[o - 1] == ' '))
				o--;
			out[o] = 0;
			if (o)
				printf("  %s\n", out);
		}
	}
	fclose(f);
	return 0;
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
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "scrub") || !strcmp(argv[1], "replace") || !strcmp(argv[1], "stats")) {
		fprintf(stderr, "hfsctl: %s is not implemented yet\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[1], "status")) {
		fprintf(stderr, "hfsctl: unknown command %s\n", argv[1]);
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (n < RAID_MAX_COMP)
			args[n++] = argv[i];
	}
	if (!n) {
		usage(stderr);
		return 2;
	}
	if (n == 1 && stat(args[0], &st) == 0 && S_ISDIR(st.st_mode))
		return status_mounted(args[0], json);
	return status_devices(args, n, json);
}
