/*
 * block.c — the records and extents of file blocks: DATA records (one per
 * 64 KiB file block, copy-on-write), their 4 KiB overlays (DATAOVL) and
 * unwritten records (HFS_DATAF_ZERO), read with CRC verification and
 * self-healing, stored, preallocated and dropped.  file.c and
 * file_space.c build reads, writes, truncate, punch and seek on these;
 * the rules are in fs/block.h and docs/FORMAT.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fs/block.h"

int rec_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_DATA, fbo);
	struct hfs_pieces_ondisk pc;
	struct hfs_crc4k_ondisk c;
	size_t len;
	unsigned p;
	int ret = hfs_bt_lookup(fs, &k, &pc, sizeof(pc), &len);

	memset(r, 0, sizeof(*r));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (len == sizeof(pc))
		return pieces_decode(fs, ino, fbo, &pc, r);
	memcpy(&c, &pc, sizeof(c));
	r->addr = hfs_le64(c.c_hdr.d_addr);
	r->len = hfs_le32(c.c_hdr.d_len);
	r->crc = hfs_le32(c.c_hdr.d_crc);
	r->flags = hfs_le32(c.c_hdr.d_flags);
	/* the value's length and its flag say the same: 88 bytes with
	 * CRC4K (a written full block), 24 without */
	if (len == sizeof(c) ? r->flags != HFS_DATAF_CRC4K || r->len != HFS_FBLOCK :
	    len != sizeof(c.c_hdr) || (r->flags & ~HFS_DATAF_ZERO))
		goto bad;
	if (!r->len || r->len > HFS_FBLOCK || r->len % HFS_BLKSIZE ||
	    (hfs_zone_of(r->addr) != HFS_ZONE_SMALL && hfs_zone_of(r->addr) != HFS_ZONE_LARGE) ||
	    hfs_raw(r->addr) % HFS_BLKSIZE || hfs_raw(r->addr) + r->len > hfs_le64(fs->vh.vh_size))
		goto bad;
	if (len == sizeof(c))
		for (p = 0; p < NPIECE; p++)
			r->pcrc[p] = hfs_le32(c.c_crc[p]);
	r->present = 1;
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return HFS_CORRUPT("DATA record of inode %llu at %llu is invalid",
			   (unsigned long long)ino, (unsigned long long)fbo);
}

