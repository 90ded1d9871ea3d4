/*
 * file_space.c — changes of a file's allocated space: truncate, punch
 * (FALLOC_FL_PUNCH_HOLE, ZERO_RANGE), fallocate (unwritten records) and
 * SEEK_DATA / SEEK_HOLE, on the record layer of block.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include "fs/block.h"

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
	if (r.flags & HFS_DATAF_ZERO)
		return 0;   /* unwritten: its tail reads as zeros already */
	if (rec_pieces(&r))
		return pieces_punch(fs, ip, fbo, &r, from, HFS_FBLOCK);   /* frees the pieces past it */
	if (posix_memalign((void **)&scratch, 4096, HFS_FBLOCK))
		return -ENOMEM;
	ret = block_read(fs, ip->ino, fbo, &r, scratch);
	if (!ret) {
		keep = (from + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE;
		memset(scratch + from, 0, keep - from);
		ret = block_store(fs, ip, fbo, scratch, keep, &r);
	}
	free(scratch);
	return ret;
}

/* Drop the blocks with fbo in [lo, hi), highest first; after every 32 the
 * size is cut to the last dropped block and the inode stored, then a flush
 * may come (rule 2): a crash leaves a prefix of the file, never a file of
 * the old size with blocks missing.  *n counts drops across calls. */
static int drop_range(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t lo, uint64_t hi, int *n,
		      int *found)
{
	struct hfs_key from = hfs_mkkey(ip->ino, HFS_REC_DATA, lo), to, k;
	uint64_t *fbo = NULL;
	int cnt = 0, cap = 0, ret, i;

	to = hfs_mkkey(ip->ino, HFS_REC_DATA, hi - 1);
	while ((ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL)) == 0) {
		if (cnt == cap) {
			uint64_t *nf = realloc(fbo, (size_t)(cap = cap ? cap * 2 : 32) * sizeof(*nf));

			if (!nf) {
				free(fbo);
				return -ENOMEM;
			}
			fbo = nf;
		}
		fbo[cnt++] = k.key;
		from = hfs_mkkey(ip->ino, HFS_REC_DATA, k.key + 1);
	}
	*found = cnt;
	if (ret != -ENOENT) {
		free(fbo);
		return ret;
	}
	for (i = cnt - 1, ret = 0; i >= 0 && !ret; i--) {
		struct rec r;

		ret = rec_get(fs, ip->ino, fbo[i], &r);
		if (!ret)
			ret = block_drop(fs, ip, fbo[i], &r);
		if (!ret && ++*n % 32 == 0) {
			if (fbo[i] < ip->size)
				ip->size = fbo[i];   /* everything from here on is gone */
			ret = hfs_inode_step(fs, ip);
		}
	}
	free(fbo);
	return ret;
}

