/*
 * file.c — reads and writes of file data: one DATA record per 64 KiB file
 * block (holes have none), always copy-on-write (crash rule 3 in
 * hfs_int.h).  The record layer is block.c; truncate, punch, fallocate
 * and seek are file_space.c.
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
 * HFS_OVL_MAX overlays on a block, the block changes kind.  A CRC4K base
 * becomes a pieces record: its pieces, its overlays and the write's, each
 * of whose CRCs is known, so nothing is read or moved and the base's
 * superseded pieces are freed.  Another base merges: the block is read
 * with its overlays, stored whole in fresh space, and the overlays are
 * dropped in the same operation.  Every path that replaces or drops a
 * base drops its overlays with it (ovl_drop), so an overlay never
 * outlives its base.
 *
 * fallocate stores unwritten records (HFS_DATAF_ZERO): a LARGE extent that
 * is allocated but never written, which reads as zeros whatever its bytes
 * are.  The first write of such a block goes into its extent in place
 * (D7), so a write into preallocated space needs no new space (xfstests
 * generic/274): the committed state can only hold that extent as
 * unwritten, so a crash before the commit still reads zeros there.
 *
 * Pieces records (pieces.c): a block that finds no contiguous extent in
 * phase A, one whose overlays are full (above), and a partial write into
 * a block already stored as pieces, is written in phase C with fs->lock
 * held ("locked"), piece by piece, into any free 4 KiB blocks.  Reads of a pieces block read its pieces in
 * phase A.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include "fs/block.h"

/* Aligned staging memory of one thread for the blocks of a write batch
 * that merge with old bytes (partial blocks, overlays), or whose data is
 * not page-aligned in the caller's buffer: one copy here is cheaper than a
 * bounce buffer per mirror leg below. */
