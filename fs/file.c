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
 *
 * Overlays (HFS_REC_DATAOVL, docs/FORMAT.md): a 4 KiB-aligned write of
 * whole 4 KiB pieces into a full block (base record of HFS_FBLOCK bytes)
 * does not read and rewrite the 64 KiB block: each piece goes to a fresh
 * 4 KiB SMALL extent and gets its own record, keyed by its file offset,
 * which supersedes the base's bytes there.  The base is untouched (its CRC
 * still covers its own bytes).  Once a write would leave more than
 * HFS_OVL_MAX overlays on a block, it merges: the block is read with its
 * overlays, stored whole in fresh space, and the overlays are dropped in
 * the same operation.  Every path that replaces or drops a base drops its
 * overlays with it (ovl_drop), so an overlay never outlives its base.
 *
 * fallocate stores unwritten records (HFS_DATAF_ZERO): a LARGE extent that
 * is allocated but never written, which reads as zeros whatever its bytes
 * are.  The first write of such a block goes into its extent in place
 * (D7), so a write into preallocated space needs no new space (xfstests
 * generic/274): the committed state can only hold that extent as
 * unwritten, so a crash before the commit still reads zeros there.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
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
	return hfs_crc32(0, p, len);
}

/* DATA buffers a sequential pass over small files reads at once (128 KiB) */
#define SMALL_RA 8u

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Read a SMALL extent through DATA buffers. */
static int small_read(struct hfs_fs *fs, uint64_t raw, uint8_t *out, uint32_t len)
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

static int small_write(struct hfs_fs *fs, uint64_t raw, const uint8_t *src, uint32_t len)
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

static int crc_verify(void *priv, const void *buf, size_t len)
{
	return crc_of(buf, (uint32_t)len) == *(const uint32_t *)priv ? 0 : -EBADMSG;
}

/* r's bytes did not verify (or could not be read): the self-healing read
 * checks every copy, returns a good one in out and rewrites the bad ones.
 * Needs no fs->lock (the extent stays allocated: fs->lock or (D1)). */
static int rec_heal(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
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
static int rec_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
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

#define NPIECE (HFS_FBLOCK / HFS_BLKSIZE)

struct ovl {
	unsigned n;          /* overlays on the block */
	uint32_t mask;       /* bit p: piece p has one */
	struct rec r[NPIECE];
};

/* Every overlay of block fbo of inode ino (fs->lock held). */
static int ovl_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct ovl *o)
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
static int ovl_capable(const struct rec *r)
{
	/* not unwritten ones: they are filled in place, whole (D7) */
	return r->present && r->len == HFS_FBLOCK && !(r->flags & HFS_DATAF_ZERO);
}

/* Copy the overlays of o that intersect [lo, hi) of the block into blk
 * (block-relative offsets), verifying each CRC (fs->lock held). */
static int ovl_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct ovl *o,
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
static int ovl_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo)
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
static int block_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out)
{
	struct ovl o;
	int ret = rec_read(fs, ino, fbo, r, out);

	if (ret || !ovl_capable(r))
		return ret;
	ret = ovl_get(fs, ino, fbo, &o);
	return ret ? ret : ovl_read(fs, ino, fbo, &o, out, 0, HFS_FBLOCK);
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

/* Space for len bytes of a file block (4 KiB multiple < 64 KiB: SMALL; a
 * whole block: LARGE).  A big-block holds one zone's extents only, so
 * near full the other zone may still have room: a part block then takes
 * a whole LARGE block (*len becomes 64 KiB, the caller zero-pads), a
 * whole block 64 KiB of SMALL space. */
static int data_alloc(struct hfs_fs *fs, uint32_t *len, uint64_t *za)
{
	int ret = hfs_alloc(fs, *len == HFS_FBLOCK ? HFS_ZONE_LARGE : HFS_ZONE_SMALL, *len, za);

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
static int rec_inplace(const struct rec *r)
{
	return r->present && (r->flags & HFS_DATAF_ZERO) && r->len == HFS_FBLOCK &&
	       hfs_zone_of(r->addr) == HFS_ZONE_LARGE;
}

static int inplace_find(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	int i;

	for (i = 0; i < fs->ninplace; i++)
		if (fs->inplace[i].ino == ino && fs->inplace[i].fbo == fbo)
			return i;
	return -1;
}

/* Claim block fbo for one in-place writer: 1, or 0 when another holds it
 * (or the table is full): the caller copies on write as usual. */
static int inplace_claim(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	if (inplace_find(fs, ino, fbo) >= 0 ||
	    fs->ninplace == (int)(sizeof(fs->inplace) / sizeof(fs->inplace[0])))
		return 0;
	fs->inplace[fs->ninplace].ino = ino;
	fs->inplace[fs->ninplace].fbo = fbo;
	fs->ninplace++;
	return 1;
}

static void inplace_release(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	int i = inplace_find(fs, ino, fbo);

	if (i >= 0)
		fs->inplace[i] = fs->inplace[--fs->ninplace];
}

/* Store block fbo's new contents (data, len bytes: multiple of 4 KiB, or
 * a full block) in fresh space and point the record at it; free the old.
 * A whole block over an unwritten record that no data section is filling
 * goes into the record's own extent instead (D7). */
static int block_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		       uint32_t len, const struct rec *old)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	struct hfs_data_ondisk d;
	int inplace = len == HFS_FBLOCK && rec_inplace(old) && inplace_find(fs, ip->ino, fbo) < 0;
	uint64_t za = old->addr;
	uint8_t *pad = NULL;
	uint32_t want = len;
	int ret = inplace ? 0 : data_alloc(fs, &len, &za);

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
	if (old->present) {
		ip->blocks -= old->len / 512;
		ret = hfs_free(fs, old->addr, old->len);
		if (!ret && ovl_capable(old))
			ret = ovl_drop(fs, ip, fbo);   /* the new bytes include them */
	}
	return ret;
err_free:
	free(pad);
	if (!inplace)
		hfs_free(fs, za, len);   /* the record still owns an in-place extent */
	return ret;
}