/* Read a SMALL extent through DATA buffers. */
int small_read(struct hfs_fs *fs, uint64_t raw, uint8_t *out, uint32_t len)
{
	while (len) {
		uint64_t boff = raw - raw % BC_BUFSIZE, in = raw - boff, n = BC_BUFSIZE - in;
		struct bc_buf *b;
		int ret;

		if (n > len)
			n = len;
		/* small files read in the order they were written sit in
		 * consecutive buffers: read ahead within the big-block (all of
		 * it SMALL data, which no direct write touches) */
		ret = bc_get_ra(fs->bc, BC_DATA, boff,
				(unsigned)((HFS_BIGBLOCK - boff % HFS_BIGBLOCK) / BC_BUFSIZE), &b);
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

int small_write(struct hfs_fs *fs, uint64_t raw, const uint8_t *src, uint32_t len)
{
	while (len) {
		uint64_t boff = raw - raw % BC_BUFSIZE, in = raw - boff, n = BC_BUFSIZE - in;
		struct bc_buf *b;
		int ret;

		if (n > len)
			n = len;
		/* SMALL extents are 4 KiB granular (hfs_alloc), so the rest
		 * of the buffer is never read: a fresh 4 KiB overlay beside
		 * committed data costs no 16 KiB read */
		ret = bc_get_part(fs->bc, boff, (unsigned)in, (unsigned)n, &b);
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

int crc_verify(void *priv, const void *buf, size_t len)
{
	return crc_of(buf, (uint32_t)len) == *(const uint32_t *)priv ? 0 : -EBADMSG;
}

/* r's bytes did not verify (or could not be read): the self-healing read
 * checks every copy, returns a good one in out and rewrites the bad ones;
 * a CRC4K block no copy of which is good as a whole is healed piece by
 * piece (C2).
 * Needs no fs->lock (the extent stays allocated: fs->lock or (D1)). */
int rec_heal(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	uint32_t crc = r->crc;
	int ret;

	/* we saw a bad copy but not which: check them all */
	ret = bc_read_verified(fs->bc, hfs_raw(r->addr), out, r->len, crc_verify, &crc, RAID_RV_ALL);
	if (ret > 0)
		HFS_WARN("inode %llu offset %llu: bad data on %d cop%s, repaired from a good one",
			 (unsigned long long)ino, (unsigned long long)fbo, ret, ret > 1 ? "ies" : "y");
	if (ret >= 0)
		return 0;
	if (rec_crc4k(r))
		/* no copy is good as a whole, but each piece may be good on
		 * some copy (different pieces bad on different legs) */
		return crc4k_check(fs, ino, fbo, r, out, 0, NPIECE, 0, -EIO);
	HFS_ERR("inode %llu offset %llu: data CRC mismatch on every copy",
		(unsigned long long)ino, (unsigned long long)fbo);
	return -EIO;
}

/* Read record r's bytes into out (r->len bytes), verifying the CRC; on a
 * mismatch the self-healing read finds a good copy and rewrites the bad. */
int extent_read(struct hfs_fs *fs, uint64_t za, uint8_t *buf, uint32_t len)
{
	if (hfs_zone_of(za) == HFS_ZONE_LARGE)
		return bc_direct_read(fs->bc, hfs_raw(za), buf, len, -1);
	return small_read(fs, hfs_raw(za), buf, len);
}

int rec_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	int ret;

	if (r->flags & HFS_DATAF_ZERO) {
		memset(out, 0, r->len);   /* unwritten: its bytes mean nothing */
		return 0;
	}
	ret = extent_read(fs, r->addr, out, r->len);
	if (!ret && crc_of(out, r->len) == r->crc)
		return 0;
	return rec_heal(fs, ino, fbo, r, out);
}

/* ---- CRC4K records -------------------------------------------------------------
 *
 * A full block of one extent written on a volume of minor >= 7 carries the
 * crc32 of each 4 KiB piece in its record (FORMAT.md §5).  Invariants:
 *  (C1) d_crc is the crc32 of the whole extent and equals the piece CRCs
 *       combined in order: whole-block readers (scrub, merges, fsck) keep
 *       verifying it, and a writer checksums each byte once (crc4k_sum);
 *  (C2) a read of part of the block reads the pieces it meets and verifies
 *       each against its own CRC; a piece that fails is healed alone, from
 *       whatever copy verifies (rec_heal on the piece as a record of its own).
 */

int crc4k_wanted(const struct hfs_fs *fs)
{
	return hfs_le16(fs->vh.vh_minor) >= HFS_MINOR_CRC4K;
}

/* zlib's operator that appends the CRC of one more 4 KiB piece */
static pthread_once_t combine_once = PTHREAD_ONCE_INIT;
static uLong combine_op;
static void combine_init(void) { combine_op = crc32_combine_gen(HFS_BLKSIZE); }

uint32_t crc4k_sum(const uint8_t *blk, uint32_t pcrc[NPIECE])
{
	uint32_t crc;
	unsigned p;

	pthread_once(&combine_once, combine_init);
	for (p = 0; p < NPIECE; p++)
		pcrc[p] = crc_of(blk + p * HFS_BLKSIZE, HFS_BLKSIZE);
	crc = pcrc[0];
	for (p = 1; p < NPIECE; p++)
		crc = (uint32_t)crc32_combine_op(crc, pcrc[p], combine_op);   /* (C1) */
	return crc;
}

size_t data_encode(uint64_t za, uint32_t len, uint32_t crc, const uint32_t *pcrc,
		   struct hfs_crc4k_ondisk *v)
{
	unsigned p;

	memset(v, 0, sizeof(*v));
	v->c_hdr.d_addr = hfs_tole64(za);
	v->c_hdr.d_len = hfs_tole32(len);
	v->c_hdr.d_crc = hfs_tole32(crc);
	if (!pcrc || len != HFS_FBLOCK)
		return sizeof(v->c_hdr);
	v->c_hdr.d_flags = hfs_tole32(HFS_DATAF_CRC4K);
	for (p = 0; p < NPIECE; p++)
		v->c_crc[p] = hfs_tole32(pcrc[p]);
	return sizeof(*v);
}

int crc4k_check(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		unsigned p0, unsigned p1, uint32_t skip, int rerr)
{
	unsigned p;
	int ret;

	for (p = p0; p < p1; p++)
		if (!(skip & (1u << p)) && (ret = piece_verify(fs, ino, fbo, r, blk, p, rerr)) != 0)
			return ret;   /* (C2) */
	return 0;
}

struct rec rec_piece(const struct rec *r, unsigned p)
{
	struct rec pr;

	memset(&pr, 0, sizeof(pr));
	pr.present = 1;
	pr.addr = rec_pieces(r) ? r->paddr[p] : r->addr + (uint64_t)p * HFS_BLKSIZE;
	pr.len = HFS_BLKSIZE;
	pr.crc = r->pcrc[p];
	return pr;
}

int piece_verify(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		 unsigned p, int rerr)
{
	struct rec pr;

	if (!rerr && crc_of(blk + p * HFS_BLKSIZE, HFS_BLKSIZE) == r->pcrc[p])
		return 0;
	/* unreadable or bad: this piece alone, on every copy (healed) */
	pr = rec_piece(r, p);
	return rec_heal(fs, ino, fbo + (uint64_t)p * HFS_BLKSIZE, &pr, blk + p * HFS_BLKSIZE);
}

int rec_read_part(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		  size_t lo, size_t hi, uint32_t skip)
{
	unsigned p0 = (unsigned)(lo / HFS_BLKSIZE);
	unsigned p1 = (unsigned)((hi + HFS_BLKSIZE - 1) / HFS_BLKSIZE);
	int ret;

	if (!rec_crc4k(r) || hi <= lo || (lo == 0 && hi >= HFS_FBLOCK))
		return rec_read(fs, ino, fbo, r, blk);
	if (p1 > NPIECE)
		p1 = NPIECE;
	ret = extent_read(fs, r->addr + (uint64_t)p0 * HFS_BLKSIZE, blk + p0 * HFS_BLKSIZE,
			  (p1 - p0) * HFS_BLKSIZE);
	return crc4k_check(fs, ino, fbo, r, blk, p0, p1, skip, ret);
}

/* ---- overlays ------------------------------------------------------------------ */

struct ovl_scan {
	struct hfs_fs *fs;
	uint64_t ino, fbo;
	struct ovl *o;
};

static int ovl_one(void *priv, const struct hfs_key *k, const void *val, size_t len)
{
	struct ovl_scan *sc = priv;
	unsigned p = (unsigned)((k->key - sc->fbo) / HFS_BLKSIZE);
	struct rec *r = &sc->o->r[p];
	struct hfs_data_ondisk d;

	if (len != sizeof(d) || k->key % HFS_BLKSIZE)
		goto bad;
	memcpy(&d, val, sizeof(d));
	r->addr = hfs_le64(d.d_addr);
	r->len = hfs_le32(d.d_len);
	r->crc = hfs_le32(d.d_crc);
	r->flags = hfs_le32(d.d_flags);
	r->present = 1;
	if (r->len != HFS_BLKSIZE || hfs_zone_of(r->addr) != HFS_ZONE_SMALL ||
	    hfs_raw(r->addr) % HFS_BLKSIZE ||
	    hfs_raw(r->addr) + r->len > hfs_le64(sc->fs->vh.vh_size))
		goto bad;
	sc->o->mask |= 1u << p;
	sc->o->n++;
	return 0;
bad:
	return HFS_CORRUPT("overlay record of inode %llu at %llu is invalid",
			   (unsigned long long)sc->ino, (unsigned long long)k->key);
}

/* Every overlay of block fbo of inode ino (fs->lock held). */
int ovl_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct ovl *o)
{
	struct hfs_key from = hfs_mkkey(ino, HFS_REC_DATAOVL, fbo);
	struct hfs_key to = hfs_mkkey(ino, HFS_REC_DATAOVL, fbo + HFS_FBLOCK - 1);
	struct ovl_scan sc = { fs, ino, fbo, o };

	memset(o, 0, sizeof(*o));
	return hfs_bt_range(fs, &from, &to, ovl_one, &sc);
}

/* Base records that can carry overlays: full blocks. */
int ovl_capable(const struct rec *r)
{
	/* not unwritten ones: they are filled in place, whole (D7); not
	 * pieces: their pieces are changed one by one instead */
	return r->present && r->len == HFS_FBLOCK && !(r->flags & (HFS_DATAF_ZERO | HFS_DATAF_PIECES));
}

/* Copy the overlays of o that intersect [lo, hi) of the block into blk
 * (block-relative offsets), verifying each CRC (fs->lock held). */
int ovl_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct ovl *o,
		    uint8_t *blk, size_t lo, size_t hi)
{
	unsigned p;
	int ret;

	for (p = 0; p < NPIECE; p++) {
		if (!(o->mask & (1u << p)) || (p + 1) * HFS_BLKSIZE <= lo || p * HFS_BLKSIZE >= hi)
			continue;
		ret = rec_read(fs, ino, fbo + p * HFS_BLKSIZE, &o->r[p], blk + p * HFS_BLKSIZE);
		if (ret)
			return ret;
	}
	return 0;
}

/* Drop every overlay of block fbo (its base is being replaced or dropped). */
int ovl_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo)
{
	struct ovl o;
	unsigned p;
	int ret = ovl_get(fs, ip->ino, fbo, &o);

	for (p = 0; p < NPIECE && !ret; p++) {
		struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATAOVL, fbo + p * HFS_BLKSIZE);

		if (!(o.mask & (1u << p)))
			continue;
		ret = hfs_bt_delete(fs, &k);
		if (!ret)
			ret = hfs_free(fs, o.r[p].addr, HFS_BLKSIZE);
		if (!ret)
			ip->blocks -= HFS_BLKSIZE / 512;
	}
	return ret;
}