static uint8_t *stage_get(void)
{
	return hfs_iobuf_local(HFS_IOBUF_STAGE, (size_t)BATCH_MAX * HFS_FBLOCK);
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
	int pieces_b;        /* a pieces block: its LARGE pieces are read in phase B */
	unsigned p0, p1;     /* p1 > 0: a CRC4K block of which only pieces [p0, p1) are read */
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
	size_t done = 0, nb, i, next, good, issued = 0;
	int ret = 0, aret, large = 0;

	/* held part blocks are stored first (held.c (H1)) */
	ret = len ? hfs_held_before(fs, ip, off, off + len, -1) : 0;
	if (ret)
		return ret;
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
		if (rec_pieces(&b->r)) {
			/* 4 KiB pieces (pieces.c) this read covers, each
			 * verified: those in SMALL space now (the cache), those
			 * in LARGE space in phase B (direct reads) */
			if (posix_memalign((void **)&b->scratch, 4096, HFS_FBLOCK)) {
				ret = -ENOMEM;
				break;
			}
			b->dst = b->scratch;
			b->err = pieces_read_part(fs, ip->ino, fbo, &b->r, b->dst, in, in + n, PIECES_SMALL);
			b->r.present = 2;
			b->pieces_b = 1;
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
		if (rec_crc4k(&b->r) && !(in == 0 && n == HFS_FBLOCK)) {
			/* (C2 in block.c): only the pieces this read meets, less
			 * those overlays supersede at either end (not all of
			 * them: that case read no base above) */
			b->p0 = (unsigned)(in / HFS_BLKSIZE);
			b->p1 = (unsigned)((in + n - 1) / HFS_BLKSIZE) + 1;
			while (b->ovmask & (1u << b->p0))
				b->p0++;
			while (b->ovmask & (1u << (b->p1 - 1)))
				b->p1--;
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
			b->err = b->p1 ? rec_read_part(fs, ip->ino, fbo, &b->r, b->dst,
						      b->p0 * HFS_BLKSIZE, b->p1 * HFS_BLKSIZE, b->ovmask) :
			         rec_read(fs, ip->ino, fbo, &b->r, b->dst);
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
		size_t j = i + 1, skip, rlen;

		if (b->r.present != 1) {
			i++;
			continue;
		}
		if (b->dst == out + b->at)
			while (j < nb && bl[j].r.present == 1 && bl[j].dst == out + bl[j].at &&
			       bl[j].r.addr == bl[j - 1].r.addr + HFS_FBLOCK)
				j++;
		/* a CRC4K block read in part: its pieces [p0, p1) only */
		skip = b->p1 ? (size_t)b->p0 * HFS_BLKSIZE : 0;
		rlen = b->p1 ? (size_t)(b->p1 - b->p0) * HFS_BLKSIZE : (j - i - 1) * HFS_FBLOCK + b->r.len;
		b->run = j - i;
		for (next = j; next < nb && bl[next].r.present != 1; next++)
			;
		if (!issued && next == nb) {
			/* the read's only I/O: waited for on this thread (raid/
			 * runs a lone read here), no completion hand-back */
			b->err = bc_direct_read(fs->bc, hfs_raw(b->r.addr) + skip, b->dst + skip, rlen, -1);
			break;   /* an error is retried below, copy by copy */
		}
		issued++;
		rio[i].w = &w;
		rio[i].err = &b->err;
		batch_add(&w, 1);
		if (bc_direct_read_async(fs->bc, hfs_raw(b->r.addr) + skip, b->dst + skip, rlen, -1, rio_done,
					 &rio[i]) != 0) {
			batch_add(&w, -1);
			b->err = -EIO;   /* retried below, copy by copy */
		}
		i = j;
	}
	if (issued)
		(void)batch_wait_all(&w);
	for (i = 0; i < nb; i++) {
		size_t k;

		for (k = 1; k < bl[i].run; k++)
			bl[i + k].err = bl[i].err;   /* a run's error is every member's */
	}
	for (i = 0, good = 0; i < nb; i++) {
		struct rblk *b = &bl[i];

		if (b->pieces_b && !b->err) {
			uint64_t fbo = (off + b->at) - (off + b->at) % HFS_FBLOCK;

			b->err = pieces_read_part(fs, ip->ino, fbo, &b->r, b->dst, b->in, b->in + b->n,
						  PIECES_LARGE);
		}

		if (b->r.present == 1) {
			uint64_t fbo = (off + b->at) - (off + b->at) % HFS_FBLOCK;

			if (b->p1)
				b->err = crc4k_check(fs, ip->ino, fbo, &b->r, b->dst, b->p0, b->p1,
						     b->ovmask, b->err);
			else if (b->err || crc_of(b->dst, b->r.len) != b->r.crc)
				b->err = rec_heal(fs, ip->ino, fbo, &b->r, b->dst);
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
	int crc4k;           /* the new record is CRC4K: pcrc holds its pieces' CRCs */
	uint32_t pcrc[NPIECE];
	size_t at, in, n;    /* bytes src[at, at+n) go to block offset in */
	struct rec old;      /* the record seen in phase A */
	uint8_t *data;       /* len bytes in the staging area */
	int partial, old_ready, err;
	int inplace;         /* za is old's unwritten extent, claimed (D7) */
	int ovl;             /* write the pieces as overlays (len = n bytes at za) */
	int locked;          /* stored in phase C with fs->lock held, as pieces:
			      * 1 a pieces block, 2 no contiguous extent free,
			      * 3 a CRC4K block whose overlays are full */
	uint32_t ovmask;     /* overlays merged into data (D4 checks them) */
	uint64_t ovaddr[NPIECE];
	struct ovmerge *om;  /* a merge over a LARGE base, read in phase B */
	struct hfs_held *hold;   /* its bytes went into this held entry (held.c) */
	uint32_t hold_gen;
	int claimed;         /* the entry is whole: data holds it, za is its extent */
};

/* A merge's overlays: copied from the cache in phase A, or read from the
 * device in phase B with fs->lock dropped (a merge of eight overlays the
 * cache no longer holds was eight synchronous reads with every other
 * write waiting).  Their extents stay as they are until phase C: no
 * commit runs inside a data section, and frees wait for a commit. */
struct ovmerge {
	uint8_t data[HFS_FBLOCK];   /* first: 4 KiB-aligned for direct reads */
	uint32_t crc[NPIECE];
	uint32_t miss;              /* pieces to read in phase B */
	int err[NPIECE];
	struct rio rio[NPIECE];
};

static int ovl_stage(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct ovl *o,
		     struct ovmerge *om)
{
	unsigned p;
	int ret;

	om->miss = 0;
	for (p = 0; p < NPIECE; p++) {
		uint8_t *dst = om->data + p * HFS_BLKSIZE;

		if (!(o->mask & (1u << p)))
			continue;
		om->crc[p] = o->r[p].crc;
		ret = bc_peek(fs->bc, hfs_raw(o->r[p].addr), dst, HFS_BLKSIZE);
		if (ret == -ENOENT) {
			om->miss |= 1u << p;
			continue;
		}
		if (!ret && crc_of(dst, HFS_BLKSIZE) == o->r[p].crc)
			continue;
		/* a bad cached copy: the self-healing read, now */
		ret = rec_read(fs, ino, fbo + p * HFS_BLKSIZE, &o->r[p], dst);
		if (ret)
			return ret;
	}
	return 0;
}

/* Phase B: start the reads of the overlays phase A did not find cached
 * (completions counted in rw, errors in om->err). */
static void ovl_fetch(struct hfs_fs *fs, const struct wblk *b, struct batch_wait *rw)
{
	struct ovmerge *om = b->om;
	unsigned p;

	for (p = 0; p < NPIECE; p++) {
		if (!(om->miss & (1u << p)))
			continue;
		om->err[p] = 0;
		om->rio[p].w = rw;
		om->rio[p].err = &om->err[p];
		batch_add(rw, 1);
		if (bc_direct_read_async(fs->bc, hfs_raw(b->ovaddr[p]), om->data + p * HFS_BLKSIZE,
					 HFS_BLKSIZE, -1, rio_done, &om->rio[p]) != 0) {
			batch_add(rw, -1);
			om->err[p] = -EIO;
		}
	}
}

/* Phase B: lay the overlays over the base just read.  0, or 1 when one
 * read from the device failed or does not match its CRC: the block is
 * then done again in phase C with fs->lock held (which heals it). */
static int ovl_lay(struct wblk *b)
{
	struct ovmerge *om = b->om;
	unsigned p;

	for (p = 0; p < NPIECE; p++) {
		const uint8_t *src = om->data + p * HFS_BLKSIZE;

		if (!(b->ovmask & (1u << p)))
			continue;
		if ((om->miss & (1u << p)) && (om->err[p] || crc_of(src, HFS_BLKSIZE) != om->crc[p]))
			return 1;
		memcpy(b->data + p * HFS_BLKSIZE, src, HFS_BLKSIZE);
	}
	return 0;
}

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

/* The old, fully locked way for one block: read, merge, store.  Used when
 * a block changed between phases A and C (D4), for pieces blocks, and
 * (as_pieces) when phase A found no contiguous extent (block_store stores
 * pieces) or full overlays on a CRC4K block. */
static int write_partial_locked(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, size_t in,
				const uint8_t *src, size_t n, uint8_t *scratch, int as_pieces)
{
	int whole = in == 0 && n == HFS_FBLOCK;
	struct rec r;
	uint32_t keep;
	int ret = rec_get(fs, ip->ino, fbo, &r);

	if (ret)
		return ret;
	/* only the pieces it touches: into a pieces block, and when no
	 * extent is free (the other pieces need no new space then) */
	if (!whole && (rec_pieces(&r) || (as_pieces && !(r.present && (r.flags & HFS_DATAF_ZERO)))))
		return pieces_write(fs, ip, fbo, &r, in, src, n);
	memset(scratch, 0, HFS_FBLOCK);
	if (r.present && !whole && (ret = block_read(fs, ip->ino, fbo, &r, scratch)) != 0)
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
	struct hfs_crc4k_ondisk v;
	struct rec cur;
	size_t vlen;
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
	vlen = data_encode(b->za, b->len, b->crc, b->crc4k ? b->pcrc : NULL, &v);
	if (b->inplace && b->crc4k) {
		/* filled in place (D7): CRC4K only with B-tree space for the
		 * larger record beyond the writeback reserve; else the record
		 * keeps its 24 bytes (updated in its slot), so a write into
		 * fallocated space on a full volume needs no node (xfstests
		 * generic/274).  hfs_bt_update takes a split's nodes before
		 * it changes anything: its ENOSPC leaves the record as it was. */
		bool keep = fs->keep_reserve;

		fs->keep_reserve = true;
		ret = hfs_bt_update(fs, &k, &v, vlen);
		fs->keep_reserve = keep;
		if (ret == -ENOSPC)
			ret = hfs_bt_update(fs, &k, &v, data_encode(b->za, b->len, b->crc, NULL, &v));
	} else {
		ret = cur.present ? hfs_bt_update(fs, &k, &v, vlen) : hfs_bt_insert(fs, &k, &v, vlen);
	}
	if (ret && b->inplace)
		b->za = 0;   /* still the unwritten record's */
	if (ret)
		return ret;
	b->za = 0;   /* referenced now */
	if (b->inplace)
		return 0;   /* the same extent and length: i_blocks unchanged */
	ip->blocks += b->len / 512;
	/* a whole block replaces its overlays (or pieces); a merge included them */
	return rec_release(fs, ip, b->fbo, &cur);
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
	int nb = 0, i, ret = 0, reads = 0, used = 0;

	*changed = 0;
	/* phase A: old records, new extents */
	while (done < len && nb < BATCH_MAX) {
		uint64_t pos = off + done, fbo = pos - pos % HFS_FBLOCK, in = pos - fbo;
		size_t n = HFS_FBLOCK - in;
		struct wblk *b = &bl[nb];

		if (n > len - done)
			n = len - done;
		/* entries as they are taken: a 4 KiB write cleared all 32
		 * (10 KiB) for the one it uses */
		memset(b, 0, sizeof(*b));
		used = nb + 1;   /* the one phase A may stop at included */
		b->fbo = fbo;
		b->at = done;
		b->in = in;
		b->n = n;
		b->data = stage + (size_t)nb * HFS_FBLOCK;
		b->partial = !(in == 0 && n == HFS_FBLOCK);
		b->crc4k = crc4k_wanted(fs);   /* the header is read with fs->lock held */
		ret = rec_get(fs, ip->ino, fbo, &b->old);
		if (ret)
			break;
		b->len = HFS_FBLOCK;
		{
			/* a part block of a large write over a hole or an
			 * unwritten record waits in memory for the write that
			 * completes it (held.c): written then as one whole block,
			 * in order with its neighbours */
			int unwr = rec_inplace(&b->old) && inplace_find(fs, ip->ino, fbo) < 0;
			int create = b->partial && len >= HFS_FBLOCK && (!b->old.present || unwr);
			int h = create || fs->nheld ?
				held_put(fs, ip->ino, fbo, unwr ? b->old.addr : 0, in, src + done, n, create,
					 &b->hold, &b->hold_gen) : 0;

			if (h < 0) {
				ret = h;
				break;
			}
			if (h == 2) {
				b->claimed = 1;
				b->partial = 0;
				b->inplace = held_inplace(b->hold);
				b->old_ready = 1;
				b->za = held_za(b->hold);
				memcpy(b->data, held_buf(b->hold), HFS_FBLOCK);
			}
			if (h) {
				nb++;
				done += n;
				continue;
			}
		}
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
		if (b->partial && rec_pieces(&b->old)) {
			b->locked = 1;   /* the pieces it touches, in phase C */
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
				if (ret == -ENOSPC) {
					/* no run of n free: pieces in phase C */
					b->ovl = 0;
					b->len = 0;
					b->za = 0;
					b->locked = 2;
					ret = 0;
				}
				if (ret)
					break;
				nb++;
				done += n;
				continue;
			}
			if (in % HFS_BLKSIZE == 0 && n % HFS_BLKSIZE == 0 && rec_crc4k(&b->old)) {
				/* overlays full, whole pieces over a CRC4K base:
				 * the block becomes pieces in phase C (its base,
				 * its overlays and the new ones, each CRC known),
				 * instead of a merge that reads and rewrites it */
				b->locked = 3;
				nb++;
				done += n;
				continue;
			}
			if (o.n) {
				/* merge: the block as the file sees it; phase C
				 * checks the overlays stayed (D4) */
				b->ovmask = o.mask;
				for (p = 0; p < NPIECE; p++)
					b->ovaddr[p] = o.r[p].addr;
				if (hfs_zone_of(b->old.addr) == HFS_ZONE_LARGE) {
					/* the base and what the cache lacks of the
					 * overlays in phase B (struct ovmerge) */
					ret = posix_memalign((void **)&b->om, 4096, sizeof(*b->om)) ? -ENOMEM :
					      ovl_stage(fs, ip->ino, fbo, &o, b->om);
					if (ret) {
						free(b->om);
						b->om = NULL;
						break;
					}
				} else {
					ret = block_read(fs, ip->ino, fbo, &b->old, b->data);
					if (ret)
						break;
					b->old_ready = 1;
				}
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
		if (ret == -ENOSPC) {
			/* no contiguous extent free: 4 KiB pieces, in phase C */
			b->len = 0;
			b->za = 0;
			b->locked = 2;
			ret = 0;
		}
		if (ret)
			break;
		nb++;
		done += n;
	}
	if (!nb) {
		if (used)
			free(bl[0].om);
		return ret;
	}
	ret = 0;   /* what was prepared is written; a later call reports the error */
	pthread_mutex_unlock(&fs->lock);

	/* phase B: old LARGE blocks of partial writes, all at once */
	for (i = 0; i < nb; i++) {
		struct wblk *b = &bl[i];

		if (!b->partial || !b->old.present || b->old_ready || b->ovl || b->locked)
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
		if (b->om)
			ovl_fetch(fs, b, &rw);
	}
	if (reads)
		(void)batch_wait_all(&rw);
	/* merge, CRC, write the LARGE ones */
	for (i = 0; i < nb; i++) {
		struct wblk *b = &bl[i];

		if (b->locked || (b->hold && !b->claimed))
			continue;   /* all of it in phase C, or held */
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
				if (b->om && ovl_lay(b)) {
					b->locked = 1;   /* not written here */
					continue;
				}
			}
		}
		if (b->claimed) {
			/* data is the entry's whole block, copied in phase A */
		} else if (!b->partial && ((uintptr_t)(src + b->at) & (HFS_BLKSIZE - 1)) == 0) {
			/* a whole block, aligned in the request (fuse_loop.c
			 * places it so): written from there, not copied; the
			 * device only reads it */
			b->data = (uint8_t *)(uintptr_t)(src + b->at);
		} else {
			memcpy(b->data + b->in, src + b->at, b->n);
		}
		/* a block filled in place (D7) too: phase C falls back to its
		 * 24-byte record where the larger one finds no B-tree space */
		b->crc4k = b->crc4k && b->len == HFS_FBLOCK;
		b->crc = b->crc4k ? crc4k_sum(b->data, b->pcrc) : crc_of(b->data, b->len);
	}
	/* one device write per run of blocks that are contiguous on disk (the
	 * allocator hands out LARGE extents in order), so a 1 MiB request is
	 * one I/O, not sixteen */
	for (i = 0; i < nb; ) {
		struct wblk *b = &bl[i];
		int j = i + 1, k;

		if (b->err)
			break;
		if (hfs_zone_of(b->za) != HFS_ZONE_LARGE || b->locked) {
			i++;
			continue;
		}
		while (j < nb && !bl[j].err && hfs_zone_of(bl[j].za) == HFS_ZONE_LARGE &&
		       !bl[j].locked && bl[j].za == bl[j - 1].za + HFS_FBLOCK &&
		       bl[j].data == bl[j - 1].data + HFS_FBLOCK)
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
		if (b->hold) {
			/* a claimed block is committed only if no write went
			 * into its entry since (H4); else, and on a failure, the
			 * entry keeps its bytes and extent for a settle */
			int claimed = b->claimed, ref = 0;

			if (!r && claimed && held_current(b->hold, b->hold_gen)) {
				int inplace = b->inplace;

				r = wblk_commit(fs, ip, b);
				/* a fill in place is referenced when it succeeds; a
				 * fresh extent once the record points at it (za 0) */
				ref = inplace ? !r : b->za == 0;
				if (r == 1) {
					ref = 1;   /* the entry is wrong: dropped */
					r = HFS_CORRUPT("block %llu of inode %llu: held, and its record changed (H1)",
							(unsigned long long)b->fbo, (unsigned long long)ip->ino);
				}
			}
			b->za = 0;   /* referenced, or still the entry's */
			held_release(fs, b->hold, claimed, ref);
		} else if (!r && fs->nheld && held_absorb(fs, ip->ino, b->fbo, b->in, src + b->at, b->n)) {
			/* (H1) held since phase A: no record, the entry has it */
			if (b->inplace)
				b->za = 0;   /* the unwritten record's */
		} else if (!r) {
			r = b->locked ? 1 : wblk_commit(fs, ip, b);
			if (r == 1) {
				/* (D4): the block changed since phase A; redo it
				 * locked.  And blocks phase A left to this */
				uint8_t *scratch;

				r = posix_memalign((void **)&scratch, 4096, HFS_FBLOCK) ? -ENOMEM :
				    write_partial_locked(fs, ip, b->fbo, b->in, src + b->at, b->n, scratch,
							 b->locked >= 2);
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
	for (i = 0; i < used; i++)
		free(bl[i].om);   /* the one phase A stopped at too */
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
		/* a held block has its space (an extent taken when it was
		 * held, or its unwritten record's) */
		if ((!rec_inplace(&r) || inplace_find(fs, ip->ino, fbo) >= 0) &&
		    !held_exists(fs, ip->ino, fbo))
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
