/*
 * file.c — file data: one DATA record per 64 KiB file block (holes have
 * none), always copy-on-write (crash rule 3 in hfs_int.h).
 *
 * A write of a whole block goes to a LARGE-zone extent through
 * bc_direct_write (no copy into the cache); a partial block is merged
 * with the old block in a scratch buffer and stored in a SMALL-zone
 * extent through DATA buffers when it is shorter than a block.  Every
 * record carries the crc32 of its bytes; a read verifies it and tries the
 * other copies before failing with -EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fs/hfs_int.h"

struct rec {
	int present;
	uint64_t addr;
	uint32_t len, crc, flags;
};

static int rec_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_DATA, fbo);
	struct hfs_data_ondisk d;
	size_t len;
	int ret = hfs_bt_lookup(fs, &k, &d, sizeof(d), &len);

	memset(r, 0, sizeof(*r));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	r->addr = hfs_le64(d.d_addr);
	r->len = hfs_le32(d.d_len);
	r->crc = hfs_le32(d.d_crc);
	r->flags = hfs_le32(d.d_flags);
	if (len != sizeof(d) || !r->len || r->len > HFS_FBLOCK || r->len % HFS_BLKSIZE ||
	    (hfs_zone_of(r->addr) != HFS_ZONE_SMALL && hfs_zone_of(r->addr) != HFS_ZONE_LARGE) ||
	    hfs_raw(r->addr) % HFS_BLKSIZE || hfs_raw(r->addr) + r->len > hfs_le64(fs->vh.vh_size))
		return HFS_CORRUPT("DATA record of inode %llu at %llu is invalid",
				   (unsigned long long)ino, (unsigned long long)fbo);
	r->present = 1;
	return 0;
}

static uint32_t crc_of(const void *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

/* Read a SMALL extent through DATA buffers. */
static int small_read(struct hfs_fs *fs, uint64_t raw, uint8_t *out, uint32_t len)
{
	while (len) {
		uint64_t boff = raw - raw % BC_BUFSIZE, in = raw - boff, n = BC_BUFSIZE - in;
		struct bc_buf *b;
		int ret;

		if (n > len)
			n = len;
		ret = bc_get(fs->bc, BC_DATA, boff, 0, &b);
		if (ret)
			return ret;
		memcpy(out, b->b_data + in, n);
		bc_put(b);
		out += n;
		raw += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int small_write(struct hfs_fs *fs, uint64_t raw, const uint8_t *src, uint32_t len)
{
	while (len) {
		uint64_t boff = raw - raw % BC_BUFSIZE, in = raw - boff, n = BC_BUFSIZE - in;
		struct bc_buf *b;
		int ret;

		if (n > len)
			n = len;
		/* a buffer this extent covers completely need not be read */
		ret = bc_get(fs->bc, BC_DATA, boff, in == 0 && n == BC_BUFSIZE ? BC_GET_NEW : 0, &b);
		if (ret)
			return ret;
		ret = bc_modify(b);
		if (!ret) {
			memcpy(b->b_data + in, src, n);
			bc_modify_done(b);
		}
		bc_put(b);
		if (ret)
			return ret;
		src += n;
		raw += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int crc_verify(void *priv, const void *buf, size_t len)
{
	return crc_of(buf, (uint32_t)len) == *(const uint32_t *)priv ? 0 : -EBADMSG;
}

/* Read record r's bytes into out (r->len bytes), verifying the CRC; on a
 * mismatch the self-healing read finds a good copy and rewrites the bad. */
static int rec_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	uint64_t raw = hfs_raw(r->addr);
	uint32_t crc = r->crc;
	int ret;

	if (hfs_zone_of(r->addr) == HFS_ZONE_LARGE)
		ret = bc_direct_read(fs->bc, raw, out, r->len, -1);
	else
		ret = small_read(fs, raw, out, r->len);
	if (!ret && crc_of(out, r->len) == r->crc)
		return 0;
	/* we saw a bad copy but not which: check them all */
	ret = bc_read_verified(fs->bc, raw, out, r->len, crc_verify, &crc, RAID_RV_ALL);
	if (ret > 0)
		HFS_WARN("inode %llu offset %llu: bad data on %d cop%s, repaired from a good one",
			 (unsigned long long)ino, (unsigned long long)fbo, ret, ret > 1 ? "ies" : "y");
	if (ret >= 0)
		return 0;
	HFS_ERR("inode %llu offset %llu: data CRC mismatch on every copy",
		(unsigned long long)ino, (unsigned long long)fbo);
	return -EIO;
}

/* Completion counting for direct writes: one or a batch. */
#define BATCH_MAX 32
struct batch_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int left, err;
};

static void batch_done(void *priv, int err)
{
	struct batch_wait *w = priv;

	pthread_mutex_lock(&w->m);
	if (err && !w->err)
		w->err = err;
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

/* Store block fbo's new contents (data, len bytes: multiple of 4 KiB, or
 * a full block) in fresh space and point the record at it; free the old. */
static int block_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		       uint32_t len, const struct rec *old)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_data_ondisk d;
	enum hfs_zone z = len == HFS_FBLOCK ? HFS_ZONE_LARGE : HFS_ZONE_SMALL;
	uint64_t za;
	int ret = hfs_alloc(fs, z, len, &za);

	if (ret)
		return ret;
	if (z == HFS_ZONE_LARGE) {
		struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0 };

		ret = bc_direct_write(fs->bc, hfs_raw(za), data, len, batch_done, &w);
		if (!ret) {
			/* the caller's buffer must outlive the write */
			pthread_mutex_lock(&w.m);
			while (w.left)
				pthread_cond_wait(&w.cv, &w.m);
			pthread_mutex_unlock(&w.m);
			ret = w.err;
		}
	} else {
		ret = small_write(fs, hfs_raw(za), data, len);
	}
	if (ret)
		goto err_free;
	memset(&d, 0, sizeof(d));
	d.d_addr = hfs_tole64(za);
	d.d_len = hfs_tole32(len);
	d.d_crc = hfs_tole32(crc_of(data, len));
	ret = old->present ? hfs_bt_update(fs, &k, &d, sizeof(d)) : hfs_bt_insert(fs, &k, &d, sizeof(d));
	if (ret)
		goto err_free;
	if (old->present) {
		ret = hfs_free(fs, old->addr, old->len);
		ip->blocks -= old->len / 512;
	}
	ip->blocks += len / 512;
	return ret;
err_free:
	hfs_free(fs, za, len);
	return ret;
}