/* fallocate of a hole: an unwritten record over a fresh LARGE extent (no
 * data is written; reads give zeros). */
static int block_prealloc(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo)
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

static int block_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, fbo);
	int ret = hfs_bt_delete(fs, &k);

	if (!ret)
		ret = hfs_free(fs, r->addr, r->len);
	if (!ret)
		ip->blocks -= r->len / 512;
	if (!ret && ovl_capable(r))
		ret = ovl_drop(fs, ip, fbo);
	return ret;
}

/* ---- data sections: file data I/O without fs->lock ------------------------------
 *
 * Reads and writes take fs->lock to look records up and allocate (phase
 * A), drop it while the device works and CRCs are computed (phase B), and
 * take it again to point records at the new extents (phase C).  Between A
 * and C the operation holds a data section open (fs->data_inflight):
 *  (D1) a flush waits in hfs_data_drain until no section is open, so a
 *       commit never contains space allocated but not yet referenced, and
 *       space freed while a reader reads it is not handed out again;
 *  (D2) a new section waits while a flush waits (no starvation);
 *  (D3) new data becomes visible only in phase C, when its write has
 *       completed: readers in the meantime see the old record, which stays
 *       valid by (D1) and crash rule 3 — nothing has to wait for a
 *       direct-in-progress mark;
 *  (D4) phase C looks every record up again: a read-modify-write whose
 *       block changed meanwhile (another write to the same 64 KiB block,
 *       a truncate) is redone with fs->lock held, so no update is lost;
 *  (D5) a thread inside a section never flushes (it would wait for itself).
 *  (D6) every operation works on its own copy of the inode, so a copy
 *       held where fs->lock was released (phase B, a wait in data_enter,
 *       a flush or hfs_op_begin, which wait for open sections) is loaded
 *       again before it changes or is stored: concurrent writes of one
 *       inode (the kernel's writeback sends many at once) would otherwise
 *       store each other's old i_blocks and size back (hfs_inode_step).
 */
static __thread int in_data_section;

/* 1 when it waited, with fs->lock released: the caller's copy of the
 * inode may be stale then (others wrote or truncated meanwhile). */
static int data_enter(struct hfs_fs *fs)
{
	int waited = 0;

	while (fs->flush_waiters) {                     /* (D2) */
		pthread_cond_wait(&fs->data_cv, &fs->lock);
		waited = 1;
	}
	fs->data_inflight++;
	in_data_section = 1;
	return waited;
}

static void data_leave(struct hfs_fs *fs)
{
	in_data_section = 0;
	if (--fs->data_inflight == 0 && fs->flush_waiters)
		pthread_cond_broadcast(&fs->data_cv);
}

void hfs_data_drain(struct hfs_fs *fs)
{
	if (in_data_section)
		abort();                                     /* (D5): a deadlock otherwise */
	if (!fs->data_inflight)
		return;
	fs->flush_waiters++;
	while (fs->data_inflight)                       /* (D1) */
		pthread_cond_wait(&fs->data_cv, &fs->lock);
	fs->flush_waiters--;
	pthread_cond_broadcast(&fs->data_cv);           /* sections waiting in (D2) */
}

