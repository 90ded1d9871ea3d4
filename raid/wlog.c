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
#include <sys/mman.h>
#include <sys/stat.h>
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

/* ---- replay ------------------------------------------------------------------
 * The log is mapped once and indexed; every record's CRC is checked at load,
 * so a damaged log is an error before any byte reaches an image. */

struct raid_wlog {
	uint8_t *map;
	size_t   size;
	long     nrec;
	struct raid_wlog_info *rec;   /* nrec entries */
	const uint8_t **data;         /* each record's payload in map */
};

static void wlog_free_idx(struct raid_wlog *w)
{
	if (w->map && w->map != MAP_FAILED)
		munmap(w->map, w->size);
	free(w->rec);
	free(w->data);
	free(w);
}

int raid_wlog_load(const char *log, struct raid_wlog **out)
{
	struct raid_wlog *w = calloc(1, sizeof(*w));
	struct stat st;
	size_t pos = 0;
	long cap = 0;
	int fd, ret = 0;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		ret = -errno;
		goto err;
	}
	w->size = (size_t)st.st_size;
	if (w->size) {
		w->map = mmap(NULL, w->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (w->map == MAP_FAILED) {
			ret = -errno;
			goto err;
		}
	}
	while (pos < w->size) {
		struct wlog_rec r;
		uint64_t len;

		if (w->size - pos < sizeof(r)) {
			ret = -EBADMSG;
			goto err;
		}
		memcpy(&r, w->map + pos, sizeof(r));
		len = le64toh(r.len);
		if (le32toh(r.magic) != WLOG_MAGIC ||
		    (le32toh(r.type) != WLOG_WRITE && le32toh(r.type) != WLOG_FLUSH) ||
		    len > w->size - pos - sizeof(r) ||
		    (len ? (uint32_t)crc32(crc32(0L, Z_NULL, 0), w->map + pos + sizeof(r), (uInt)len) : 0) !=
		    le32toh(r.crc)) {
			ret = -EBADMSG;
			goto err;
		}
		if (w->nrec == cap) {
			long nc = cap ? cap * 2 : 1024;
			struct raid_wlog_info *ni = realloc(w->rec, (size_t)nc * sizeof(*ni));
			const uint8_t **nd;

			if (!ni) {
				ret = -ENOMEM;
				goto err;
			}
			w->rec = ni;
			nd = realloc(w->data, (size_t)nc * sizeof(*nd));
			if (!nd) {
				ret = -ENOMEM;
				goto err;
			}
			w->data = nd;
			cap = nc;
		}
		w->rec[w->nrec] = (struct raid_wlog_info){
			le32toh(r.type) == WLOG_WRITE ? RAID_WLOG_WRITE : RAID_WLOG_FLUSH,
			(int)le32toh(r.comp), le64toh(r.off), len, (uint64_t)pos };
		w->data[w->nrec] = w->map + pos + sizeof(r);
		w->nrec++;
		pos += sizeof(r) + len;
	}
	close(fd);
	*out = w;
	return 0;
err:
	if (fd >= 0)
		close(fd);
	wlog_free_idx(w);
	return ret;
}

void raid_wlog_free(struct raid_wlog *w)
{
	if (w)
		wlog_free_idx(w);
}

long raid_wlog_records(const struct raid_wlog *w) { return w->nrec; }

const struct raid_wlog_info *raid_wlog_record(const struct raid_wlog *w, long i)
{
	return i >= 0 && i < w->nrec ? &w->rec[i] : NULL;
}

