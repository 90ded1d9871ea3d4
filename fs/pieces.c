/*
 * pieces.c — file blocks stored as 4 KiB pieces (DATA records with
 * HFS_DATAF_PIECES, docs/FORMAT.md §5, minor 6).
 *
 * A 64 KiB file block normally needs one contiguous extent.  Two cases
 * cannot give it one, and both are common on a full filesystem:
 *  - free space in 4 KiB holes (small files removed here and there): a
 *    copy-on-write that finds no contiguous extent (data_alloc -ENOSPC)
 *    stores the block as pieces, each in any free 4 KiB block of a SMALL
 *    or LARGE big-block (hfs_alloc_piece), so df's free space is writable
 *    (xfstests generic/416);
 *  - a punch of whole 4 KiB pieces inside a block: the block becomes a
 *    pieces record whose other pieces keep pointing into the old extent
 *    (and at its overlays) and the punched 4 KiB blocks are freed, so a
 *    punch frees space instead of needing 64 KiB more (generic/256).
 *
 * Invariants:
 *  (P1) a pieces record has at least one piece, no overlays and no ZERO
 *       flag; a hole piece (paddr 0) reads as zeros;
 *  (P2) every piece is written and its crc32 known before the record that
 *       references it changes (block_set), and a record change frees, in
 *       the same operation (one flush group), exactly the blocks the old
 *       state referenced and the new one does not: crash rule 3 as for
 *       extents (freed blocks wait for the commit; a converted block's
 *       kept pieces are the old extent's blocks, never rewritten);
 *  (P3) a piece in a LARGE big-block is read and written by direct I/O, in
 *       a SMALL one through the DATA buffers (the cache never holds LARGE
 *       space, which direct writes change behind it);
 *  (P4) i_blocks counts 8 per present piece.
 * A pieces block is changed only with fs->lock held (file.c writes such
 * blocks in phase C, "locked"), so it needs no data-section check (D4).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/block.h"

/* ---- helpers ------------------------------------------------------------------- */

static unsigned npresent(const struct rec *r)
{
	unsigned p, n = 0;

	for (p = 0; p < NPIECE; p++)
		n += r->paddr[p] != 0;
	return n;
}

uint32_t rec_bytes(const struct rec *r)
{
	if (!r->present)
		return 0;
	return rec_pieces(r) ? npresent(r) * HFS_BLKSIZE : r->len;
}

/* An empty pieces record (every piece a hole). */
static void pieces_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->present = 1;
	r->len = HFS_FBLOCK;
	r->flags = HFS_DATAF_PIECES;
}

int pieces_decode(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct hfs_pieces_ondisk *v,
		  struct rec *r)
{
	unsigned p;

	pieces_init(r);
	if (v->pc_hdr.d_addr || hfs_le32(v->pc_hdr.d_len) != HFS_FBLOCK ||
	    hfs_le32(v->pc_hdr.d_flags) != HFS_DATAF_PIECES)
		goto bad;
	for (p = 0; p < NPIECE; p++) {
		uint64_t a = hfs_le64(v->pc_piece[p].p_addr);

		r->paddr[p] = a;
		r->pcrc[p] = hfs_le32(v->pc_piece[p].p_crc);
		if (a && ((hfs_zone_of(a) != HFS_ZONE_SMALL && hfs_zone_of(a) != HFS_ZONE_LARGE) ||
			  hfs_raw(a) % HFS_BLKSIZE || hfs_raw(a) + HFS_BLKSIZE > hfs_le64(fs->vh.vh_size)))
			goto bad;
	}
	if (!npresent(r))
		goto bad;   /* (P1) */
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return HFS_CORRUPT("pieces record of inode %llu at %llu is invalid",
			   (unsigned long long)ino, (unsigned long long)fbo);
}

static int in_rec(const struct rec *r, uint64_t za)
{
	unsigned p;

	for (p = 0; p < NPIECE; p++)
		if (r->paddr[p] == za)
			return 1;
	return 0;
}

/* ---- I/O --------------------------------------------------------------------------- */