/* Aligned staging memory of one thread for the blocks of a write batch:
 * FUSE hands data at an unaligned offset of its request buffer, and one
 * copy here is cheaper than a bounce buffer per mirror leg below. */
static pthread_key_t stage_key;
static pthread_once_t stage_once = PTHREAD_ONCE_INIT;
static void stage_key_init(void) { (void)pthread_key_create(&stage_key, free); }

static uint8_t *stage_get(void)
{
	uint8_t *p;

	pthread_once(&stage_once, stage_key_init);
	p = pthread_getspecific(stage_key);
	if (!p) {
		if (posix_memalign((void **)&p, 4096, (size_t)BATCH_MAX * HFS_FBLOCK))
			return NULL;
		if (pthread_setspecific(stage_key, p)) {
			free(p);
			return NULL;
		}
	}
	return p;
}

/* Wait for the n callbacks of a batch_wait. */
static int batch_wait_all(struct batch_wait *w)
{
	pthread_mutex_lock(&w->m);
	while (w->left)
		pthread_cond_wait(&w->cv, &w->m);
	pthread_mutex_unlock(&w->m);
	return w->err;
}

static void batch_add(struct batch_wait *w, int n)
{
	pthread_mutex_lock(&w->m);
	w->left += n;
	pthread_mutex_unlock(&w->m);
}

/* ---- read ------------------------------------------------------------------------ */

struct rblk {
	struct rec r;
	uint8_t *dst;        /* where the record's bytes are read to */
	uint8_t *scratch;    /* own buffer when dst is not the caller's */
	uint8_t *ovbuf;      /* overlays read in phase A (block offsets) */
	uint32_t ovmask;     /* pieces of ovbuf to lay over dst after the CRC check */
	int overr;           /* reading those overlays failed */
	size_t at, in, n;    /* copy n bytes from dst + in to out + at */
	size_t run;          /* blocks read with this one's I/O (at a run's head) */
	int err;
};

struct rio {             /* completion of one async block read */
	struct batch_wait *w;
	int *err;
};

static void rio_done(void *priv, int err)
{
	struct rio *x = priv;

	*x->err = err;
	batch_done(x->w, 0);
}