/* Read block fbo as the file sees it: base record r plus its overlays. */
int block_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	struct ovl o;
	int ret;

	if (rec_pieces(r))
		return pieces_read(fs, ino, fbo, r, out, 0, HFS_FBLOCK);
	ret = rec_read(fs, ino, fbo, r, out);
	if (ret || !ovl_capable(r))
		return ret;
	ret = ovl_get(fs, ino, fbo, &o);
	return ret ? ret : ovl_read(fs, ino, fbo, &o, out, 0, HFS_FBLOCK);
}

/* Completion counting for direct writes: one or a batch. */
void batch_done(void *priv, int err)
{
	struct batch_wait *w = priv;

	pthread_mutex_lock(&w->m);
	if (err && !w->err)
		w->err = err;
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

/* Space for len bytes of a file block (4 KiB multiple < 64 KiB: SMALL; a
 * whole block: LARGE).  A big-block holds one zone's extents only, so
 * near full the other zone may still have room: a part block then takes
 * a whole LARGE block (*len becomes 64 KiB, the caller zero-pads), a
 * whole block 64 KiB of SMALL space. */
int data_alloc(struct hfs_fs *fs, uint32_t *len, uint64_t *za)
{
	int ret;

	if (fs->opts.force_pieces)
		return -ENOSPC;   /* testing (-o pieces): every block as pieces */
	ret = hfs_alloc(fs, *len == HFS_FBLOCK ? HFS_ZONE_LARGE : HFS_ZONE_SMALL, *len, za);

	if (ret != -ENOSPC)
		return ret;
	if (*len == HFS_FBLOCK)
		return hfs_alloc(fs, HFS_ZONE_SMALL, HFS_FBLOCK, za);
	ret = hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, za);
	if (!ret)
		*len = HFS_FBLOCK;
	return ret;
}

