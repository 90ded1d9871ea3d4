/*
 * held.c — held part blocks: a large write's part block over a hole stays
 * in memory until a later write completes it, so a sequential writeback
 * lays its blocks out in order (docs/DESIGN.md "Held part blocks").
 *
 * The kernel's writeback WRITEs start wherever its flusher began, so most
 * end inside a 64 KiB block.  Stored at once, that part block went to
 * SMALL space and the next WRITE copied it on write, merged, somewhere
 * else.  Instead the write that leaves a part block over a hole (no
 * record) takes a LARGE extent for it in its own allocation order and
 * keeps the bytes here; the write that completes the block writes it into
 * that extent with its other blocks, as one whole block.
 *
 * Invariants (fs->lock guards everything here):
 *  (H1) A block with a live entry has no DATA record (over an unwritten
 *       one: that record, unchanged), and every write to it goes into the
 *       entry's buffer, also one whose phase A came before the entry
 *       (held_absorb in its phase C); every other operation on the block
 *       (read, fallocate, punch, seek) settles the entry first, truncate
 *       drops or trims it.
 *  (H2) An entry is busy while a writer that put bytes into it is
 *       between its phases A and C (the writer updates the size in phase
 *       C); settling waits until it is not, so it never stores a block
 *       whose size the writer has not set yet.
 *  (H3) A commit holds no entry: flush_locked settles all after the data
 *       sections drained (no entry is busy then), so every commit is the
 *       state of the writes acknowledged before it, as without holding,
 *       and no allocated extent is left unreferenced (D1).
 *  (H4) A claimed entry is being written whole by one writer; a write
 *       merged into it meanwhile bumps gen, and the claimer then leaves
 *       the entry unclaimed (its bytes are newer than the claimer's copy)
 *       for a settle to store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/block.h"
#include "fs/dir.h"

#define NWORD (HFS_FBLOCK / 64)   /* coverage bitmap: one bit per byte */

struct hfs_held {
	uint64_t ino, fbo;
	uint64_t za;                 /* its LARGE extent, allocated when held over a hole */
	uint64_t addr;               /* held over an unwritten record: that record's extent
				      * (filled in place, D7); za is 0 then */
	uint64_t mask[NWORD];        /* bytes written (whole: all set) */
	uint32_t hi;                 /* every written byte is below hi */
	uint32_t gen;                /* bumped by each write put into it */
	int busy;                    /* writers between phases A and C (H2) */
	int claimed;                 /* one of them writes it whole (H4) */
	int done;                    /* its record exists: freed when not busy */
	uint8_t *buf;                /* HFS_FBLOCK bytes, zeros where unwritten */
};

void hfs_held_init(struct hfs_fs *fs)
{
	fs->nheld = 0;
	pthread_cond_init(&fs->held_cv, NULL);
}

static void entry_free(struct hfs_fs *fs, int i)
{
	struct hfs_held *e = fs->held[i];

	free(e->buf);
	free(e);
	fs->held[i] = fs->held[--fs->nheld];
}

/* Entries left at unmount are those a failed (read-only) volume could not
 * store: uncommitted data, lost as the rest of the group is. */
void hfs_held_fini(struct hfs_fs *fs)
{
	while (fs->nheld)
		entry_free(fs, fs->nheld - 1);
	pthread_cond_destroy(&fs->held_cv);
}

static int find(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	int i;

	for (i = 0; i < fs->nheld; i++)
		if (fs->held[i]->ino == ino && fs->held[i]->fbo == fbo && !fs->held[i]->done)
			return i;
	return -1;
}

int held_exists(struct hfs_fs *fs, uint64_t ino, uint64_t fbo)
{
	return fs->nheld && find(fs, ino, fbo) >= 0;
}

static int whole(const struct hfs_held *e)
{
	unsigned i;

	if (e->hi < HFS_FBLOCK)
		return 0;   /* its last byte is not written: no need to look */
	for (i = 0; i < NWORD; i++)
		if (e->mask[i] != UINT64_MAX)
			return 0;
	return 1;
}

/* Bits [s, t) of the coverage bitmap to on. */
static void bits(uint64_t *m, size_t s, size_t t, int on)
{
	while (s < t) {
		size_t w = s / 64, b = s % 64, n = t - s < 64 - b ? t - s : 64 - b;
		uint64_t v = (n == 64 ? UINT64_MAX : ((1ull << n) - 1)) << b;

		m[w] = on ? m[w] | v : m[w] & ~v;
		s += n;
	}
}

/* Bytes from lim on are zeros now (EOF): their units are not written. */
static void cut(struct hfs_held *e, uint32_t lim)
{
	memset(e->buf + lim, 0, HFS_FBLOCK - lim);
	if (e->hi > lim)
		e->hi = lim;
	bits(e->mask, lim, HFS_FBLOCK, 0);
}

/* src[0, n) at offset in: a write's bytes, newer than a claimer's copy (H4) */
static void put_bytes(struct hfs_held *e, size_t in, const uint8_t *src, size_t n)
{
	memcpy(e->buf + in, src, n);
	bits(e->mask, in, in + n, 1);
	if (in + n > e->hi)
		e->hi = (uint32_t)(in + n);
	e->gen++;
}