/* fs->lock held on entry and on return (dropped in between). */
ssize_t hfs_file_read(struct hfs_fs *fs, struct hfs_inode *ip, void *buf, size_t len, uint64_t off)
{
	struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	uint8_t *out = buf;
	struct rblk *bl;
	struct rio *rio;
	size_t done = 0, nb, i, good;
	int ret = 0, aret, large = 0;

	if (data_enter(fs) && (ret = hfs_inode_load(fs, ip->ino, ip)) != 0) {
		data_leave(fs);
		return ret;
	}
	if (off >= ip->size || !len) {
		data_leave(fs);
		return 0;
	}
	if (len > ip->size - off)
		len = (size_t)(ip->size - off);
	nb = (size_t)((off + len - 1) / HFS_FBLOCK - off / HFS_FBLOCK + 1);
	bl = calloc(nb, sizeof(*bl));
	rio = calloc(nb, sizeof(*rio));
	if (!bl || !rio) {
		data_leave(fs);
		free(bl);
		free(rio);
		return -ENOMEM;
	}
	/* phase A: records; SMALL extents are read through the cache here */
	for (i = 0; i < nb && !ret; i++) {
		uint64_t pos = off + done, fbo = pos - pos % HFS_FBLOCK, in = pos - fbo;
		size_t n = HFS_FBLOCK - in;
		struct rblk *b = &bl[i];

		if (n > len - done)
			n = len - done;
		b->at = done;
		b->in = in;
		b->n = n;
		done += n;
		ret = rec_get(fs, ip->ino, fbo, &b->r);
		if (ret)
			break;
		if (!b->r.present || in >= b->r.len || (b->r.flags & HFS_DATAF_ZERO)) {
			memset(out + b->at, 0, n);   /* a hole, or unwritten */
			b->r.present = 0;
			continue;
		}
		if (ovl_capable(&b->r)) {
			/* overlays on the pieces this read covers: read them now
			 * (SMALL, through the cache); all covered = no base read */
			uint32_t need = 0;
			struct ovl o;
			size_t p;

			for (p = in / HFS_BLKSIZE; p <= (in + n - 1) / HFS_BLKSIZE; p++)
				need |= 1u << p;
			ret = ovl_get(fs, ip->ino, fbo, &o);
			if (ret)
				break;
			if (o.mask & need) {
				if (posix_memalign((void **)&b->ovbuf, 4096, HFS_FBLOCK)) {
					ret = -ENOMEM;
					break;
				}
				b->ovmask = o.mask & need;
				b->overr = ovl_read(fs, ip->ino, fbo, &o, b->ovbuf, in, in + n);
				if ((o.mask & need) == need) {
					b->err = b->overr;
					b->dst = b->ovbuf;   /* freed with scratch */
					b->scratch = b->ovbuf;
					b->ovbuf = NULL;
					b->ovmask = 0;
					b->r.present = 2;
					continue;
				}
			}
		}
		if (in == 0 && n == HFS_FBLOCK && b->r.len == HFS_FBLOCK &&
		    (uintptr_t)(out + b->at) % RAID_SECTOR == 0) {
			b->dst = out + b->at;   /* straight into the reply */
		} else {
			if (posix_memalign((void **)&b->scratch, 4096, HFS_FBLOCK)) {
				free(b->ovbuf);
				b->ovbuf = NULL;
				ret = -ENOMEM;
				break;
			}
			b->dst = b->scratch;
		}
		if (hfs_zone_of(b->r.addr) != HFS_ZONE_LARGE) {
			b->err = rec_read(fs, ip->ino, fbo, &b->r, b->dst);
			b->r.present = 2;   /* done (overlays laid over below) */
		} else {
			large++;
		}
	}
	nb = i;
	aret = ret;   /* a failed lookup fails the read (below), after the I/O in flight */
	ret = 0;
	pthread_mutex_unlock(&fs->lock);

	/* phase B: every LARGE block at once (one read per run contiguous both
	 * on disk and in the reply), then CRCs */
	for (i = 0; i < nb && large; ) {
		struct rblk *b = &bl[i];
		size_t j = i + 1;

		if (b->r.present != 1) {
			i++;
			continue;
		}
		if (b->dst == out + b->at)
			while (j < nb && bl[j].r.present == 1 && bl[j].dst == out + bl[j].at &&
			       bl[j].r.addr == bl[j - 1].r.addr + HFS_FBLOCK)
				j++;
		rio[i].w = &w;
		rio[i].err = &b->err;
		batch_add(&w, 1);
		if (bc_direct_read_async(fs->bc, hfs_raw(b->r.addr), b->dst,
					 (j - i - 1) * HFS_FBLOCK + b->r.len, -1, rio_done, &rio[i]) != 0) {
			batch_add(&w, -1);
			b->err = -EIO;   /* retried below, copy by copy */
		}
		b->run = j - i;
		i = j;
	}
	if (large)
		(void)batch_wait_all(&w);
	for (i = 0; i < nb; i++) {
		size_t k;

		for (k = 1; k < bl[i].run; k++)
			bl[i + k].err = bl[i].err;   /* a run's error is every member's */
	}
	for (i = 0, good = 0; i < nb; i++) {
		struct rblk *b = &bl[i];

		if (b->r.present == 1) {
			uint64_t fbo = (off + b->at) - (off + b->at) % HFS_FBLOCK;

			if (b->err || crc_of(b->dst, b->r.len) != b->r.crc) {
				b->err = rec_heal(fs, ip->ino, fbo, &b->r, b->dst);
			}
		}
		if (!b->err)
			b->err = b->overr;
		if (b->ovmask && !b->err) {
			/* the base verified: now its superseded pieces */
			unsigned p;

			for (p = 0; p < NPIECE; p++)
				if (b->ovmask & (1u << p))
					memcpy(b->dst + p * HFS_BLKSIZE, b->ovbuf + p * HFS_BLKSIZE,
					       HFS_BLKSIZE);
		}
		if (b->r.present && !b->err && b->dst != out + b->at) {
			if (b->in + b->n > b->r.len) {
				/* the block's tail past its record reads as zeros */
				size_t have = b->in < b->r.len ? b->r.len - b->in : 0;

				memcpy(out + b->at, b->dst + b->in, have);
				memset(out + b->at + have, 0, b->n - have);
			} else {
				memcpy(out + b->at, b->dst + b->in, b->n);
			}
		}
		if (b->r.present && b->err && !ret)
			ret = b->err;
		if (!ret)
			good = b->at + b->n;
		free(b->scratch);
		free(b->ovbuf);
	}
	pthread_mutex_lock(&fs->lock);
	data_leave(fs);
	free(bl);
	free(rio);
	/* An error after some blocks is the error, not a short count: FUSE
	 * takes a short read for the end of the file and zero-fills the rest
	 * of the pages, so a block no copy can serve would read as zeros
	 * (wrong data) instead of EIO (tests/mount/t_raid_fault.sh). */
	return ret ? ret : aret ? aret : (ssize_t)good;
}