/* ---- unwritten records written in place (D7) ------------------------------------- */

/* An unwritten record whose extent a write may fill in place: a whole
 * LARGE block (fallocate makes no other kind). */
int rec_inplace(const struct rec *r)
{
	return r->present && (r->flags & HFS_DATAF_ZERO) && r->len == HFS_FBLOCK &&
	       hfs_zone_of(r->addr) == HFS_ZONE_LARGE;
}

int inplace_find(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	int i;

	for (i = 0; i < fs->ninplace; i++)
		if (fs->inplace[i].ino == ino && fs->inplace[i].fbo == fbo)
			return i;
	return -1;
}

/* Claim block fbo for one in-place writer: 1, or 0 when another holds it
 * (or the table is full): the caller copies on write as usual. */
int inplace_claim(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	if (inplace_find(fs, ino, fbo) >= 0 ||
	    fs->ninplace == (int)(sizeof(fs->inplace) / sizeof(fs->inplace[0])))
		return 0;
	fs->inplace[fs->ninplace].ino = ino;
	fs->inplace[fs->ninplace].fbo = fbo;
	fs->ninplace++;
	return 1;
}

void inplace_release(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	int i = inplace_find(fs, ino, fbo);

	if (i >= 0)
		fs->inplace[i] = fs->inplace[--fs->ninplace];
}

/* Write data (len bytes) to extent za and point block fbo's record at it
 * (old: the record it replaces; inplace: za is old's unwritten extent,
 * D7).  Takes za: freed here on a failure before the record points at it
 * (an in-place extent stays the record's). */
