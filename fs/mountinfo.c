/*
 * mountinfo.c — reading /proc/self/mountinfo for the bdi of the daemon's
 * own FUSE mount, and the sysfs/procfs knobs set through it (the bdi's
 * read_ahead_kb here, its max_bytes in dirty.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs/hfs.h"

void hfs_mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = 0;
}

/* The st_dev of the newest mount of type 'type' on 'point' (canonical),
 * from mountinfo: a stat of the mount point would send a request to this
 * daemon before its loop runs. */
static int mount_devno(const char *point, const char *type, unsigned *maj, unsigned *min)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char pt[4096], t[64], *sep = strstr(line, " - ");
		unsigned a, b;

		if (!sep || sscanf(line, "%*s %*s %u:%u %*s %4095s", &a, &b, pt) != 3 ||
		    sscanf(sep + 3, "%63s", t) != 1)
			continue;
		hfs_mountinfo_unescape(pt);
		if (!strcmp(pt, point) && !strcmp(t, type)) {
			*maj = a;
			*min = b;
			found = 0;   /* keep going: a later line is a mount over it */
		}
	}
	fclose(f);
	return found;
}

int hfs_mount_bdi(const char *canon, char *out, size_t cap)
{
	unsigned maj, min;
	int ret = mount_devno(canon, "fuse.hfs", &maj, &min);

	if (!ret)
		snprintf(out, cap, "%u:%u", maj, min);
	return ret;
}

int hfs_knob_read(const char *path, uint64_t *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%" SCNu64, v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int hfs_knob_write(const char *path, uint64_t v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n;
	ssize_t w;

	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	w = write(fd, buf, (size_t)n);
	n = w == n ? 0 : w < 0 ? -errno : -EIO;
	close(fd);
	return n;
}

int hfs_bdi_set_readahead(const char *bdi, unsigned kib)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", bdi);
	return hfs_knob_write(path, kib);
}