/* ---- write ------------------------------------------------------------------------- */

/* One block of a write batch. */
struct wblk {
	uint64_t fbo, za;
	uint32_t len;        /* length of the new record */
	uint32_t crc;
	size_t at, in, n;    /* bytes src[at, at+n) go to block offset in */
	struct rec old;      /* the record seen in phase A */
	uint8_t *data;       /* len bytes in the staging area */
	int partial, old_ready, err;
	int inplace;         /* za is old's unwritten extent, claimed (D7) */
	int ovl;             /* write the pieces as overlays (len = n bytes at za) */
	uint32_t ovmask;     /* overlays merged into data in phase A (D4 checks them) */
	uint64_t ovaddr[NPIECE];
};

/* (D4) for a merge: the overlays are still those phase A merged. */
static int ovl_same(const struct wblk *b, const struct ovl *o)
{
	unsigned p;

	if (o->mask != b->ovmask)
		return 0;
	for (p = 0; p < NPIECE; p++)
		if ((o->mask & (1u << p)) && o->r[p].addr != b->ovaddr[p])
			return 0;
	return 1;
}

/* Phase C of an overlay write: the pieces' bytes into the cache, one
 * record each (replacing an overlay of the same piece).  On an error the
 * pieces not referenced yet are freed here. */
static int ovl_commit(struct hfs_fs *fs, struct hfs_inode *ip, struct wblk *b)
{
	unsigned j, np = b->len / HFS_BLKSIZE, p0 = (unsigned)(b->in / HFS_BLKSIZE);
	struct ovl o;
	int ret = small_write(fs, hfs_raw(b->za), b->data, b->len);

	if (!ret)
		ret = ovl_get(fs, ip->ino, b->fbo, &o);
	for (j = 0; j < np && !ret; j++) {
		unsigned p = p0 + j;
		struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATAOVL, b->fbo + p * HFS_BLKSIZE);
		struct hfs_data_ondisk d;

		memset(&d, 0, sizeof(d));
		d.d_addr = hfs_tole64(b->za + j * HFS_BLKSIZE);
		d.d_len = hfs_tole32(HFS_BLKSIZE);
		d.d_crc = hfs_tole32(crc_of(b->data + j * HFS_BLKSIZE, HFS_BLKSIZE));
		if (o.mask & (1u << p)) {
			ret = hfs_bt_update(fs, &k, &d, sizeof(d));
			if (!ret) {
				ret = hfs_free(fs, o.r[p].addr, HFS_BLKSIZE);
				if (ret)
					j++;   /* referenced all the same */
			}
		} else {
			ret = hfs_bt_insert(fs, &k, &d, sizeof(d));
			if (!ret)
				ip->blocks += HFS_BLKSIZE / 512;
		}
		if (ret)
			break;
	}
	if (ret && j < np)
		hfs_free(fs, b->za + j * HFS_BLKSIZE, (np - j) * HFS_BLKSIZE);
	b->za = 0;
	return ret;
}

/* The old, fully locked way for one partial block: read, merge, store.
 * Used when a block changed between phases A and C (D4). */
