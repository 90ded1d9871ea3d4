/*
 * mountinfo.c — reading /proc/self/mountinfo, and the per-mount knob the
 * daemon sets through it: the readahead window of its FUSE superblock's
 * bdi (/sys/class/bdi/MAJ:MIN/read_ahead_kb).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int hfs_mount_set_readahead(const char *canon, unsigned kib)
{
	char path[128];
	unsigned maj, min;
	FILE *f;
	int ret;

	ret = mount_devno(canon, "fuse.hfs", &maj, &min);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fprintf(f, "%u\n", kib) < 0 ? -EIO : 0;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}