long raid_wlog_record_at(const struct raid_wlog *w, uint64_t byte_pos)
{
	long lo = 0, hi = w->nrec;

	/* records wholly below byte_pos had been appended then */
	while (lo < hi) {
		long mid = lo + (hi - lo) / 2;

		if (w->rec[mid].wi_pos + sizeof(struct wlog_rec) + w->rec[mid].wi_len <= byte_pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

long raid_wlog_last_flush(const struct raid_wlog *w, int comp, long upto)
{
	long i;

	if (upto > w->nrec)
		upto = w->nrec;
	for (i = upto - 1; i >= 0; i--)
		if (w->rec[i].wi_type == RAID_WLOG_FLUSH && w->rec[i].wi_comp == comp)
			return i;
	return -1;
}

static int put(const struct raid_wlog *w, int fd, long i, uint64_t len)
{
	ssize_t n = pwrite(fd, w->data[i], len, (off_t)w->rec[i].wi_off);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

int raid_wlog_apply(const struct raid_wlog *w, int comp, int fd, long from, long to)
{
	int n = 0, ret;
	long i;

	if (from < 0 || to > w->nrec || from > to)
		return -EINVAL;
	for (i = from; i < to; i++) {
		if (w->rec[i].wi_type != RAID_WLOG_WRITE || w->rec[i].wi_comp != comp)
			continue;
		ret = put(w, fd, i, w->rec[i].wi_len);
		if (ret)
			return ret;
		n++;
	}
	return n;
}

/* splitmix64: small, seedable, good enough to pick subsets and orders. */
static uint64_t prng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int raid_wlog_apply_tail(const struct raid_wlog *w, int comp, int fd, long upto,
			 uint64_t drop_mask, uint64_t seed)
{
	long first, i, *pick = NULL;
	uint64_t s = seed, drop_pct = 0;
	int n = 0, k = 0, tear = 0, ret = 0, j;

	if (upto < 0 || upto > w->nrec)
		return -EINVAL;
	first = raid_wlog_last_flush(w, comp, upto) + 1;
	if (seed) {
		uint64_t mode = prng(&s);

		drop_pct = (mode & 3) * 25;      /* 0, 25, 50 or 75 % of the writes lost */
		tear = (mode >> 2 & 3) == 3;     /* a quarter of the seeds tear writes too */
	}
	pick = malloc((size_t)(upto - first + 1) * sizeof(*pick));
	if (!pick)
		return -ENOMEM;
	for (i = first; i < upto; i++) {
		if (w->rec[i].wi_type != RAID_WLOG_WRITE || w->rec[i].wi_comp != comp)
			continue;
		if (!seed ? (k < 64 && (drop_mask >> k) & 1) : prng(&s) % 100 < drop_pct) {
			k++;
			continue;   /* not durable at the crash */
		}
		k++;
		pick[n++] = i;
	}
	/* the device may have made the survivors durable in any order: a later
	 * write to a block can be overtaken by an earlier one (Fisher-Yates) */
	for (j = n - 1; seed && j > 0; j--) {
		int o = (int)(prng(&s) % (uint64_t)(j + 1));
		long t = pick[j];

		pick[j] = pick[o];
		pick[o] = t;
	}
	for (j = 0; j < n && !ret; j++) {
		uint64_t len = w->rec[pick[j]].wi_len;

		/* a torn write keeps a prefix of whole 4 KiB sectors */
		if (tear && len > 4096 && prng(&s) % 4 == 0)
			len = (prng(&s) % (len / 4096)) * 4096;
		ret = len ? put(w, fd, pick[j], len) : 0;
	}
	free(pick);
	return ret ? ret : n;
}

/* ---- file-level helpers (the wlog CLI, simple tests) --------------------------- */

int raid_wlog_replay_seed(const char *log, int comp, const char *image, long upto,
			  uint64_t drop_mask, uint64_t seed)
{
	struct raid_wlog *w;
	long flushed;
	int fd, a, b, ret;

	ret = raid_wlog_load(log, &w);
	if (ret)
		return ret;
	if (upto > w->nrec)
		upto = w->nrec;
	fd = open(image, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	flushed = raid_wlog_last_flush(w, comp, upto) + 1;
	a = raid_wlog_apply(w, comp, fd, 0, flushed);
	b = a < 0 ? a : raid_wlog_apply_tail(w, comp, fd, upto < 0 ? 0 : upto, drop_mask, seed);
	ret = a < 0 ? a : b < 0 ? b : a + b;
	if (fsync(fd) != 0 && ret >= 0)
		ret = -errno;
	close(fd);
out:
	raid_wlog_free(w);
	return ret;
}

int raid_wlog_replay(const char *log, int comp, const char *image, long upto, uint64_t drop_mask)
{
	return raid_wlog_replay_seed(log, comp, image, upto, drop_mask, 0);
}

int raid_wlog_count(const char *log, long *records, long *flushes)
{
	struct raid_wlog *w;
	long i;
	int ret = raid_wlog_load(log, &w);

	if (ret)
		return ret;
	*records = w->nrec;
	*flushes = 0;
	for (i = 0; i < w->nrec; i++)
		*flushes += w->rec[i].wi_type == RAID_WLOG_FLUSH;
	raid_wlog_free(w);
	return 0;
}

int raid_wlog_flush_points(const char *log, int comp, long *idx, int max)
{
	struct raid_wlog *w;
	long i;
	int n = 0, ret = raid_wlog_load(log, &w);

	if (ret)
		return ret;
	for (i = 0; i < w->nrec; i++)
		if (w->rec[i].wi_type == RAID_WLOG_FLUSH && w->rec[i].wi_comp == comp && n < max)
			idx[n++] = i;
	raid_wlog_free(w);
	return n;
}