static int write_partial_locked(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, size_t in,
				const uint8_t *src, size_t n, uint8_t *scratch)
{
	struct rec r;
	uint32_t keep;
	int ret = rec_get(fs, ip->ino, fbo, &r);

	if (ret)
		return ret;
	memset(scratch, 0, HFS_FBLOCK);
	if (r.present && (ret = block_read(fs, ip->ino, fbo, &r, scratch)) != 0)
		return ret;
	memcpy(scratch + in, src, n);
	keep = (uint32_t)((in + n + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE);
	if (r.present && r.len > keep)
		keep = r.len;
	return block_store(fs, ip, fbo, scratch, keep, &r);
}

/* Phase C for one block (fs->lock held): point the record at the new
 * extent, free what it pointed to.  1 = redo locked (D4), 0, -errno. */
static int wblk_commit(struct hfs_fs *fs, struct hfs_inode *ip, struct wblk *b)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_DATA, b->fbo);
	struct hfs_data_ondisk d;
	struct rec cur;
	int ret = rec_get(fs, ip->ino, b->fbo, &cur);

	if (ret)
		return ret;
	if (b->inplace) {
		/* the extent is the record's, never ours to free */
		uint64_t za = b->za;

		b->za = 0;
		if (!cur.present || cur.addr != za || !(cur.flags & HFS_DATAF_ZERO))
			return 1;   /* punched (the extent waits in pending) or replaced */
		b->za = za;
	} else if (b->partial && (cur.present != b->old.present || cur.addr != b->old.addr ||
				  cur.len != b->old.len || cur.flags != b->old.flags ||
				  cur.crc != b->old.crc)) {
		/* flags and crc too: an unwritten block filled in place keeps
		 * its address and length */
		return 1;
	}
	if (b->ovl)
		return ovl_commit(fs, ip, b);
	if (b->partial && ovl_capable(&cur)) {
		struct ovl o;

		ret = ovl_get(fs, ip->ino, b->fbo, &o);
		if (ret)
			return ret;
		if (!ovl_same(b, &o))
			return 1;   /* (D4): an overlay came or went since phase A */
	}
	if (hfs_zone_of(b->za) == HFS_ZONE_SMALL) {
		/* cached DATA buffers are changed with fs->lock held only */
		ret = small_write(fs, hfs_raw(b->za), b->data, b->len);
		if (ret)
			return ret;
	}
	memset(&d, 0, sizeof(d));
	d.d_addr = hfs_tole64(b->za);
	d.d_len = hfs_tole32(b->len);
	d.d_crc = hfs_tole32(b->crc);
	ret = cur.present ? hfs_bt_update(fs, &k, &d, sizeof(d)) : hfs_bt_insert(fs, &k, &d, sizeof(d));
	if (ret && b->inplace)
		b->za = 0;   /* still the unwritten record's */
	if (ret)
		return ret;
	b->za = 0;   /* referenced now */
	if (b->inplace)
		return 0;   /* the same extent and length: i_blocks unchanged */
	ip->blocks += b->len / 512;
	if (cur.present) {
		ip->blocks -= cur.len / 512;
		ret = hfs_free(fs, cur.addr, cur.len);
		/* a whole block replaces its overlays; a merge included them */
		if (!ret && ovl_capable(&cur))
			ret = ovl_drop(fs, ip, b->fbo);
	}
	return ret;
}

/* One batch of up to BATCH_MAX consecutive blocks of [off+done, off+len).
 * Returns the bytes written (all of the batch's) or -errno; on an error
 * the blocks before the failed one are written and referenced. */
