/*
 * alloc.c — big-block zones and the block free map.
 *
 * The free map (docs/FORMAT.md) has one entry per 8 MiB big-block: its
 * owning zone, its free-block count and a 2048-bit allocation bitmap.  It
 * is META: every change goes through bc_modify, so UNDO covers it and a
 * crash rolls allocations back together with the B-tree changes that
 * used them.  An in-memory copy of every entry makes searching cheap.
 *
 * File data takes 64 KiB-aligned extents in LARGE big-blocks, 4 KiB
 * granular ones in SMALL big-blocks, and 4 KiB pieces (hfs_alloc_piece,
 * docs/FORMAT.md pieces records) from either when no extent fits.
 *
 * Delayed reuse (crash rule 3): hfs_free clears the bits at once, but the
 * blocks go into a per-big-block "pending" bitmap that the allocator
 * treats as busy until the group commits (hfs_alloc_committed), so space
 * the last committed state still references is never overwritten.
 *
 * Trim holds (FITRIM, trim.c): hfs_alloc_trim_hold picks free blocks that
 * are neither allocated nor pending — free in the last committed state
 * and untouched since, so no state a crash could return to references
 * them — and marks them in a per-big-block "hold" bitmap that the
 * allocator treats as busy, like pending blocks, until
 * hfs_alloc_trim_release.  An allocation racing a trim therefore never
 * gets a block whose discard is in flight (it takes another, or gets
 * ENOSPC if the held batch was the last free space: a batch is bounded,
 * see trim.c).  Holds survive commits (hfs_alloc_committed leaves them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

struct bbinfo {
	uint8_t zone;
	uint32_t nfree;
	uint8_t map[HFS_BLKS_PER_BB / 8];
	uint8_t *pend;                 /* freed this group, or NULL */
	uint8_t *hold;                 /* held by a trim (discard in flight), or NULL */
	unsigned nheld;                /* bits set in hold */
};

struct hfs_alloc {
	uint64_t nbb;
	struct bbinfo *bb;
	uint64_t cursor[16];           /* per zone: big-block to try first */
	uint64_t *pend_list;           /* big-blocks with a pend map */
	uint64_t npend, cappend;
	uint64_t pending_blocks;       /* freed this group: free but not yet reusable */
	uint64_t btree_free;           /* the free blocks of BTREE big-blocks (btree_free_sum) */
	unsigned btree_free_wrong;     /* commits that found it out of step (hfs_alloc_selfcheck) */
	uint64_t enospc_seq;           /* group of the last ENOSPC log line (one per group) */
};

