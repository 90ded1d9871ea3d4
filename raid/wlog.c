/*
 * wlog.c — the write-log test device: records completed writes and flushes
 * of a set's components so crash tests can rebuild the device image at any
 * point (docs/DESIGN.md, issue 3).  Not used unless raid_opts.write_log.
 *
 * Log record (little-endian): magic u32 "HWLG", type u32 (1 write, 2 flush),
 * comp u32, pad u32, device offset u64, length u64, crc32 of the data u32,
 * pad u32, then length bytes of data.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "raid/raid_int.h"

#define WLOG_MAGIC 0x474c5748u
enum { WLOG_WRITE = 1, WLOG_FLUSH = 2 };

struct wlog_rec {
	uint32_t magic, type, comp, pad;
	uint64_t off, len;
	uint32_t crc, pad2;
};
_Static_assert(sizeof(struct wlog_rec) == 40, "wlog record");

int raid_wlog_open(struct raid_set *s, const char *path)
{
	s->wlog_fd = -1;
	pthread_mutex_init(&s->wlog_lock, NULL);
	if (!path)
		return 0;
	s->wlog_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	return s->wlog_fd < 0 ? -errno : 0;
}

static void append(struct raid_set *s, uint32_t type, int comp, uint64_t off, const void *buf,
		   size_t len)
{
	struct wlog_rec r = {
		htole32(WLOG_MAGIC), htole32(type), htole32((uint32_t)comp), 0,
		htole64(off), htole64(len),
		htole32(len ? (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)len) : 0), 0,
	};

	pthread_mutex_lock(&s->wlog_lock);
	/* A test device: a short log write is reported, not hidden. */
	if (write(s->wlog_fd, &r, sizeof(r)) != (ssize_t)sizeof(r) ||
	    (len && write(s->wlog_fd, buf, len) != (ssize_t)len))
		RAID_ERR("write log: append failed");
	pthread_mutex_unlock(&s->wlog_lock);
}

void raid_wlog_write(struct raid_set *s, int comp, uint64_t dev_off, const void *buf, size_t len)
{
	if (s->wlog_fd >= 0)
		append(s, WLOG_WRITE, comp, dev_off, buf, len);
}

void raid_wlog_flush(struct raid_set *s, int comp)
{
	if (s->wlog_fd >= 0)
		append(s, WLOG_FLUSH, comp, 0, NULL, 0);
}

/* Read the next record header at fd; 0, 1 at the end, -errno/-EBADMSG. */
static int next_rec(int fd, struct wlog_rec *r)
{
	ssize_t n = read(fd, r, sizeof(*r));

	if (n == 0)
		return 1;
	if (n != (ssize_t)sizeof(*r) || le32toh(r->magic) != WLOG_MAGIC ||
	    (le32toh(r->type) != WLOG_WRITE && le32toh(r->type) != WLOG_FLUSH) ||
	    le64toh(r->len) > (1u << 30))
		return -EBADMSG;
	return 0;
}

int raid_wlog_count(const char *log, long *records, long *flushes)
{
	struct wlog_rec r;
	int fd = open(log, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	*records = *flushes = 0;
	while ((ret = next_rec(fd, &r)) == 0) {
		(*records)++;
		*flushes += le32toh(r.type) == WLOG_FLUSH;
		if (lseek(fd, (off_t)le64toh(r.len), SEEK_CUR) < 0) {
			ret = -errno;
			break;
		}
	}
	close(fd);
	return ret < 0 ? ret : 0;
}

int raid_wlog_replay(const char *log, int comp, const char *image, long upto, uint64_t drop_mask)
{
	struct wlog_rec r;
	long i, last_flush = -1, applied = 0;
	int fd, out, ret = 0;
	char *buf = NULL;

	/* pass 1: where is the last flush before 'upto' */
	fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < upto && (ret = next_rec(fd, &r)) == 0; i++) {
		if (le32toh(r.type) == WLOG_FLUSH && (int)le32toh(r.comp) == comp)
			last_flush = i;
		lseek(fd, (off_t)le64toh(r.len), SEEK_CUR);
	}
	if (ret < 0)
		goto out_fd;
	lseek(fd, 0, SEEK_SET);
	out = open(image, O_WRONLY | O_CLOEXEC);
	if (out < 0) {
		ret = -errno;
		goto out_fd;
	}
	for (i = 0; i < upto && (ret = next_rec(fd, &r)) == 0; i++) {
		uint64_t len = le64toh(r.len);
		char *nb = realloc(buf, len ? len : 1);

		if (!nb) {
			ret = -ENOMEM;
			break;
		}
		buf = nb;
		if (len && read(fd, buf, len) != (ssize_t)len) {
			ret = -EBADMSG;
			break;
		}
		if (le32toh(r.type) != WLOG_WRITE || (int)le32toh(r.comp) != comp)
			continue;
		if (i > last_flush) {
			long k = i - last_flush - 1;

			if (k < 64 && (drop_mask >> k) & 1)
				continue;   /* not durable at the crash */
		}
		if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)buf, (uInt)len) != le32toh(r.crc)) {
			ret = -EBADMSG;
			break;
		}
		if (pwrite(out, buf, len, (off_t)le64toh(r.off)) != (ssize_t)len) {
			ret = -errno;
			break;
		}
		applied++;
	}
	if (ret == 1)
		ret = 0;
	if (fsync(out) != 0 && !ret)
		ret = -errno;
	close(out);
out_fd:
	close(fd);
	free(buf);
	return ret < 0 ? ret : (int)applied;
}

int raid_wlog_flush_points(const char *log, int comp, long *idx, int max)
{
	struct wlog_rec r;
	long i = 0;
	int fd = open(log, O_RDONLY | O_CLOEXEC), n = 0, ret;

	if (fd < 0)
		return -errno;
	while ((ret = next_rec(fd, &r)) == 0) {
		if (le32toh(r.type) == WLOG_FLUSH && (int)le32toh(r.comp) == comp && n < max)
			idx[n++] = i;
		i++;
		if (lseek(fd, (off_t)le64toh(r.len), SEEK_CUR) < 0) {
			ret = -errno;
			break;
		}
	}
	close(fd);
	return ret < 0 ? ret : n;
}