/* Phase A (fs->lock held): put src[0, n) at offset in of block fbo.
 * 0: not held (the caller stores the block itself); 1: held, nothing to
 * write; 2: the entry is whole now and claimed by the caller, which
 * writes its buffer to its extent like any whole block.  The entry (*out)
 * is busy for the caller until held_release. */
int held_put(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, uint64_t addr, size_t in,
	     const uint8_t *src, size_t n, int may_create, struct hfs_held **out, uint32_t *gen)
{
	int i = fs->nheld ? find(fs, ino, fbo) : -1;
	struct hfs_held *e;

	if (i >= 0 && fs->held[i]->addr != addr)
		return HFS_CORRUPT("block %llu of inode %llu: held over %#llx, the record says %#llx (H1)",
				   (unsigned long long)fbo, (unsigned long long)ino,
				   (unsigned long long)fs->held[i]->addr, (unsigned long long)addr);
	if (i < 0) {
		if (!may_create || fs->opts.force_pieces || fs->opts.no_hold || fs->nheld == HFS_HELD_MAX)
			return 0;
		e = calloc(1, sizeof(*e));
		if (!e || posix_memalign((void **)&e->buf, 4096, HFS_FBLOCK)) {
			free(e);
			return 0;   /* stored the usual way */
		}
		/* over a hole, the extent now, in the writer's allocation
		 * order: the block lands between its neighbours whenever it
		 * is completed (an unwritten record has its own) */
		if (!addr && hfs_alloc(fs, HFS_ZONE_LARGE, HFS_FBLOCK, &e->za) != 0) {
			free(e->buf);
			free(e);
			return 0;
		}
		memset(e->buf, 0, HFS_FBLOCK);
		e->ino = ino;
		e->fbo = fbo;
		e->addr = addr;
		fs->held[fs->nheld++] = e;
	} else {
		e = fs->held[i];
	}
	put_bytes(e, in, src, n);
	e->busy++;
	*out = e;
	if (!e->claimed && whole(e)) {
		e->claimed = 1;
		*gen = e->gen;
		return 2;
	}
	return 1;
}

/* Phase C of a write whose phase A found no entry for block fbo (fs->lock
 * held): when one was made since, the write's bytes go into it instead of
 * a record (H1).  1 when they did, else 0.  Two writes in flight to one
 * block are concurrent, so either order of their bytes is right. */
int held_absorb(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, size_t in, const uint8_t *src,
		size_t n)
{
	int i = fs->nheld ? find(fs, ino, fbo) : -1;

	if (i < 0)
		return 0;
	put_bytes(fs->held[i], in, src, n);
	return 1;
}

const uint8_t *held_buf(const struct hfs_held *e) { return e->buf; }
uint64_t held_za(const struct hfs_held *e) { return e->addr ? e->addr : e->za; }
int held_inplace(const struct hfs_held *e) { return e->addr != 0; }
int held_current(const struct hfs_held *e, uint32_t gen) { return e->gen == gen; }

/* Phase C, for every block held_put returned 1 or 2 for, whatever the
 * outcome.  claimed: the caller wrote it whole; referenced: its record
 * now points at the extent (else the entry keeps extent and bytes). */
void held_release(struct hfs_fs *fs, struct hfs_held *e, int claimed, int referenced)
{
	int i;

	if (claimed) {
		e->claimed = 0;
		if (referenced)
			e->done = 1;
	}
	if (--e->busy == 0 && e->done) {
		for (i = 0; fs->held[i] != e; i++)
			;
		entry_free(fs, i);
	}
	pthread_cond_broadcast(&fs->held_cv);
}

/* The blocks an entry's bytes will take, in st_blocks units (what a
 * settle stores: the written bytes rounded to 4 KiB, or a whole block). */
uint64_t hfs_held_blocks(struct hfs_fs *fs, uint64_t ino)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < fs->nheld; i++) {
		const struct hfs_held *e = fs->held[i];

		if (e->ino == ino && !e->done && !e->addr)   /* an unwritten one is counted */
			n += whole(e) ? HFS_FBLOCK / 512 :
			     (e->hi + HFS_BLKSIZE - 1) / HFS_BLKSIZE * (HFS_BLKSIZE / 512);
	}
	return n;
}

/* Store one entry that is not busy, and free it.  A failure is the
 * file's write error (close and fsync report it, as for a failed
 * writeback) and loses the entry's bytes. */