int pieces_read_part(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		     size_t lo, size_t hi, unsigned which)
{
	unsigned p, q, end = (unsigned)((hi + HFS_BLKSIZE - 1) / HFS_BLKSIZE);
	int ret, rret;

	if (end > NPIECE)
		end = NPIECE;
	for (p = (unsigned)(lo / HFS_BLKSIZE); p < end; p = q) {
		uint64_t raw = hfs_raw(r->paddr[p]);
		int large = hfs_zone_of(r->paddr[p]) == HFS_ZONE_LARGE;

		q = p + 1;
		if (!r->paddr[p]) {
			if (which & PIECES_SMALL)
				memset(blk + p * HFS_BLKSIZE, 0, HFS_BLKSIZE);
			continue;
		}
		if (!(which & (large ? PIECES_LARGE : PIECES_SMALL)))
			continue;
		/* pieces next to each other on disk (those a punch kept of an
		 * extent) are read with one I/O: direct for LARGE, the cache
		 * for SMALL (P3); then each piece's CRC */
		while (q < end && r->paddr[q] == r->paddr[p] + (uint64_t)(q - p) * HFS_BLKSIZE &&
		       (raw + (uint64_t)(q - p) * HFS_BLKSIZE) % HFS_BIGBLOCK)
			q++;
		rret = extent_read(fs, r->paddr[p], blk + p * HFS_BLKSIZE, (q - p) * HFS_BLKSIZE);
		for (; p < q; p++)
			if ((ret = piece_verify(fs, ino, fbo, r, blk, p, rret)) != 0)
				return ret;
	}
	return 0;
}

int pieces_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		size_t lo, size_t hi)
{
	return pieces_read_part(fs, ino, fbo, r, blk, lo, hi, PIECES_SMALL | PIECES_LARGE);
}

/* Write one piece's 4096 bytes (4096-aligned buf) at za (P3). */
static int piece_write(struct hfs_fs *fs, uint64_t za, const uint8_t *buf)
{
	struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0 };
	int ret;

	if (hfs_zone_of(za) != HFS_ZONE_LARGE)
		return small_write(fs, hfs_raw(za), buf, HFS_BLKSIZE);
	ret = bc_direct_write(fs->bc, hfs_raw(za), buf, HFS_BLKSIZE, batch_done, &w);
	return ret ? ret : batch_wait_all(&w);
}

/* Fresh pieces for the pieces of mask, from blk (block offsets): each is
 * allocated, written and entered in nr.  On an error those of this call
 * are freed and nr's entries put back. */
static int pieces_alloc_write(struct hfs_fs *fs, const uint8_t *blk, uint32_t mask, struct rec *nr)
{
	uint64_t was[NPIECE];
	uint32_t done = 0;
	unsigned p;
	int ret = 0;

	memcpy(was, nr->paddr, sizeof(was));
	for (p = 0; p < NPIECE && !ret; p++) {
		uint64_t za;

		if (!(mask & (1u << p)))
			continue;
		ret = hfs_alloc_piece(fs, &za);
		if (ret)
			break;
		done |= 1u << p;
		nr->paddr[p] = za;
		ret = piece_write(fs, za, blk + p * HFS_BLKSIZE);
		nr->pcrc[p] = crc_of(blk + p * HFS_BLKSIZE, HFS_BLKSIZE);
	}
	if (ret)
		for (p = 0; p < NPIECE; p++)
			if (done & (1u << p)) {
				hfs_free(fs, nr->paddr[p], HFS_BLKSIZE);
				nr->paddr[p] = was[p];
			}
	return ret;
}

/* ---- records ------------------------------------------------------------------------ */

int rec_release(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r)
{
	unsigned p;
	int ret = 0;

	if (!r->present)
		return 0;
	if (rec_pieces(r)) {
		for (p = 0; p < NPIECE && !ret; p++)
			if (r->paddr[p])
				ret = hfs_free(fs, r->paddr[p], HFS_BLKSIZE);
	} else {
		ret = hfs_free(fs, r->addr, r->len);
		if (!ret && ovl_capable(r))
			ret = ovl_drop(fs, ip, fbo);   /* counts its own blocks */
	}
	if (!ret)
		ip->blocks -= rec_bytes(r) / 512;
	return ret;
}

/* Point block fbo at nr (a pieces record, every piece written; no piece
 * at all: no record) in place of old, the current record (any kind, also
 * none), then free what old and its overlays referenced and nr does not
 * (P2).  The record changes first: an ENOSPC of the tree leaves old whole
 * (the caller frees nr's fresh pieces). */
