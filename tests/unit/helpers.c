/* helpers.c — see helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <pthread.h>
#include "fs/block.h"
#include "fs/hfs_int.h"
#include "tests/unit/helpers.h"

int tu_mkimage(char *path, size_t cap, uint64_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, cap, "%s/hfs-unit-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

void tu_rmimage(const char *path)
{
	unlink(path);
}

int tu_legs_setup(void **st, uint64_t size, const char *tag)
{
	struct tu_legs *f = calloc(1, sizeof(*f));
	int i, fd;

	if (!f)
		return -1;
	for (i = 0; i < 2; i++) {
		if (tu_mkimage(f->img[i], sizeof(f->img[i]), size))
			return -1;
		f->p[i] = f->img[i];
	}
	snprintf(f->rules, sizeof(f->rules), "%s/hfs-%s-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag);
	fd = mkstemp(f->rules);
	if (fd < 0)
		return -1;
	close(fd);
	*st = f;
	return 0;
}

int tu_legs_teardown(void **st)
{
	struct tu_legs *f = *st;

	tu_rmimage(f->img[0]);
	tu_rmimage(f->img[1]);
	unlink(f->rules);
	free(f);
	return 0;
}

void tu_legs_rules(struct tu_legs *f, const char *text)
{
	char tmp[300];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.new", f->rules);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, f->rules), 0);
}

static uint64_t tu_state;

void tu_seed(uint64_t seed)
{
	tu_state = seed ? seed : 0x9e3779b97f4a7c15ull;
	fprintf(stderr, "# prng seed %llu\n", (unsigned long long)seed);
}

uint64_t tu_rand(void)
{
	uint64_t x = tu_state ? tu_state : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	tu_state = x;
	return x;
}

unsigned tu_img_minor(const char *img, int set)
{
	const char *p[1] = { img };
	struct raid_opts o = { 0 };
	struct hfs_volhdr_ondisk vh;
	struct raid_set *rs;

	assert_int_equal(raid_open(p, 1, &o, &rs), 0);
	assert_true(hfs_read_header(rs, &vh) >= 0);
	if (set) {
		vh.vh_minor = hfs_tole16((uint16_t)set);
		assert_int_equal(hfs_write_header_raw(rs, &vh), 0);
	}
	raid_close(rs);
	return hfs_le16(vh.vh_minor);
}

uint64_t tu_new_ino(struct hfs_fs *fs)
{
	struct hfs_inode ip;

	assert_int_equal(tu_new_file(fs, &ip), 0);
	return ip.ino;
}

void tu_get_rec(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r)
{
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(rec_get(fs, ino, fbo, r), 0);
	pthread_mutex_unlock(&fs->lock);
}