static int block_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	int ret = hfs_bt_delete(fs, &k);

	if (!ret)
		ret = hfs_free(fs, r->addr, r->len);
	if (!ret)
		ip->blocks -= r->len / 512;
	return ret;
}

ssize_t hfs_file_read(struct hfs_fs *fs, struct hfs_inode *ip, void *buf, size_t len, uint64_t off)
{
	uint8_t *out = buf, *scratch = NULL;
	size_t done = 0;
	int ret = 0;

	if (off >= ip->size)
		return 0;
	if (len > ip->size - off)
		len = (size_t)(ip->size - off);
	while (done < len) {
		uint64_t pos = off + done, fbo = pos - pos % HFS_FBLOCK, in = pos - fbo;
		size_t n = HFS_FBLOCK - in;
		struct rec r;

		if (n > len - done)
			n = len - done;
		ret = rec_get(fs, ip->ino, fbo, &r);
		if (ret)
			break;
		if (!r.present || in >= r.len) {
			memset(out + done, 0, n);
		} else {
			if (!scratch && posix_memalign((void **)&scratch, 4096, HFS_FBLOCK)) {
				ret = -ENOMEM;
				break;
			}
			ret = rec_read(fs, ip->ino, fbo, &r, scratch);
			if (ret)
				break;
			memset(scratch + r.len, 0, HFS_FBLOCK - r.len);
			memcpy(out + done, scratch + in, n);
		}
		done += n;
	}
	free(scratch);
	/* An error after some blocks is the error, not a short count: FUSE
	 * takes a short read for the end of the file and zero-fills the rest
	 * of the pages, so a block no copy can serve would read as zeros
	 * (wrong data) instead of EIO (tests/mount/t_raid_fault.sh). */
	return ret ? ret : (ssize_t)done;
}

