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
#include "fs/block.h"

int rec_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_DATA, fbo);
	struct hfs_pieces_ondisk pc;
	struct hfs_data_ondisk d;
	size_t len;
	int ret = hfs_bt_lookup(fs, &k, &pc, sizeof(pc), &len);

	memset(r, 0, sizeof(*r));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (len == sizeof(pc))
		return pieces_decode(fs, ino, fbo, &pc, r);
	memcpy(&d, &pc, sizeof(d));
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

/* DATA buffers a sequential pass over small files reads at once (128 KiB) */
#define SMALL_RA 8u

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
				(unsigned)min_u64(SMALL_RA, (HFS_BIGBLOCK - boff % HFS_BIGBLOCK) / BC_BUFSIZE),
				&b);
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
		/* a buffer this extent covers completely need not be read, nor
		 * one whose other bytes are unused space (fresh 4 KiB overlays
		 * fill buffers piece by piece: no 16 KiB read for each first) */
		ret = bc_get(fs->bc, BC_DATA, boff,
			     (in == 0 && n == BC_BUFSIZE) ||
			     (hfs_alloc_unused(fs, boff, in) &&
			      hfs_alloc_unused(fs, raw + n, BC_BUFSIZE - in - n)) ? BC_GET_NEW : 0, &b);
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
 * checks every copy, returns a good one in out and rewrites the bad ones.
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
	HFS_ERR("inode %llu offset %llu: data CRC mismatch on every copy",
		(unsigned long long)ino, (unsigned long long)fbo);
	return -EIO;
}

/* Read record r's bytes into out (r->len bytes), verifying the CRC; on a
 * mismatch the self-healing read finds a good copy and rewrites the bad. */
int rec_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	uint64_t raw = hfs_raw(r->addr);
	int ret;

	if (r->flags & HFS_DATAF_ZERO) {
		memset(out, 0, r->len);   /* unwritten: its bytes mean nothing */
		return 0;
	}
	if (hfs_zone_of(r->addr) == HFS_ZONE_LARGE)
		ret = bc_direct_read(fs->bc, raw, out, r->len, -1);
	else
		ret = small_read(fs, raw, out, r->len);
	if (!ret && crc_of(out, r->len) == r->crc)
		return 0;
	return rec_heal(fs, ino, fbo, r, out);
}

/* ---- overlays ------------------------------------------------------------------ */

/* Every overlay of block fbo of inode ino (fs->lock held). */
int ovl_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct ovl *o)
{
	struct hfs_key from = hfs_mkkey(ino, HFS_REC_DATAOVL, fbo);
	struct hfs_key to = hfs_mkkey(ino, HFS_REC_DATAOVL, fbo + HFS_FBLOCK - 1), k;
	struct hfs_data_ondisk d;
	size_t len;
	int ret;

	memset(o, 0, sizeof(*o));
	while ((ret = hfs_bt_next(fs, &from, &to, &k, &d, sizeof(d), &len)) == 0) {
		unsigned p = (unsigned)((k.key - fbo) / HFS_BLKSIZE);
		struct rec *r = &o->r[p];

		r->addr = hfs_le64(d.d_addr);
		r->len = hfs_le32(d.d_len);
		r->crc = hfs_le32(d.d_crc);
		r->flags = hfs_le32(d.d_flags);
		r->present = 1;
		if (len != sizeof(d) || k.key % HFS_BLKSIZE || r->len != HFS_BLKSIZE ||
		    hfs_zone_of(r->addr) != HFS_ZONE_SMALL || hfs_raw(r->addr) % HFS_BLKSIZE ||
		    hfs_raw(r->addr) + r->len > hfs_le64(fs->vh.vh_size))
			return HFS_CORRUPT("overlay record of inode %llu at %llu is invalid",
					   (unsigned long long)ino, (unsigned long long)k.key);
		o->mask |= 1u << p;
		o->n++;
		from = hfs_mkkey(ino, HFS_REC_DATAOVL, k.key + 1);
	}
	return ret == -ENOENT ? 0 : ret;
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

/* Store block fbo's new contents (data, len bytes: multiple of 4 KiB, or
 * a full block) in fresh space and point the record at it; free the old.
 * A whole block over an unwritten record that no data section is filling
 * goes into the record's own extent instead (D7). */
int block_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		       uint32_t len, const struct rec *old)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_data_ondisk d;
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
	if (hfs_zone_of(za) == HFS_ZONE_LARGE) {
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
	free(pad);
	if (inplace)
		return 0;   /* same extent, same length; no overlays (ovl_capable) */
	ip->blocks += len / 512;
	return old->present ? rec_release(fs, ip, fbo, old) : 0;   /* the new bytes include its overlays */
err_free:
	free(pad);
	if (!inplace)
		hfs_free(fs, za, len);   /* the record still owns an in-place extent */
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