int hfs_file_truncate(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t size)
{
	int ret = 0, n = 0;

	if (size > HFS_MAX_FILE_SIZE)
		return -EFBIG;
	ret = hfs_held_before(fs, ip, 0, 0, (int64_t)size);
	if (ret)
		return ret;
	if (size <= ip->size) {
		/* also at the same size: records past EOF (fallocate KEEP_SIZE)
		 * go, as on Linux filesystems, and destroy (size 0) frees them */
		uint64_t first = (size + HFS_FBLOCK - 1) / HFS_FBLOCK * HFS_FBLOCK;
		uint64_t hi = (ip->size + HFS_FBLOCK - 1) / HFS_FBLOCK * HFS_FBLOCK;
		uint64_t span = 32ull * HFS_FBLOCK;
		int found = 0;

		/* blocks past the size first (invisible), then whole blocks from
		 * the end backwards, a window at a time; an empty window doubles
		 * the next (sparse files) */
		ret = drop_range(fs, ip, hi, UINT64_MAX, &n, &found);
		if (ret)
			return ret;
		while (hi > first) {
			uint64_t lo = hi - first > span ? hi - span : first;

			ret = drop_range(fs, ip, lo, hi, &n, &found);
			if (ret)
				return ret;
			span = found ? 32ull * HFS_FBLOCK : span < (1ull << 50) ? span * 2 : span;
			hi = lo;
		}
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

/* Does block range [s, e) cover a whole 4 KiB piece? */
static int whole_piece(uint64_t s, uint64_t e)
{
	return (e - e % HFS_BLKSIZE) > (s + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE;
}

/* Punch [off, end): whole blocks go; whole 4 KiB pieces inside a block
 * are freed (the block becomes a pieces record, pieces.c); the rest of a
 * partial block is rewritten with zeros. */
static int file_punch(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t off, uint64_t end)
{
	uint64_t fbo;
	int ret;

	/* walk the records that exist (a hole has none), also those past
	 * EOF that KEEP_SIZE preallocated: a range of any length costs
	 * only what is stored in it */
	struct hfs_key from = hfs_mkkey(ip->ino, HFS_REC_DATA, off - off % HFS_FBLOCK);
	struct hfs_key to = hfs_mkkey(ip->ino, HFS_REC_DATA, end - 1), k;
	int n = 0;

	for (;;) {
		uint64_t s, e;
		struct rec r;

		/* bounded steps (rule 2): the caller's hfs_op_begin covers 32
		 * records; the inode (i_blocks) is stored before the next
		 * hfs_op_begin, which may commit, and loaded again after it */
		if (n && n % 32 == 0) {
			ret = hfs_inode_step(fs, ip);
			if (ret)
				return ret;
		}
		ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL);
		if (ret)
			break;
		n++;
		fbo = k.key;
		s = fbo > off ? fbo : off;
		e = fbo + HFS_FBLOCK < end ? fbo + HFS_FBLOCK : end;
		ret = rec_get(fs, ip->ino, fbo, &r);
		if (ret)
			return ret;
		if (r.present && s == fbo && (e == fbo + HFS_FBLOCK || e >= fbo + r.len)) {
			ret = block_drop(fs, ip, fbo, &r);
		} else if (r.present && s - fbo < r.len && !(r.flags & HFS_DATAF_ZERO) &&
			   (rec_pieces(&r) || whole_piece(s - fbo, min_u64(e - fbo, r.len)))) {
			/* whole 4 KiB pieces: freed, the block kept as pieces */
			ret = pieces_punch(fs, ip, fbo, &r, (uint32_t)(s - fbo),
					   (uint32_t)min_u64(e - fbo, r.len));
		} else if (r.present && s - fbo < r.len && !(r.flags & HFS_DATAF_ZERO)) {
			/* (an unwritten block reads as zeros already) */
			uint8_t *scratch;

			if (posix_memalign((void **)&scratch, 4096, HFS_FBLOCK))
				return -ENOMEM;
			ret = block_read(fs, ip->ino, fbo, &r, scratch);
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
	int ret = 0;

	if (off >= HFS_MAX_FILE_SIZE || len > HFS_MAX_FILE_SIZE - off)
		return -EFBIG;
	end = off + len;
	ret = hfs_held_before(fs, ip, off, end, -1);
	if (ret)
		return ret;
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
	/* allocate: holes in range get unwritten records (no data written) */
	for (fbo = off - off % HFS_FBLOCK; fbo < end; fbo += HFS_FBLOCK) {
		struct rec r;

		/* as for punching: a step stores the inode, may commit, loads
		 * it again (the size is set only at the end: a crash keeps the
		 * old size and at most some zeroed blocks past it) */
		ret = 0;
		if (fbo > off - off % HFS_FBLOCK && (fbo / HFS_FBLOCK) % 32 == 0)
			ret = hfs_inode_step(fs, ip);
		if (!ret)
			ret = rec_get(fs, ip->ino, fbo, &r);
		if (ret)
			break;
		if (rec_pieces(&r)) {
			ret = pieces_fill(fs, ip, fbo, &r);   /* its holes need space too */
			if (ret)
				break;
			continue;
		}
		if (r.present)
			continue;
		ret = block_prealloc(fs, ip, fbo);
		if (ret)
			break;
	}
	if (!ret && !(mode & FALLOC_FL_KEEP_SIZE) && end > ip->size)
		ip->size = end;
	if (!ret) {
		hfs_now(&ip->ctime);
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			ip->mtime = ip->ctime;   /* as ext4 (and the kernel's cached times) */
	}
	return ret;
}

/* SEEK_DATA from *pos in the record of file block fbo.  Bytes of the block
 * past the record's stored length read as zero: a hole.  And a write that
 * starts inside a fresh file block stores the block from its start, the
 * bytes before the write as zeros (stored bytes always begin at the block
 * start), so those 4 KiB blocks are holes to the writer: skip the
 * record's zero blocks from *pos on.  Bounded: this one record (at most
 * HFS_FBLOCK bytes read); if nothing stored past *pos is nonzero, *pos
 * stays (zeros may be reported as data).  Returns 1 when *pos is data, 0
 * when the block has none at or past *pos, or -errno. */
static int seek_data_in(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, uint64_t *pos)
{
	uint64_t p = *pos - *pos % HFS_BLKSIZE, end;
	uint8_t *buf;
	struct rec r;
	int ret = rec_get(fs, ip->ino, fbo, &r);

	if (ret)
		return ret;
	end = fbo + r.len;
	if (r.present && rec_pieces(&r)) {
		unsigned q = NPIECE, f;

		while (q && !r.paddr[q - 1])
			q--;
		end = fbo + q * HFS_BLKSIZE;
		/* *pos must not stay in a hole piece, which SEEK_HOLE reports as
		 * a hole: that pair sent cp into an endless loop (generic/251) */
		for (f = (unsigned)((*pos - fbo) / HFS_BLKSIZE); f < q && !r.paddr[f]; f++)
			;
		if (f >= q)
			return 0;
		if (fbo + f * HFS_BLKSIZE > *pos)
			*pos = fbo + f * HFS_BLKSIZE;
		p = *pos - *pos % HFS_BLKSIZE;
	}
	if (!r.present || *pos >= end)
		return 0;
	buf = malloc(HFS_BLKSIZE);
	if (!buf)
		return 1;
	for (; p < end && p < ip->size; p += HFS_BLKSIZE) {
		ssize_t n = hfs_file_read(fs, ip, buf, HFS_BLKSIZE, p), i;

		if (n <= 0)
			break;      /* a read error: *pos is still a right answer */
		for (i = 0; i < n && !buf[i]; i++)
			;
		if (i < n) {
			if (p > *pos)
				*pos = p;
			break;
		}
	}
	free(buf);
	return 1;
}

int hfs_file_seek(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t off, int whence, uint64_t *out)
{
	uint64_t fbo = off - off % HFS_FBLOCK;
	int hret = hfs_held_before(fs, ip, off, UINT64_MAX, -1);

	if (hret)
		return hret;
	if (off >= ip->size)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		struct hfs_key from = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
		struct hfs_key to = hfs_mkkey(ip->ino, HFS_REC_DATA, UINT64_MAX), k;

		for (;;) {
			int ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL);

			if (ret == -ENOENT || (ret == 0 && k.key >= ip->size))
				return -ENXIO;
			if (ret)
				return ret;
			*out = k.key > off ? k.key : off;
			ret = seek_data_in(fs, ip, k.key, out);
			if (ret)
				return ret < 0 ? ret : *out < ip->size ? 0 : -ENXIO;
			from.key = k.key + HFS_FBLOCK;
		}
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
			if (rec_pieces(&r)) {
				unsigned q;

				/* the first hole piece that ends past off */
				for (q = 0; q < NPIECE; q++)
					if (!r.paddr[q] && fbo + (q + 1) * HFS_BLKSIZE > off) {
						uint64_t h = fbo + q * HFS_BLKSIZE;

						*out = h < off ? off : h >= ip->size ? ip->size : h;
						return 0;
					}
				continue;
			}
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