static int settle_one(struct hfs_fs *fs, int i)
{
	struct hfs_held *e = fs->held[i];
	struct hfs_inode ip;
	struct rec r;
	uint64_t za = e->za;
	uint32_t keep;
	int ret = hfs_inode_load(fs, e->ino, &ip);

	if (ret == -ENOENT) {
		ret = 0;
		goto out;   /* destroyed: nothing to store */
	}
	if (ret)
		goto out;
	if (e->fbo >= ip.size)
		goto out;   /* past EOF: a write that failed after holding it */
	if (ip.size - e->fbo < HFS_FBLOCK)
		cut(e, (uint32_t)(ip.size - e->fbo));   /* past EOF reads as zeros if it grows */
	ret = rec_get(fs, e->ino, e->fbo, &r);
	if (!ret && (e->addr ? !rec_inplace(&r) || r.addr != e->addr : r.present))
		ret = HFS_CORRUPT("held block %llu of inode %llu: its record changed (H1)",
				  (unsigned long long)e->fbo, (unsigned long long)e->ino);
	if (ret)
		goto out;
	keep = (e->hi + HFS_BLKSIZE - 1) / HFS_BLKSIZE * HFS_BLKSIZE;
	if (e->addr) {
		/* into the unwritten extent, the rest zeros as it read (D7) */
		ret = block_store(fs, &ip, e->fbo, e->buf, HFS_FBLOCK, &r);
	} else if (whole(e) || (ret = block_store(fs, &ip, e->fbo, e->buf, keep, &r)) == -ENOSPC) {
		/* whole, or a part block (SMALL space, as any part block) that
		 * found none: the extent held for it, zero-padded */
		ret = block_store_at(fs, &ip, e->fbo, e->buf, HFS_FBLOCK, &r, za, 0);
		za = 0;   /* block_store_at's now (freed on a failure) */
	}
	if (!ret)
		ret = hfs_inode_store(fs, &ip);
out:
	if (ret) {
		HFS_ERR("inode %llu: storing held block %llu failed: %s", (unsigned long long)e->ino,
			(unsigned long long)e->fbo, strerror(-ret));
		hfs_open_seterr(e->ino, ret);
	}
	if (za)
		hfs_free(fs, za, HFS_FBLOCK);
	entry_free(fs, i);
	return ret;
}

/* Wait until a busy entry is released (fs->lock dropped meanwhile). */
static void wait_busy(struct hfs_fs *fs)
{
	pthread_cond_wait(&fs->held_cv, &fs->lock);
}

/* Settle inode ino's entries in blocks [lo, hi) (H1).  Returns 1 when it
 * stored or waited (the caller's copy of the inode is stale then), 0, or
 * the first error. */
int hfs_held_settle(struct hfs_fs *fs, uint64_t ino, uint64_t lo, uint64_t hi)
{
	int i, ret = 0, acted = 0, begun = 0;

	for (;;) {
		for (i = 0; i < fs->nheld; i++) {
			const struct hfs_held *e = fs->held[i];

			if (e->ino == ino && e->fbo + HFS_FBLOCK > lo && e->fbo < hi && !e->done)
				break;
		}
		if (i == fs->nheld)
			return ret ? ret : acted;
		acted = 1;
		if (fs->held[i]->busy) {
			wait_busy(fs);
			continue;   /* the table changed */
		}
		if (!begun) {
			/* UNDO room as for any operation; its commit may store
			 * this entry and others (look again either way) */
			int r = hfs_op_begin(fs);

			if (r)
				return r;
			begun = 1;
			continue;
		}
		begun = 0;
		{
			int r = settle_one(fs, i);

			if (r && !ret)
				ret = r;
		}
	}
}

/* Before a commit, with the data sections drained (H3). */
void hfs_held_settle_all(struct hfs_fs *fs)
{
	while (fs->nheld) {
		if (fs->held[0]->busy)
			abort();   /* (H2, D1): no writer is inside a section now */
		(void)settle_one(fs, 0);   /* reported to the file */
	}
}

/* Truncate to size (H1): entries past it go, the one it cuts is zeroed
 * past it.  1 when it waited (the caller's inode copy is stale), else 0. */
int hfs_held_trim(struct hfs_fs *fs, uint64_t ino, uint64_t size)
{
	int i, waited = 0;

again:
	for (i = 0; i < fs->nheld; i++) {
		struct hfs_held *e = fs->held[i];

		if (e->ino != ino || e->fbo + HFS_FBLOCK <= size || e->done)
			continue;
		if (e->busy) {
			wait_busy(fs);
			waited = 1;
			goto again;
		}
		if (e->fbo >= size) {
			if (e->za)
				hfs_free(fs, e->za, HFS_FBLOCK);
			entry_free(fs, i);
			goto again;
		}
		cut(e, (uint32_t)(size - e->fbo));
	}
	return waited;
}

/* For an operation on ip's bytes [lo, hi) (H1): settle the entries there
 * (size < 0) or trim to size, then take the size and block count that
 * settling or the writers waited for changed; the caller's other changes
 * to its copy stay.  0 or -errno. */
int hfs_held_before(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t lo, uint64_t hi, int64_t size)
{
	struct hfs_inode f;
	int ret;

	if (!fs->nheld)
		return 0;
	ret = size < 0 ? hfs_held_settle(fs, ip->ino, lo, hi) : hfs_held_trim(fs, ip->ino, (uint64_t)size);
	if (ret <= 0)
		return ret;
	ret = hfs_inode_load(fs, ip->ino, &f);
	if (ret)
		return ret;
	ip->size = f.size;
	ip->blocks = f.blocks;
	return 0;
}