/* Whole aligned blocks of one request: allocate and submit every direct
 * write at once (the device works on them in parallel), wait for all the
 * completion callbacks, then point the records at the new extents.  On an
 * error nothing of the batch is referenced and its space is freed. */
static int write_full_blocks(struct hfs_fs *fs, struct hfs_inode *ip, const uint8_t *src,
			     uint64_t fbo0, int nblk)
{
	struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct rec old[BATCH_MAX];
	uint64_t za[BATCH_MAX];
	int i, issued = 0, ret = 0;

	for (i = 0; i < nblk && !ret; i++) {
		ret = rec_get(fs, ip->ino, fbo0 + (uint64_t)i * HFS_FBLOCK, &old[i]);
		if (!ret)
			ret = hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &za[i]);
		if (ret)
			break;
		pthread_mutex_lock(&w.m);
		w.left++;
		pthread_mutex_unlock(&w.m);
		ret = bc_direct_write(fs->bc, hfs_raw(za[i]), src + (size_t)i * HFS_FBLOCK, HFS_FBLOCK,
				      batch_done, &w);
		if (ret) {
			pthread_mutex_lock(&w.m);
			w.left--;
			pthread_mutex_unlock(&w.m);
			hfs_free(fs, za[i], HFS_FBLOCK);
			break;
		}
		issued++;
	}
	/* the caller's buffer must outlive every write of the batch */
	pthread_mutex_lock(&w.m);
	while (w.left)
		pthread_cond_wait(&w.cv, &w.m);
	pthread_mutex_unlock(&w.m);
	if (!ret)
		ret = w.err;
	for (i = 0; i < issued; i++) {
		struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo0 + (uint64_t)i * HFS_FBLOCK);
		struct hfs_data_ondisk d;

		if (ret) {
			hfs_free(fs, za[i], HFS_FBLOCK);
			continue;
		}
		memset(&d, 0, sizeof(d));
		d.d_addr = hfs_tole64(za[i]);
		d.d_len = hfs_tole32(HFS_FBLOCK);
		d.d_crc = hfs_tole32(crc_of(src + (size_t)i * HFS_FBLOCK, HFS_FBLOCK));
		ret = old[i].present ? hfs_bt_update(fs, &k, &d, sizeof(d)) : hfs_bt_insert(fs, &k, &d, sizeof(d));
		if (ret) {
			hfs_free(fs, za[i], HFS_FBLOCK);
			continue;
		}
		if (old[i].present) {
			ret = hfs_free(fs, old[i].addr, old[i].len);
			ip->blocks -= old[i].len / 512;
		}
		ip->blocks += HFS_FBLOCK / 512;
	}
	return ret;
}