int block_store_at(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		   uint32_t len, const struct rec *old, uint64_t za, int inplace)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_crc4k_ondisk v;
	uint32_t pcrc[NPIECE], crc;
	size_t vlen;
	int ret;

	if (hfs_zone_of(za) == HFS_ZONE_LARGE) {
		struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0 };

		ret = bc_direct_write(fs->bc, hfs_raw(za), data, len, batch_done, &w);
		if (!ret)
			ret = batch_wait_all(&w);   /* the caller's buffer must outlive the write */
	} else {
		ret = small_write(fs, hfs_raw(za), data, len);
	}
	if (ret)
		goto err_free;
	/* a fill in place (D7) on this locked path keeps its 24 bytes (no B-tree
	 * space needed); wblk_commit's fast path makes it CRC4K where it can */
	if (len == HFS_FBLOCK && crc4k_wanted(fs) && !inplace) {
		crc = crc4k_sum(data, pcrc);
		vlen = data_encode(za, len, crc, pcrc, &v);
	} else {
		vlen = data_encode(za, len, crc_of(data, len), NULL, &v);
	}
	ret = old->present ? hfs_bt_update(fs, &k, &v, vlen) : hfs_bt_insert(fs, &k, &v, vlen);
	if (ret)
		goto err_free;
	if (inplace)
		return 0;   /* same extent, same length; no overlays (ovl_capable) */
	ip->blocks += len / 512;
	return old->present ? rec_release(fs, ip, fbo, old) : 0;   /* the new bytes include its overlays */
err_free:
	if (!inplace)
		hfs_free(fs, za, len);   /* the record still owns an in-place extent */
	return ret;
}

/* Store block fbo's new contents (data, len bytes: multiple of 4 KiB, or
 * a full block) in fresh space and point the record at it; free the old.
 * A whole block over an unwritten record that no data section is filling
 * goes into the record's own extent instead (D7). */
int block_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		       uint32_t len, const struct rec *old)
{
	int inplace = len == HFS_FBLOCK && rec_inplace(old) && inplace_find(fs, ip->ino, fbo) < 0;
	uint64_t za = old->addr;
	uint8_t *pad = NULL;
	uint32_t want = len;
	int ret = inplace ? 0 : data_alloc(fs, &len, &za);

	if (ret == -ENOSPC)
		/* no contiguous extent free: 4 KiB pieces wherever there is room */
		return pieces_store(fs, ip, fbo, data, len, old);
	if (ret)
		return ret;
	if (len != want) {
		/* stored as a whole LARGE block: the rest of it is zeros */
		if (posix_memalign((void **)&pad, 4096, HFS_FBLOCK)) {
			hfs_free(fs, za, len);
			return -ENOMEM;
		}
		memcpy(pad, data, want);
		memset(pad + want, 0, len - want);
		data = pad;
	}
	ret = block_store_at(fs, ip, fbo, data, len, old, za, inplace);
	free(pad);
	return ret;
}

/* fallocate of a hole: an unwritten record over a fresh LARGE extent (no
 * data is written; reads give zeros). */
int block_prealloc(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_data_ondisk d;
	uint64_t za;
	int ret = hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &za);

	if (ret)
		return ret;
	memset(&d, 0, sizeof(d));
	d.d_addr = hfs_tole64(za);
	d.d_len = hfs_tole32(HFS_FBLOCK);
	d.d_flags = hfs_tole32(HFS_DATAF_ZERO);
	ret = hfs_bt_insert(fs, &k, &d, sizeof(d));
	if (ret) {
		hfs_free(fs, za, HFS_FBLOCK);
		return ret;
	}
	ip->blocks += HFS_FBLOCK / 512;
	return 0;
}

int block_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	int ret = hfs_bt_delete(fs, &k);

	return ret ? ret : rec_release(fs, ip, fbo, r);
}

/* Wait for the n callbacks of a batch_wait. */
int batch_wait_all(struct batch_wait *w)
{
	pthread_mutex_lock(&w->m);
	while (w->left)
		pthread_cond_wait(&w->cv, &w->m);
	pthread_mutex_unlock(&w->m);
	return w->err;
}

void batch_add(struct batch_wait *w, int n)
{
	pthread_mutex_lock(&w->m);
	w->left += n;
	pthread_mutex_unlock(&w->m);
}