static int bit(const uint8_t *m, unsigned i) { return (m[i >> 3] >> (i & 7)) & 1; }
static void setbit(uint8_t *m, unsigned i) { m[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static void clrbit(uint8_t *m, unsigned i) { m[i >> 3] &= (uint8_t)~(1u << (i & 7)); }

static uint64_t fm_block_zaddr(const struct hfs_volhdr_ondisk *vh, uint64_t bbi)
{
	return hfs_zaddr(HFS_ZONE_FREEMAP, hfs_raw(hfs_le64(vh->vh_freemap_base)) +
			 (bbi / HFS_FM_PER_BLOCK) * HFS_BUFSIZE);
}

static struct hfs_fm_entry_ondisk *fm_entry(uint8_t *blk, uint64_t bbi)
{
	return (struct hfs_fm_entry_ondisk *)(blk + 64 + (bbi % HFS_FM_PER_BLOCK) * 272);
}

/* ---- mkfs --------------------------------------------------------------------- */

int hfs_freemap_format(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh)
{
	uint64_t size = hfs_le64(vh->vh_size), nbb = size / HFS_BIGBLOCK;
	uint64_t fmbase = hfs_raw(hfs_le64(vh->vh_freemap_base));
	uint64_t reserved_end = fmbase + hfs_le64(vh->vh_freemap_size);
	uint64_t root = hfs_raw(hfs_le64(vh->vh_btree_root));
	uint64_t nblk = (nbb + HFS_FM_PER_BLOCK - 1) / HFS_FM_PER_BLOCK, i;
	uint8_t *blk;
	int ret = 0;

	if (posix_memalign((void **)&blk, 4096, HFS_BUFSIZE))
		return -ENOMEM;
	reserved_end = (reserved_end + HFS_BIGBLOCK - 1) / HFS_BIGBLOCK;   /* in big-blocks */
	for (i = 0; i < nblk && !ret; i++) {
		struct hfs_blkhdr_ondisk *h = (void *)blk;
		uint64_t b;

		memset(blk, 0, HFS_BUFSIZE);
		h->bh_magic = hfs_tole32(HFS_FREEMAP_MAGIC);
		h->bh_self = hfs_tole64(hfs_zaddr(HFS_ZONE_FREEMAP, fmbase + i * HFS_BUFSIZE));
		h->bh_seq = vh->vh_seq;
		for (b = i * HFS_FM_PER_BLOCK; b < nbb && b < (i + 1) * HFS_FM_PER_BLOCK; b++) {
			struct hfs_fm_entry_ondisk *e = fm_entry(blk, b);
			uint8_t z = b == 0 ? HFS_ZONE_RAW :
				    b * HFS_BIGBLOCK < fmbase ? HFS_ZONE_UNDO :
				    b < reserved_end ? HFS_ZONE_FREEMAP : HFS_ZONE_FREE;

			h->bh_nitems = hfs_tole16((uint16_t)(b - i * HFS_FM_PER_BLOCK + 1));
			e->fm_zone = z;
			if (z != HFS_ZONE_FREE) {
				memset(e->fm_bitmap, 0xff, sizeof(e->fm_bitmap));
				e->fm_free = 0;
			} else if (b == root / HFS_BIGBLOCK) {
				unsigned k, first = (unsigned)((root % HFS_BIGBLOCK) / HFS_BLKSIZE);

				e->fm_zone = HFS_ZONE_BTREE;
				for (k = 0; k < HFS_BUFSIZE / HFS_BLKSIZE; k++)
					setbit(e->fm_bitmap, first + k);
				e->fm_free = hfs_tole32(HFS_BLKS_PER_BB - HFS_BUFSIZE / HFS_BLKSIZE);
			} else {
				e->fm_free = hfs_tole32(HFS_BLKS_PER_BB);
			}
		}
		h->bh_crc = hfs_tole32(hfs_block_crc(blk, HFS_BUFSIZE, 4));
		ret = raid_write(rs, fmbase + i * HFS_BUFSIZE, blk, HFS_BUFSIZE);
	}
	free(blk);
	return ret;
}

/* What btree_free counts, the long way: checked at every commit. */
static uint64_t btree_free_sum(const struct hfs_alloc *a)
{
	uint64_t i, n = 0;

	for (i = 0; i < a->nbb; i++)
		if (a->bb[i].zone == HFS_ZONE_BTREE)
			n += a->bb[i].nfree;
	return n;
}

/* After the load, a big-block's free count and zone change only here, so that
 * btree_free, their sum over the BTREE big-blocks, moves with them. */
static void bb_nfree_add(struct hfs_alloc *a, struct bbinfo *bi, int64_t d)
{
	bi->nfree = (uint32_t)((int64_t)bi->nfree + d);
	if (bi->zone == HFS_ZONE_BTREE)
		a->btree_free = (uint64_t)((int64_t)a->btree_free + d);
}

static void bb_set_zone(struct hfs_alloc *a, struct bbinfo *bi, uint8_t zone)
{
	if (bi->zone == HFS_ZONE_BTREE)
		a->btree_free -= bi->nfree;
	bi->zone = zone;
	if (zone == HFS_ZONE_BTREE)
		a->btree_free += bi->nfree;
}

/* ---- load ---------------------------------------------------------------------- */

int hfs_alloc_load(struct hfs_fs *fs)
{
	struct hfs_alloc *a = calloc(1, sizeof(*a));
	uint64_t i, nfree = 0;
	int ret = 0;

	if (!a)
		return -ENOMEM;
	a->nbb = fs->nbigblocks;
	a->bb = calloc(a->nbb, sizeof(*a->bb));
	if (!a->bb) {
		free(a);
		return -ENOMEM;
	}
	for (i = 0; i < a->nbb && !ret; i += HFS_FM_PER_BLOCK) {
		struct bc_buf *b;
		uint64_t k;

		ret = hfs_meta_get(fs, fm_block_zaddr(&fs->vh, i), 0, &b);
		if (ret)
			break;
		for (k = i; k < a->nbb && k < i + HFS_FM_PER_BLOCK; k++) {
			const struct hfs_fm_entry_ondisk *e = fm_entry(b->b_data, k);
			unsigned j, cnt = 0;

			a->bb[k].zone = e->fm_zone;
			memcpy(a->bb[k].map, e->fm_bitmap, sizeof(e->fm_bitmap));
			for (j = 0; j < HFS_BLKS_PER_BB; j++)
				cnt += !bit(e->fm_bitmap, j);
			a->bb[k].nfree = cnt;
			if (cnt != hfs_le32(e->fm_free) || (e->fm_zone == HFS_ZONE_FREE && cnt != HFS_BLKS_PER_BB))
				ret = HFS_CORRUPT("free map entry of big-block %llu inconsistent",
						  (unsigned long long)k);
			nfree += cnt;
		}
		bc_put(b);
	}
	if (ret) {
		free(a->bb);
		free(a);
		return ret;
	}
	if (nfree != hfs_le64(fs->vh.vh_free_blocks)) {
		HFS_WARN("header free count %llu differs from the free map's %llu; using the map",
			 (unsigned long long)hfs_le64(fs->vh.vh_free_blocks), (unsigned long long)nfree);
		fs->vh.vh_free_blocks = hfs_tole64(nfree);
	}
	a->btree_free = btree_free_sum(a);
	fs->alloc = a;
	return 0;
}

void hfs_alloc_unload(struct hfs_fs *fs)
{
	struct hfs_alloc *a = fs->alloc;
	uint64_t i;

	if (!a)
		return;
	for (i = 0; i < a->npend; i++)
		free(a->bb[a->pend_list[i]].pend);
	for (i = 0; i < a->nbb; i++)
		free(a->bb[i].hold);   /* none after the last trim returned */
	free(a->pend_list);
	free(a->bb);
	free(a);
	fs->alloc = NULL;
}

/* ---- alloc/free ------------------------------------------------------------------ */

/* Apply a change of big-block bbi to its free-map entry (META, undo-logged). */
static int fm_update(struct hfs_fs *fs, uint64_t bbi)
{
	struct bbinfo *bi = &fs->alloc->bb[bbi];
	struct bc_buf *b;
	struct hfs_fm_entry_ondisk *e;
	int ret = hfs_meta_get(fs, fm_block_zaddr(&fs->vh, bbi), 0, &b);

	if (ret)
		return ret;
	ret = bc_modify(b);
	if (!ret) {
		e = fm_entry(b->b_data, bbi);
		e->fm_zone = bi->zone;
		e->fm_free = hfs_tole32(bi->nfree);
		memcpy(e->fm_bitmap, bi->map, sizeof(bi->map));
		bc_modify_done(b);
	}
	bc_put(b);
	return ret;
}

static int busy(const struct bbinfo *bi, unsigned j)
{
	return bit(bi->map, j) || (bi->pend && bit(bi->pend, j)) || (bi->hold && bit(bi->hold, j));
}

/* Bits 64w..64w+63 of a big-block map (bit i is byte i / 8, bit i % 8). */
static uint64_t map_word(const uint8_t *m, unsigned w)
{
	uint64_t v;

	memcpy(&v, m + 8 * w, sizeof(v));
	return hfs_le64(v);
}

int hfs_alloc_find_run(const uint8_t *map, const uint8_t *pend, const uint8_t *hold,
		       unsigned k, unsigned al)
{
	uint64_t busy[HFS_BLKS_PER_BB / 64];
	unsigned w, j, n;

	if (!k || !al || 64 % al)
		return -1;
	/* a word at a time: the bit-by-bit scan through three maps was a
	 * seventh of the daemon's CPU in fsync'd random writes (each 64 KiB
	 * copy-on-write block looks for a free aligned run) */
	for (w = 0; w < HFS_BLKS_PER_BB / 64; w++)
		busy[w] = map_word(map, w) | (pend ? map_word(pend, w) : 0) |
			  (hold ? map_word(hold, w) : 0);
	for (j = 0; j + k <= HFS_BLKS_PER_BB; j += al) {
		if (busy[j / 64] == ~0ull) {
			j = (j / 64 + 1) * 64 - al;   /* the next word; al divides 64 */
			continue;
		}
		for (n = 0; n < k && !((busy[(j + n) / 64] >> ((j + n) % 64)) & 1); n++)
			;
		if (n == k)
			return (int)j;
		/* every start up to j + n covers the busy bit: go past it */
		j = (j + n + 1 + al - 1) / al * al - al;
	}
	return -1;
}

/* First run of k free blocks at alignment al in big-block bi, or -1. */
static int find_run(const struct bbinfo *bi, unsigned k, unsigned al)
{
	if (bi->nfree < k)
		return -1;
	return hfs_alloc_find_run(bi->map, bi->pend, bi->hold, k, al);
}

/* Mark blocks [run, run + k) of big-block bbi allocated to zone z. */
static int claim(struct hfs_fs *fs, enum hfs_zone z, uint64_t bbi, unsigned run, unsigned k,
		 uint64_t *zaddr)
{
	struct hfs_alloc *a = fs->alloc;
	unsigned j;
	int ret;

	for (j = 0; j < k; j++)
		setbit(a->bb[bbi].map, run + j);
	bb_nfree_add(a, &a->bb[bbi], -(int64_t)k);
	ret = fm_update(fs, bbi);
	if (ret) {
		for (j = 0; j < k; j++)
			clrbit(a->bb[bbi].map, run + j);
		bb_nfree_add(a, &a->bb[bbi], k);
		return ret;
	}
	if (z != HFS_ZONE_LARGE || k == HFS_FBLOCK / HFS_BLKSIZE)
		a->cursor[z] = bbi;
	fs->vh.vh_free_blocks = hfs_tole64(hfs_le64(fs->vh.vh_free_blocks) - k);
	*zaddr = hfs_zaddr(z, bbi * HFS_BIGBLOCK + (uint64_t)run * HFS_BLKSIZE);
	return 0;
}

int hfs_alloc(struct hfs_fs *fs, enum hfs_zone z, uint32_t len, uint64_t *zaddr)
{
	struct hfs_alloc *a = fs->alloc;
	unsigned k = len / HFS_BLKSIZE, al;
	uint64_t i, bbi = UINT64_MAX;
	int run = -1;

	if (!len || len % HFS_BLKSIZE || len > HFS_FBLOCK ||
	    (z != HFS_ZONE_BTREE && z != HFS_ZONE_SMALL && z != HFS_ZONE_LARGE))
		return -EINVAL;
	al = z == HFS_ZONE_BTREE ? HFS_BUFSIZE / HFS_BLKSIZE :
	     z == HFS_ZONE_LARGE ? HFS_FBLOCK / HFS_BLKSIZE : 1;
	/* A new name or xattr on a full filesystem: the space left is the
	 * reserve that already-cached writes will need (for their data and
	 * for the B-tree nodes that map it); an xattr fill would otherwise go
	 * on for as long as the reserve lasts (xfstests generic/449). */
	if (z == HFS_ZONE_BTREE && fs->keep_reserve &&
	    hfs_alloc_data_blocks(fs) <= hfs_alloc_wb_reserve(fs))
		return -ENOSPC;
	/* the zone's current big-block, then any of its big-blocks, then a free one */
	if (a->cursor[z] < a->nbb && a->bb[a->cursor[z]].zone == z &&
	    (run = find_run(&a->bb[a->cursor[z]], k, al)) >= 0)
		bbi = a->cursor[z];
	for (i = 0; run < 0 && i < a->nbb; i++)
		if (a->bb[i].zone == z && (run = find_run(&a->bb[i], k, al)) >= 0)
			bbi = i;
	/* a fresh big-block for such a node must leave the reserve whole */
	if (run < 0 && z == HFS_ZONE_BTREE && fs->keep_reserve &&
	    hfs_alloc_data_blocks(fs) < hfs_alloc_wb_reserve(fs) + HFS_BLKS_PER_BB)
		return -ENOSPC;
	for (i = 0; run < 0 && i < a->nbb; i++)
		if (a->bb[i].zone == HFS_ZONE_FREE && (run = find_run(&a->bb[i], k, al)) >= 0) {
			bbi = i;
			bb_set_zone(a, &a->bb[i], (uint8_t)z);
		}
	if (run < 0) {
		uint64_t nz = 0, nf = 0, pend = 0;

		if (a->enospc_seq == bc_seq(fs->bc))
			return -ENOSPC;
		a->enospc_seq = bc_seq(fs->bc);
		for (i = 0; i < a->nbb; i++) {
			nz += a->bb[i].zone == z;
			nf += a->bb[i].zone == HFS_ZONE_FREE;
			pend += a->bb[i].pend != NULL;
		}
		HFS_WARN("no space for %u bytes in zone %u (%llu big-blocks of the zone, %llu free, "
			 "%llu with pending frees)", len, z, (unsigned long long)nz,
			 (unsigned long long)nf, (unsigned long long)pend);
		return -ENOSPC;
	}
	return claim(fs, z, bbi, (unsigned)run, k, zaddr);
}

int hfs_alloc_piece(struct hfs_fs *fs, uint64_t *zaddr)
{
	struct hfs_alloc *a = fs->alloc;
	uint64_t i;
	int run, ret = hfs_alloc(fs, HFS_ZONE_SMALL, HFS_BLKSIZE, zaddr);

	if (ret != -ENOSPC)
		return ret;
	/* the 4 KiB holes of LARGE big-blocks (punched pieces of their
	 * extents): no 64 KiB extent fits there, a piece does */
	if (a->cursor[0] < a->nbb && a->bb[a->cursor[0]].zone == HFS_ZONE_LARGE &&
	    (run = find_run(&a->bb[a->cursor[0]], 1, 1)) >= 0)
		return claim(fs, HFS_ZONE_LARGE, a->cursor[0], (unsigned)run, 1, zaddr);
	for (i = 0; i < a->nbb; i++)
		if (a->bb[i].zone == HFS_ZONE_LARGE && (run = find_run(&a->bb[i], 1, 1)) >= 0) {
			a->cursor[0] = i;   /* zone 0 (FREE) never allocates: the piece cursor */
			return claim(fs, HFS_ZONE_LARGE, i, (unsigned)run, 1, zaddr);
		}
	return -ENOSPC;
}

uint64_t hfs_alloc_wb_reserve(struct hfs_fs *fs)
{
	uint64_t r = (32u << 20) / HFS_BLKSIZE, eighth = hfs_le64(fs->vh.vh_size) / HFS_BLKSIZE / 8;

	if (fs->wb_reserve)
		return fs->wb_reserve;   /* sized to the kernel's dirty limit (dirty.c) */
	return r < eighth ? r : eighth;
}

uint64_t hfs_alloc_data_blocks(struct hfs_fs *fs)
{
	uint64_t free = hfs_alloc_free_blocks(fs), btree = fs->alloc->btree_free;

	/* LARGE big-blocks hold aligned 64 KiB extents and 4 KiB pieces
	 * (hfs_alloc_piece), so every free block there is data space too;
	 * only the B-tree's free space is not for data.  A running count:
	 * the sum over the big-blocks was 5% of the daemon's CPU in fsync'd
	 * random writes (several calls a write) */
	return free > btree ? free - btree : 0;
}

int hfs_free(struct hfs_fs *fs, uint64_t zaddr, uint32_t len)
{
	struct hfs_alloc *a = fs->alloc;
	uint64_t raw = hfs_raw(zaddr), bbi = raw / HFS_BIGBLOCK;
	unsigned first = (unsigned)((raw % HFS_BIGBLOCK) / HFS_BLKSIZE), k = len / HFS_BLKSIZE, j;
	struct bbinfo *bi;

	if (!len || len % HFS_BLKSIZE || raw % HFS_BLKSIZE || bbi >= a->nbb ||
	    first + k > HFS_BLKS_PER_BB)
		return HFS_CORRUPT("free of a bad extent %#llx+%u", (unsigned long long)zaddr, len);
	bi = &a->bb[bbi];
	if (bi->zone != hfs_zone_of(zaddr))
		return HFS_CORRUPT("free of %#llx: big-block %llu belongs to zone %u",
				   (unsigned long long)zaddr, (unsigned long long)bbi, bi->zone);
	for (j = 0; j < k; j++)
		if (!bit(bi->map, first + j))
			return HFS_CORRUPT("double free of block %u in big-block %llu",
					   first + j, (unsigned long long)bbi);
	if (!bi->pend) {
		bi->pend = calloc(1, HFS_BLKS_PER_BB / 8);
		if (!bi->pend)
			return -ENOMEM;
		if (a->npend == a->cappend) {
			uint64_t *nl = realloc(a->pend_list, (a->cappend ? a->cappend * 2 : 64) * sizeof(*nl));

			if (!nl) {
				free(bi->pend);
				bi->pend = NULL;
				return -ENOMEM;
			}
			a->pend_list = nl;
			a->cappend = a->cappend ? a->cappend * 2 : 64;
		}
		a->pend_list[a->npend++] = bbi;
	}
	for (j = 0; j < k; j++) {
		clrbit(bi->map, first + j);
		setbit(bi->pend, first + j);
	}
	bb_nfree_add(a, bi, k);
	a->pending_blocks += k;
	if (bi->nfree == HFS_BLKS_PER_BB)
		bb_set_zone(a, bi, HFS_ZONE_FREE);   /* pending bits still guard reuse */
	fs->vh.vh_free_blocks = hfs_tole64(hfs_le64(fs->vh.vh_free_blocks) + k);
	return fm_update(fs, bbi);
}

void hfs_alloc_committed(struct hfs_fs *fs)
{
	struct hfs_alloc *a = fs->alloc;
	uint64_t i;

	if (!a)
		return;
	if (a->btree_free != btree_free_sum(a)) {
		/* cannot be: a missed update would let data take the B-tree's
		 * reserve, or refuse it; say so and go on with the true count */
		HFS_WARN("allocator: B-tree free count %llu, the big-blocks say %llu",
			 (unsigned long long)a->btree_free, (unsigned long long)btree_free_sum(a));
		a->btree_free_wrong++;
		a->btree_free = btree_free_sum(a);
	}
	for (i = 0; i < a->npend; i++) {
		free(a->bb[a->pend_list[i]].pend);
		a->bb[a->pend_list[i]].pend = NULL;
	}
	a->npend = 0;
	a->pending_blocks = 0;
}

int hfs_alloc_selfcheck(struct hfs_fs *fs)
{
	struct hfs_alloc *a = fs->alloc;

	return a->btree_free_wrong || a->btree_free != btree_free_sum(a) ? -EUCLEAN : 0;
}

uint64_t hfs_alloc_pending_blocks(struct hfs_fs *fs)
{
	return fs->alloc ? fs->alloc->pending_blocks : 0;
}

uint64_t hfs_alloc_free_blocks(struct hfs_fs *fs)
{
	return hfs_le64(fs->vh.vh_free_blocks);
}

/* ---- trim holds (top comment) ------------------------------------------------ */

/* Hold (on) or release (!on) blocks [j, j + k) of big-block bbi. */
static int hold_run(struct hfs_alloc *a, uint64_t bbi, unsigned j, unsigned k, int on)
{
	struct bbinfo *bi = &a->bb[bbi];
	unsigned i;

	if (on && !bi->hold) {
		bi->hold = calloc(1, HFS_BLKS_PER_BB / 8);
		if (!bi->hold)
			return -ENOMEM;
	}
	if (!bi->hold)
		return 0;
	for (i = j; i < j + k; i++) {
		if (on)
			setbit(bi->hold, i);
		else
			clrbit(bi->hold, i);
	}
	bi->nheld = on ? bi->nheld + k : bi->nheld - k;
	if (!bi->nheld) {
		free(bi->hold);
		bi->hold = NULL;
	}
	return 0;
}

/* Hold or release extent [raw, raw+len), big-block by big-block.  A hold
 * that runs out of memory releases what it held: 0 or -ENOMEM. */
static int hold_extent(struct hfs_alloc *a, uint64_t raw, uint64_t len, int on)
{
	uint64_t p = raw, left = len;

	while (left) {
		uint64_t bbi = p / HFS_BIGBLOCK, in = p % HFS_BIGBLOCK;
		uint64_t take = HFS_BIGBLOCK - in < left ? HFS_BIGBLOCK - in : left;

		if (hold_run(a, bbi, (unsigned)(in / HFS_BLKSIZE), (unsigned)(take / HFS_BLKSIZE), on)) {
			if (p > raw)
				hold_extent(a, raw, p - raw, 0);
			return -ENOMEM;
		}
		p += take;
		left -= take;
	}
	return 0;
}

void hfs_alloc_trim_release(struct hfs_fs *fs, const struct hfs_extent *ext, int n)
{
	int i;

	for (i = 0; i < n; i++)
		hold_extent(fs->alloc, ext[i].raw, ext[i].len, 0);
}

int hfs_alloc_trim_hold(struct hfs_fs *fs, uint64_t *pos, uint64_t end, uint64_t minlen,
			uint64_t budget, struct hfs_extent *ext, int max)
{
	struct hfs_alloc *a = fs->alloc;
	uint64_t p = *pos, rs = 0, scanned = 0;
	int n = 0, open = 0, ret = 0;

	if (end > a->nbb * HFS_BIGBLOCK)
		end = a->nbb * HFS_BIGBLOCK;
	if (p % HFS_BLKSIZE || end % HFS_BLKSIZE || max < 1 || !budget)
		return -EINVAL;
	while (p < end) {
		struct bbinfo *bi = &a->bb[p / HFS_BIGBLOCK];
		uint64_t in = p % HFS_BIGBLOCK, bb_end = p - in + HFS_BIGBLOCK, step;
		int fr;

		if (bb_end > end)
			bb_end = end;
		/* a batch ends where no run is open once it scanned its budget */
		if (!open && scanned >= budget)
			break;
		if (bi->nfree == 0) {
			fr = 0, step = bb_end - p;   /* a full big-block: skip it whole */
		} else if (in == 0 && bb_end - p == HFS_BIGBLOCK && bi->nfree == HFS_BLKS_PER_BB &&
			   !bi->pend && !bi->hold) {
			fr = 1, step = HFS_BIGBLOCK; /* all free and untouched */
		} else {
			fr = !busy(bi, (unsigned)(in / HFS_BLKSIZE)), step = HFS_BLKSIZE;
		}
		if (fr) {
			if (!open)
				rs = p, open = 1;
			p += step;
			scanned += step;
			/* a run as long as the budget ends the batch: it is longer
			 * than any minlen (trim.c caps minlen at a big-block) */
			if (p - rs >= budget)
				break;
			continue;
		}
		if (open) {
			open = 0;
			if (p - rs >= minlen) {
				ret = hold_extent(a, rs, p - rs, 1);
				if (ret)
					break;
				ext[n++] = (struct hfs_extent){ rs, p - rs };
				if (n == max)
					break;   /* the next batch starts at this busy block */
			}
		}
		p += step;
		scanned += step;
	}
	/* the run open where the scan stopped (budget, end); n < max here */
	if (!ret && open && p - rs >= minlen) {
		ret = hold_extent(a, rs, p - rs, 1);
		if (!ret)
			ext[n++] = (struct hfs_extent){ rs, p - rs };
	}
	if (ret) {
		hfs_alloc_trim_release(fs, ext, n);
		return ret;
	}
	*pos = p;
	return n;
}