ssize_t hfs_file_write(struct hfs_fs *fs, struct hfs_inode *ip, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *src = buf;
	uint8_t *scratch = NULL;
	size_t done = 0;
	int ret = 0;

	if (off >= HFS_MAX_FILE_SIZE || len > HFS_MAX_FILE_SIZE - off)
		return -EFBIG;
	while (done < len) {
		uint64_t pos = off + done, fbo = pos - pos % HFS_FBLOCK, in = pos - fbo;
		size_t n = HFS_FBLOCK - in;
		struct rec r;
		uint32_t keep;

		if (n > len - done)
			n = len - done;
		if (in == 0 && n == HFS_FBLOCK) {
			/* whole blocks: straight from the caller's buffer, as a batch */
			int nb = (int)((len - done) / HFS_FBLOCK);

			if (nb > BATCH_MAX)
				nb = BATCH_MAX;
			ret = write_full_blocks(fs, ip, src + done, fbo, nb);
			if (ret)
				break;
			done += (size_t)nb * HFS_FBLOCK;
			if (off + done > ip->size)
				ip->size = off + done;
			continue;
		} else {
			ret = rec_get(fs, ip->ino, fbo, &r);
			if (ret)
				break;
			if (!scratch && posix_memalign((void **)&scratch, 4096, HFS_FBLOCK)) {
				ret = -ENOMEM;
				break;
			}
			memset(scratch, 0, HFS_FBLOCK);
			if (r.present) {
				ret = rec_read(fs, ip->ino, fbo, &r, scratch);
				if (ret)
					break;
			}
			memcpy(scratch + in, src + done, n);
			keep = (uint32_t)((in + n + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE);
			if (r.present && r.len > keep)
				keep = r.len;
			ret = block_store(fs, ip, fbo, scratch, keep, &r);
		}
		if (ret)
			break;
		done += n;
		if (off + done > ip->size)
			ip->size = off + done;
	}
	free(scratch);
	if (done) {
		hfs_now(&ip->mtime);
		ip->ctime = ip->mtime;
	}
	return done ? (ssize_t)done : ret;
}

/* Zero the bytes of block fbo from 'from' on (copy-on-write). */
static int block_zero_tail(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, uint32_t from)
{
	uint8_t *scratch;
	struct rec r;
	uint32_t keep;
	int ret = rec_get(fs, ip->ino, fbo, &r);

	if (ret || !r.present || r.len <= from)
		return ret;
	if (from == 0)
		return block_drop(fs, ip, fbo, &r);
	if (posix_memalign((void **)&scratch, 4096, HFS_FBLOCK))
		return -ENOMEM;
	ret = rec_read(fs, ip->ino, fbo, &r, scratch);
	if (!ret) {
		keep = (from + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE;
		memset(scratch + from, 0, keep - from);
		ret = block_store(fs, ip, fbo, scratch, keep, &r);
	}
	free(scratch);
	return ret;
}

int hfs_file_truncate(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t size)
{
	struct hfs_key from, to, k;
	int ret = 0, n = 0;

	if (size > HFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (size <= ip->size) {
		/* also at the same size: records past EOF (fallocate KEEP_SIZE)
		 * go, as on Linux filesystems, and destroy (size 0) frees them */
		uint64_t first = (size + HFS_FBLOCK - 1) / HFS_FBLOCK * HFS_FBLOCK;

		/* whole blocks from the end backwards, in bounded steps: after each
		 * step the inode's size covers exactly what is left (rule 2) */
		from = hfs_mkkey(ip->ino, HFS_REC_DATA, first);
		to = hfs_mkkey(ip->ino, HFS_REC_DATA, UINT64_MAX);
		while ((ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL)) == 0) {
			struct rec r;

			ret = rec_get(fs, ip->ino, k.key, &r);
			if (!ret)
				ret = block_drop(fs, ip, k.key, &r);
			if (ret)
				return ret;
			if (++n % 32 == 0) {
				ret = hfs_inode_store(fs, ip);
				if (!ret)
					ret = hfs_op_begin(fs);
				if (ret)
					return ret;
			}
		}
		if (ret != -ENOENT)
			return ret;
		if (size < ip->size && size % HFS_FBLOCK) {
			ret = block_zero_tail(fs, ip, size - size % HFS_FBLOCK, (uint32_t)(size % HFS_FBLOCK));
			if (ret)
				return ret;
		}
	}
	if (size != ip->size) {
		/* the same size changes no times (the kernel shows none either) */
		hfs_now(&ip->mtime);
		ip->ctime = ip->mtime;
	}
	ip->size = size;
	return 0;
}

/* Punch [off, end): whole blocks go, partial ones are rewritten with zeros. */
static int file_punch(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t off, uint64_t end)
{
	uint64_t fbo;
	int ret;

	/* walk the records that exist (a hole has none), also those past
	 * EOF that KEEP_SIZE preallocated: a range of any length costs
	 * only what is stored in it */
	struct hfs_key from = hfs_mkkey(ip->ino, HFS_REC_DATA, off - off % HFS_FBLOCK);
	struct hfs_key to = hfs_mkkey(ip->ino, HFS_REC_DATA, end - 1), k;

	while (!(ret = hfs_op_begin(fs)) &&
	       !(ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL))) {
		uint64_t s, e;
		struct rec r;

		fbo = k.key;
		s = fbo > off ? fbo : off;
		e = fbo + HFS_FBLOCK < end ? fbo + HFS_FBLOCK : end;
		ret = rec_get(fs, ip->ino, fbo, &r);
		if (ret)
			return ret;
		if (r.present && s == fbo && (e == fbo + HFS_FBLOCK || e >= fbo + r.len)) {
			ret = block_drop(fs, ip, fbo, &r);
		} else if (r.present && s - fbo < r.len) {
			uint8_t *scratch;

			if (posix_memalign((void **)&scratch, 4096, HFS_FBLOCK))
				return -ENOMEM;
			ret = rec_read(fs, ip->ino, fbo, &r, scratch);
			if (!ret) {
				uint64_t ze = e - fbo < r.len ? e - fbo : r.len;

				memset(scratch + (s - fbo), 0, ze - (s - fbo));
				ret = block_store(fs, ip, fbo, scratch, r.len, &r);
			}
			free(scratch);
		}
		if (ret)
			return ret;
		if (fbo + HFS_FBLOCK >= end)
			break;
		from = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo + HFS_FBLOCK);
	}
	if (ret == -ENOENT)
		ret = 0;
	if (!ret)
		hfs_now(&ip->mtime), ip->ctime = ip->mtime;
	return ret;
}