static int block_set(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *old,
		     const struct rec *nr, int *changed)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_pieces_ondisk v;
	unsigned p, n = npresent(nr);
	uint32_t q;
	int ret;

	if (n) {
		memset(&v, 0, sizeof(v));
		v.pc_hdr.d_len = hfs_tole32(HFS_FBLOCK);
		v.pc_hdr.d_flags = hfs_tole32(HFS_DATAF_PIECES);
		for (p = 0; p < NPIECE; p++) {
			v.pc_piece[p].p_addr = hfs_tole64(nr->paddr[p]);
			v.pc_piece[p].p_crc = hfs_tole32(nr->paddr[p] ? nr->pcrc[p] : 0);
		}
		ret = old->present ? hfs_bt_update(fs, &k, &v, sizeof(v)) : hfs_bt_insert(fs, &k, &v, sizeof(v));
		/* the commit that first holds a pieces record says so (FORMAT.md §3) */
		if (!ret && hfs_le16(fs->vh.vh_minor) < HFS_MINOR_PIECES)
			fs->vh.vh_minor = hfs_tole16(HFS_MINOR_PIECES);
	} else {
		ret = old->present ? hfs_bt_delete(fs, &k) : 0;
	}
	*changed = !ret;
	if (ret)
		return ret;
	ip->blocks += (uint64_t)n * (HFS_BLKSIZE / 512);
	if (!old->present)
		return 0;
	ip->blocks -= rec_bytes(old) / 512;
	if (rec_pieces(old)) {
		for (p = 0; p < NPIECE && !ret; p++)
			if (old->paddr[p] && !in_rec(nr, old->paddr[p]))
				ret = hfs_free(fs, old->paddr[p], HFS_BLKSIZE);
		return ret;
	}
	if (old->flags & HFS_DATAF_ZERO)
		return hfs_free(fs, old->addr, old->len);   /* never kept: its bytes are not data */
	for (q = 0; q < old->len && !ret; q += HFS_BLKSIZE)
		if (!in_rec(nr, old->addr + q))
			ret = hfs_free(fs, old->addr + q, HFS_BLKSIZE);
	if (!ret && ovl_capable(old)) {
		struct ovl o;

		ret = ovl_get(fs, ip->ino, fbo, &o);
		for (p = 0; p < NPIECE && !ret; p++) {
			struct hfs_key ok = hfs_mkkey(ip->ino, HFS_REC_DATAOVL, fbo + p * HFS_BLKSIZE);

			if (!(o.mask & (1u << p)))
				continue;
			ret = hfs_bt_delete(fs, &ok);
			if (!ret && !in_rec(nr, o.r[p].addr))
				ret = hfs_free(fs, o.r[p].addr, HFS_BLKSIZE);
			if (!ret)
				ip->blocks -= HFS_BLKSIZE / 512;
		}
	}
	return ret;
}

/* Write the pieces of mask from blk into nr and point the block at it. */
static int pieces_commit(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *old,
			 struct rec *nr, const uint8_t *blk, uint32_t mask)
{
	struct rec keep = *nr;
	unsigned p;
	int changed = 0, ret = pieces_alloc_write(fs, blk, mask, nr);

	if (ret)
		return ret;
	ret = block_set(fs, ip, fbo, old, nr, &changed);
	if (ret && !changed)
		/* the tree refused (ENOSPC): the fresh pieces go back */
		for (p = 0; p < NPIECE; p++)
			if ((mask & (1u << p)) && nr->paddr[p] != keep.paddr[p])
				hfs_free(fs, nr->paddr[p], HFS_BLKSIZE);
	return ret;
}

/* ---- operations ----------------------------------------------------------------------- */

int pieces_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		 uint32_t len, const struct rec *old)
{
	struct rec nr;
	uint32_t mask = 0;
	unsigned p;

	pieces_init(&nr);
	for (p = 0; p * HFS_BLKSIZE < len; p++)
		mask |= 1u << p;
	return pieces_commit(fs, ip, fbo, old, &nr, data, mask);
}

/* Pieces [first, last] of the block meeting [s, e), e > s. */
static uint32_t span_mask(size_t s, size_t e)
{
	uint32_t m = 0;
	size_t p;

	for (p = s / HFS_BLKSIZE; p * HFS_BLKSIZE < e; p++)
		m |= 1u << p;
	return m;
}

/* cur (any record but an unwritten one; none: all holes) as pieces in
 * nr, without writing anything: a pieces record as it is; another record
 * as the blocks of its extent, overlays where it has them.  A CRC4K
 * record and the overlays know every piece's CRC, so nothing is read (a
 * later read checks each piece against it); of another record the block
 * is read here once (its own CRCs checked) into blk for them.  *have:
 * blk holds the whole block. */