static ssize_t write_batch(struct hfs_fs *fs, struct hfs_inode *ip, const uint8_t *src, size_t len,
			   uint64_t off, size_t done, uint8_t *stage, int *changed)
{
	struct batch_wait rw = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct batch_wait ww = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct wblk bl[BATCH_MAX];
	struct rio rio[BATCH_MAX];
	size_t start = done, wrote = 0;
	uint64_t blocks_c;
	int nb = 0, i, ret = 0, reads = 0;

	memset(bl, 0, sizeof(bl));
	*changed = 0;
	/* phase A: old records, new extents */
	while (done < len && nb < BATCH_MAX) {
		uint64_t pos = off + done, fbo = pos - pos % HFS_FBLOCK, in = pos - fbo;
		size_t n = HFS_FBLOCK - in;
		struct wblk *b = &bl[nb];

		if (n > len - done)
			n = len - done;
		b->fbo = fbo;
		b->at = done;
		b->in = in;
		b->n = n;
		b->data = stage + (size_t)nb * HFS_FBLOCK;
		b->partial = !(in == 0 && n == HFS_FBLOCK);
		ret = rec_get(fs, ip->ino, fbo, &b->old);
		if (ret)
			break;
		b->len = HFS_FBLOCK;
		if (rec_inplace(&b->old) && inplace_claim(fs, ip->ino, fbo)) {
			/* (D7): into the unwritten extent itself; it reads as
			 * zeros, so a partial write merges with zeros */
			if (b->partial)
				memset(b->data, 0, HFS_FBLOCK);
			b->old_ready = 1;
			b->inplace = 1;
			b->za = b->old.addr;
			nb++;
			done += n;
			continue;
		}
		if (b->partial && b->old.present && (b->old.flags & HFS_DATAF_ZERO)) {
			/* unwritten, claimed by another writer: copy on write,
			 * merging with zeros (its bytes are not data) */
			memset(b->data, 0, HFS_FBLOCK);
			b->old_ready = 1;
		}
		if (b->partial && ovl_capable(&b->old)) {
			struct ovl o;
			unsigned p, fresh = 0;

			ret = ovl_get(fs, ip->ino, fbo, &o);
			if (ret)
				break;
			for (p = (unsigned)(in / HFS_BLKSIZE); p < (in + n + HFS_BLKSIZE - 1) / HFS_BLKSIZE; p++)
				fresh += !(o.mask & (1u << p));
			if (in % HFS_BLKSIZE == 0 && n % HFS_BLKSIZE == 0 && o.n + fresh <= HFS_OVL_MAX) {
				/* whole pieces: overlays, no read and rewrite of the block */
				b->ovl = 1;
				b->len = (uint32_t)n;
				ret = hfs_alloc(fs, HFS_ZONE_SMALL, b->len, &b->za);
				if (ret)
					break;
				nb++;
				done += n;
				continue;
			}
			if (o.n) {
				/* merge: the block as the file sees it, now (overlays
				 * live in the cache); phase C checks they stayed (D4) */
				b->ovmask = o.mask;
				for (p = 0; p < NPIECE; p++)
					b->ovaddr[p] = o.r[p].addr;
				ret = block_read(fs, ip->ino, fbo, &b->old, b->data);
				if (ret)
					break;
				b->old_ready = 1;
			}
		}
		if (b->partial) {
			uint32_t keep = (uint32_t)((in + n + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE);

			if (b->old.present && b->old.len > keep)
				keep = b->old.len;
			b->len = keep;
			if (b->old.present && !b->old_ready && hfs_zone_of(b->old.addr) != HFS_ZONE_LARGE) {
				memset(b->data, 0, HFS_FBLOCK);
				ret = rec_read(fs, ip->ino, fbo, &b->old, b->data);
				if (ret)
					break;
				b->old_ready = 1;
			}
		}
		ret = data_alloc(fs, &b->len, &b->za);   /* may make a part block whole */
		if (ret)
			break;
		nb++;
		done += n;
	}
	if (!nb)
		return ret;
	ret = 0;   /* what was prepared is written; a later call reports the error */
	pthread_mutex_unlock(&fs->lock);

	/* phase B: old LARGE blocks of partial writes, all at once */
	for (i = 0; i < nb; i++) {
		struct wblk *b = &bl[i];

		if (!b->partial || !b->old.present || b->old_ready || b->ovl)
			continue;
		rio[i].w = &rw;
		rio[i].err = &b->err;
		batch_add(&rw, 1);
		if (bc_direct_read_async(fs->bc, hfs_raw(b->old.addr), b->data, b->old.len, -1,
					 rio_done, &rio[i]) != 0) {
			batch_add(&rw, -1);
			b->err = -EIO;
		}
		reads++;
	}
	if (reads)
		(void)batch_wait_all(&rw);
	/* merge, CRC, write the LARGE ones */
	for (i = 0; i < nb; i++) {
		struct wblk *b = &bl[i];

		if (b->ovl) {
			memcpy(b->data, src + b->at, b->n);   /* CRCs per piece in phase C */
			continue;
		}
		if (b->partial) {
			if (!b->old.present) {
				memset(b->data, 0, HFS_FBLOCK);
			} else if (!b->old_ready) {
				if (b->err || crc_of(b->data, b->old.len) != b->old.crc) {
					b->err = rec_heal(fs, ip->ino, b->fbo, &b->old, b->data);
					if (b->err)
						break;
				}
				if (b->old.len < HFS_FBLOCK)
					memset(b->data + b->old.len, 0, HFS_FBLOCK - b->old.len);
			}
		}
		memcpy(b->data + b->in, src + b->at, b->n);
		b->crc = crc_of(b->data, b->len);
	}
	/* one device write per run of blocks that are contiguous on disk (the
	 * allocator hands out LARGE extents in order), so a 1 MiB request is
	 * one I/O, not sixteen */
	for (i = 0; i < nb; ) {
		struct wblk *b = &bl[i];
		int j = i + 1, k;

		if (b->err)
			break;
		if (hfs_zone_of(b->za) != HFS_ZONE_LARGE) {
			i++;
			continue;
		}
		while (j < nb && !bl[j].err && hfs_zone_of(bl[j].za) == HFS_ZONE_LARGE &&
		       bl[j].za == bl[j - 1].za + HFS_FBLOCK && bl[j].data == bl[j - 1].data + HFS_FBLOCK)
			j++;
		batch_add(&ww, 1);
		ret = bc_direct_write(fs->bc, hfs_raw(b->za), b->data, (size_t)(j - i) * HFS_FBLOCK,
				      batch_done, &ww);
		if (ret) {
			batch_add(&ww, -1);
			for (k = i; k < j; k++)
				bl[k].err = ret;
			ret = 0;
			break;
		}
		i = j;
	}
	/* the staging area must outlive every write of the batch */
	ret = batch_wait_all(&ww);
	pthread_mutex_lock(&fs->lock);

	/* phase C: records, in block order; a failure ends the batch there */
	{
		struct hfs_inode fresh;
		int lret = hfs_inode_load(fs, ip->ino, &fresh);

		if (!lret)
			*ip = fresh;   /* others may have changed it while we were unlocked */
		else if (!ret)
			ret = lret;
	}
	blocks_c = ip->blocks;
	for (i = 0; i < nb; i++) {
		struct wblk *b = &bl[i];
		int r = ret ? ret : b->err;

		if (b->inplace) {
			/* fs->lock is held from here to the record update */
			inplace_release(fs, ip->ino, b->fbo);
			if (r)
				b->za = 0;   /* the record's extent: never freed here */
		}
		if (!r) {
			r = wblk_commit(fs, ip, b);
			if (r == 1) {
				/* (D4): the block changed since phase A; redo it locked */
				uint8_t *scratch;

				r = posix_memalign((void **)&scratch, 4096, HFS_FBLOCK) ? -ENOMEM :
				    write_partial_locked(fs, ip, b->fbo, b->in, src + b->at, b->n, scratch);
				if (r != -ENOMEM)
					free(scratch);
			}
		}
		if (r && !ret)
			ret = r;
		if (b->za)
			hfs_free(fs, b->za, b->len);   /* not referenced: give it back */
		if (!ret) {
			wrote = b->at + b->n - start;
			if (off + b->at + b->n > ip->size)
				ip->size = off + b->at + b->n;
		}
	}
	*changed = ip->blocks != blocks_c;
	return wrote ? (ssize_t)wrote : ret;
}

int64_t hfs_file_write_need(struct hfs_fs *fs, const struct hfs_inode *ip, uint64_t off, size_t len)
{
	uint64_t fbo, end = off + len;
	int64_t need = 0;

	if (!len)
		return 0;
	for (fbo = off - off % HFS_FBLOCK; fbo < end; fbo += HFS_FBLOCK) {
		struct rec r;
		int ret = rec_get(fs, ip->ino, fbo, &r);

		if (ret)
			return ret;
		if (!rec_inplace(&r) || inplace_find(fs, ip->ino, fbo) >= 0)
			need += HFS_FBLOCK;
	}
	return need;
}

/* fs->lock held on entry and on return (dropped in between). */
ssize_t hfs_file_write(struct hfs_fs *fs, struct hfs_inode *ip, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *src = buf;
	uint8_t *stage;
	size_t done = 0;
	ssize_t n = 0;
	int changed = 0;

	if (off >= HFS_MAX_FILE_SIZE || len > HFS_MAX_FILE_SIZE - off)
		return -EFBIG;
	stage = stage_get();
	if (!stage)
		return -ENOMEM;
	/* the caller's copy is current on return: loaded again when entering
	 * waited, else by every batch's phase C */
	if (data_enter(fs) && (n = hfs_inode_load(fs, ip->ino, ip)) != 0) {
		data_leave(fs);
		return n;
	}
	while (done < len) {
		n = write_batch(fs, ip, src, len, off, done, stage, &changed);
		if (n <= 0) {
			/* blocks replaced before a failure: nothing written to
			 * report, so store them here (the caller stores only
			 * after a write that returns > 0) */
			if (changed && !done) {
				int r = hfs_inode_store(fs, ip);

				n = r ? r : n;
			}
			break;
		}
		done += (size_t)n;
		/* the next batch's phase C loads the inode again (others change
		 * it while fs->lock is dropped): this batch's blocks and size
		 * must be in the tree by then, or that load drops them */
		if (done < len && (n = hfs_inode_store(fs, ip)) != 0)
			break;
	}
	data_leave(fs);
	if (done) {
		hfs_now(&ip->mtime);
		ip->ctime = ip->mtime;
	}
	return done ? (ssize_t)done : (n < 0 ? n : 0);
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
	if (r.flags & HFS_DATAF_ZERO)
		return 0;   /* unwritten: its tail reads as zeros already */
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