int hfs_file_fallocate(struct hfs_fs *fs, struct hfs_inode *ip, int mode, uint64_t off, uint64_t len)
{
	uint64_t end, fbo;
	uint8_t *zero = NULL;
	int ret = 0;

	if (off >= HFS_MAX_FILE_SIZE || len > HFS_MAX_FILE_SIZE - off)
		return -EFBIG;
	end = off + len;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		return file_punch(fs, ip, off, end);
	if (mode & FALLOC_FL_ZERO_RANGE) {
		/* zero range = punch, then allocate what is now a hole */
		if (mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE))
			return -EOPNOTSUPP;
		ret = file_punch(fs, ip, off, end);
		if (ret)
			return ret;
		mode &= FALLOC_FL_KEEP_SIZE;
	}
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	/* allocate: holes in range get zeroed blocks (no unwritten extents yet) */
	for (fbo = off - off % HFS_FBLOCK; fbo < end; fbo += HFS_FBLOCK) {
		struct rec r;

		ret = hfs_op_begin(fs);
		if (!ret)
			ret = rec_get(fs, ip->ino, fbo, &r);
		if (ret)
			break;
		if (r.present)
			continue;
		if (!zero) {
			if (posix_memalign((void **)&zero, 4096, HFS_FBLOCK)) {
				ret = -ENOMEM;
				break;
			}
			memset(zero, 0, HFS_FBLOCK);
		}
		ret = block_store(fs, ip, fbo, zero, HFS_FBLOCK, &r);
		if (ret)
			break;
	}
	free(zero);
	if (!ret && !(mode & FALLOC_FL_KEEP_SIZE) && end > ip->size)
		ip->size = end;
	if (!ret) {
		hfs_now(&ip->ctime);
	}
	return ret;
}

int hfs_file_seek(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t off, int whence, uint64_t *out)
{
	uint64_t fbo = off - off % HFS_FBLOCK;

	if (off >= ip->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		struct hfs_key from = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
		struct hfs_key to = hfs_mkkey(ip->ino, HFS_REC_DATA, UINT64_MAX), k;
		int ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL);

		if (ret == -ENOENT || (ret == 0 && k.key >= ip->size))
			return -ENXIO;
		if (ret)
			return ret;
		*out = k.key > off ? k.key : off;
		return 0;
	}
	if (whence == SEEK_HOLE) {
		for (;; fbo += HFS_FBLOCK) {
			struct rec r;
			int ret;

			if (fbo >= ip->size) {
				*out = ip->size;
				return 0;
			}
			ret = rec_get(fs, ip->ino, fbo, &r);
			if (ret)
				return ret;
			if (!r.present || r.len < HFS_FBLOCK) {
				uint64_t h = r.present ? fbo + r.len : fbo;

				if (h < off)
					h = off;
				if (h >= ip->size)
					h = ip->size;
				if (!r.present || h < fbo + HFS_FBLOCK) {
					*out = h;
					return 0;
				}
			}
		}
	}
	return -EINVAL;
}