static int pieces_of(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *cur,
		     uint8_t *blk, struct rec *nr, int *have)
{
	struct ovl o = { 0 };
	unsigned p;
	int ret;

	*have = 0;
	if (cur->present && (cur->flags & HFS_DATAF_ZERO))
		return -EINVAL;   /* its bytes are not data: never kept as pieces */
	if (rec_pieces(cur)) {
		*nr = *cur;
		return 0;
	}
	pieces_init(nr);
	if (!cur->present)
		return 0;
	if (rec_crc4k(cur)) {
		ret = ovl_capable(cur) ? ovl_get(fs, ino, fbo, &o) : 0;
	} else {
		memset(blk, 0, HFS_FBLOCK);
		ret = block_read(fs, ino, fbo, cur, blk);
		if (!ret && ovl_capable(cur))
			ret = ovl_get(fs, ino, fbo, &o);
		*have = !ret;
	}
	for (p = 0; !ret && p < cur->len / HFS_BLKSIZE; p++) {
		int ov = !!(o.mask & (1u << p));

		nr->paddr[p] = ov ? o.r[p].addr : cur->addr + p * HFS_BLKSIZE;
		nr->pcrc[p] = ov ? o.r[p].crc : rec_crc4k(cur) ? cur->pcrc[p] :
			      crc_of(blk + p * HFS_BLKSIZE, HFS_BLKSIZE);
	}
	return ret;
}

/* The bytes of the pieces of nr cut in part by [s, e), into blk. */
static int pieces_edges(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *nr,
			uint8_t *blk, size_t s, size_t e)
{
	int ret = s % HFS_BLKSIZE ? pieces_read(fs, ino, fbo, nr, blk, s, s + 1) : 0;

	if (!ret && e % HFS_BLKSIZE)
		ret = pieces_read(fs, ino, fbo, nr, blk, e - 1, e);
	return ret;
}

int pieces_write(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur,
		 size_t in, const uint8_t *src, size_t n)
{
	uint32_t mask = span_mask(in, in + n);
	struct rec nr;
	uint8_t *blk;
	int have, ret;

	if (posix_memalign((void **)&blk, 4096, HFS_FBLOCK))
		return -ENOMEM;
	/* the pieces it does not touch stay where they are; the first and
	 * last may be covered in part: their old bytes */
	ret = pieces_of(fs, ip->ino, fbo, cur, blk, &nr, &have);
	if (!ret && !have)
		ret = pieces_edges(fs, ip->ino, fbo, &nr, blk, in, in + n);
	if (!ret) {
		memcpy(blk + in, src, n);
		ret = pieces_commit(fs, ip, fbo, cur, &nr, blk, mask);
	}
	free(blk);
	return ret;
}

int pieces_punch(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur,
		 uint32_t s, uint32_t e)
{
	uint32_t redo = 0;
	struct rec nr;
	uint8_t *blk;
	unsigned p;
	int have, ret;

	if (!cur->present || (cur->flags & HFS_DATAF_ZERO) || s >= e || e > HFS_FBLOCK)
		return -EINVAL;   /* an unwritten block reads as zeros: nothing to punch */
	if (posix_memalign((void **)&blk, 4096, HFS_FBLOCK))
		return -ENOMEM;
	ret = pieces_of(fs, ip->ino, fbo, cur, blk, &nr, &have);
	if (!ret && !have)
		ret = pieces_edges(fs, ip->ino, fbo, &nr, blk, s, e);
	if (ret)
		goto out;
	memset(blk + s, 0, e - s);
	for (p = s / HFS_BLKSIZE; p * HFS_BLKSIZE < e; p++) {
		if (!nr.paddr[p])
			continue;
		if (p * HFS_BLKSIZE >= s && (p + 1) * HFS_BLKSIZE <= e)
			nr.paddr[p] = 0;     /* punched whole: freed by block_set */
		else
			redo |= 1u << p;     /* cut in part: rewritten */
	}
	ret = pieces_commit(fs, ip, fbo, cur, &nr, blk, redo);
out:
	free(blk);
	return ret;
}

int pieces_fill(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur)
{
	struct rec nr = *cur;
	uint32_t holes = 0;
	uint8_t *blk;
	unsigned p;
	int ret;

	for (p = 0; p < NPIECE; p++)
		if (!cur->paddr[p])
			holes |= 1u << p;
	if (!holes)
		return 0;
	if (posix_memalign((void **)&blk, 4096, HFS_FBLOCK))
		return -ENOMEM;
	memset(blk, 0, HFS_FBLOCK);
	/* written zeros, not unwritten pieces: the format has none (P1) */
	ret = pieces_commit(fs, ip, fbo, cur, &nr, blk, holes);
	free(blk);
	return ret;
}
