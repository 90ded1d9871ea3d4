/*
 * bitmap.c — the dirty-region bitmap (md's write-intent bitmap): while a
 * leg of a redundant set is failed or missing, the regions written are
 * recorded on the surviving legs, so a leg that returns is resynced only
 * where it is stale (resync.c).  Format: docs/FORMAT.md §1.2; rationale:
 * docs/DESIGN.md "Dirty-region bitmap".
 *
 * The bitmap covers column offsets (the data area of one leg): bit r is
 * [r << bm_shift, (r + 1) << bm_shift) of every column.  It is one bitmap
 * for the whole set; bits are cleared only when every leg is optimal
 * again, so a second leg that is still away never loses a bit.
 *
 * Invariants:
 *  (1) A write that a leg misses is acknowledged only after its region's
 *      bit is durable on the surviving legs: the degraded-write DAG's
 *      bitmap node (before its commit) and mirror_on_fail (before the
 *      failed node resolves) both call raid_bm_mark, which returns only
 *      when the bit is on disk.
 *  (2) A bit goes 0 -> 1 on disk at most once per degraded period: a write
 *      whose bits are already durable does not touch the bitmap (no flush
 *      per write).  Writers arriving while a bitmap write is in flight
 *      wait for it and are covered by the next one (group commit).
 *  (3) bm_disk (and bm_disk_since/flags) never claims more than the disk
 *      holds: it is updated only after the members' copies were written
 *      and flushed.
 *  (4) Copies alternate by event number (A even, B odd) so a torn write
 *      leaves the previous copy; a reader takes the valid copy with the
 *      higher event number.  No valid copy: every region is stale.
 *
 * Locks: bm_lock protects struct raid_bitmap; it is never held across I/O
 * (bm_writing marks the one writer) and is taken after set->lock.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "raid/raid_int.h"

/* ---- geometry and encoding ----------------------------------------------- */

void raid_bm_geometry(uint64_t col_size, uint32_t *region, uint32_t *nregions)
{
	uint64_t r = RAID_BM_MINREGION;

	while ((col_size + r - 1) / r > RAID_BM_MAXBITS)
		r <<= 1;
	*region = (uint32_t)r;
	*nregions = (uint32_t)((col_size + r - 1) / r);
	if (!*nregions)
		*nregions = 1;
}

static size_t bits_bytes(uint32_t nregions)
{
	size_t b = (nregions + 7) / 8;

	return (b + RAID_SECTOR - 1) / RAID_SECTOR * RAID_SECTOR;
}

static size_t copy_bytes(const struct raid_bitmap *b)
{
	return RAID_BM_HDR + bits_bytes(b->bm_nregions);
}

static uint32_t bm_crc(const void *p, size_t len)
{
	const struct raid_bm_ondisk *h = p;
	uint32_t save = h->b_crc, c;

	((struct raid_bm_ondisk *)p)->b_crc = 0;
	c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
	((struct raid_bm_ondisk *)p)->b_crc = save;
	return c;
}

/* Encode the in-memory state into buf (copy_bytes long).  bm_lock held. */
static void encode(const struct raid_set *s, void *buf, uint64_t events)
{
	const struct raid_bitmap *b = &s->bm;
	struct raid_bm_ondisk *h = buf;

	memset(buf, 0, copy_bytes(b));
	h->b_magic = htole64(RAID_BM_MAGIC);
	h->b_version = htole32(1);
	memcpy(h->b_set_uuid, s->uuid, 16);
	h->b_events = htole64(events);
	h->b_since = htole64(b->bm_since);
	h->b_region = htole32(1u << b->bm_shift);
	h->b_nregions = htole32(b->bm_nregions);
	h->b_flags = htole32(b->bm_flags);
	h->b_rs_comp = htole32(b->rs_comp < 0 ? 0xffffffffu : (uint32_t)b->rs_comp);
	h->b_rs_cursor = htole64(b->rs_comp < 0 ? 0 : b->rs_cursor);
	h->b_rs_full = htole32(b->rs_comp < 0 ? 0 : (uint32_t)b->rs_full);
	memcpy((uint8_t *)buf + RAID_BM_HDR, b->bm_bits, (b->bm_nregions + 7) / 8);
	h->b_crc = htole32(bm_crc(buf, copy_bytes(b)));
}

/* Is buf a valid copy of this set's bitmap with this geometry? */
static int decode_ok(const struct raid_set *s, const void *buf)
{
	const struct raid_bm_ondisk *h = buf;

	return le64toh(h->b_magic) == RAID_BM_MAGIC && le32toh(h->b_version) == 1 &&
	       !memcmp(h->b_set_uuid, s->uuid, 16) &&
	       le32toh(h->b_region) == 1u << s->bm.bm_shift &&
	       le32toh(h->b_nregions) == s->bm.bm_nregions &&
	       le32toh(h->b_crc) == bm_crc(buf, copy_bytes(&s->bm));
}

/* Write buf as copy (events & 1) on every writable leg, then flush each.
 * 0 if at least one leg of every column took it, else -EIO.  No lock held
 * (the caller is the one writer, invariant 2). */
static int write_copies(struct raid_set *s, const void *buf, uint64_t events)
{
	off_t off = (events & 1) ? RAID_BM_OFF1 : RAID_BM_OFF0;
	size_t len = copy_bytes(&s->bm);
	int i, col, ok[RAID_MAX_COMP] = {0};

	for (i = 0; i < s->ncomp; i++) {
		struct raid_comp *c = &s->comp[i];

		if (!raid_comp_writable(s, i) || c->c_fail_wr)
			continue;
		if (pwrite(c->c_fd, buf, len, off) != (ssize_t)len || fdatasync(c->c_fd) != 0) {
			RAID_ERR("component %d (%s): bitmap write failed", i, c->c_path);
			continue;
		}
		ok[i / s->geom.g_ncopies]++;
	}
	for (col = 0; col < s->geom.g_ncols; col++)
		if (!ok[col])
			return -EIO;
	return 0;
}

/* Make the disk hold the current in-memory state.  bm_lock held on entry
 * and exit; dropped around the I/O. */
static int sync_locked(struct raid_set *s)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t ev, since;
	uint32_t flags;
	int ret;

	while (b->bm_writing)
		pthread_cond_wait(&b->bm_cv, &b->bm_lock);
	b->bm_writing = 1;
	ev = b->bm_events + 1;
	since = b->bm_since;
	flags = b->bm_flags;
	encode(s, b->bm_buf, ev);
	memcpy(b->bm_snap, b->bm_bits, (b->bm_nregions + 7) / 8);
	pthread_mutex_unlock(&b->bm_lock);
	ret = write_copies(s, b->bm_buf, ev);
	pthread_mutex_lock(&b->bm_lock);
	if (!ret) {
		b->bm_events = ev;
		memcpy(b->bm_disk, b->bm_snap, (b->bm_nregions + 7) / 8);
		b->bm_disk_since = since;
		b->bm_disk_flags = flags;
		b->bm_nwrites++;
	}
	b->bm_writing = 0;
	pthread_cond_broadcast(&b->bm_cv);
	return ret;
}

/* ---- lifetime ----------------------------------------------------------------- */

static int alloc_bits(struct raid_bitmap *b)
{
	size_t nb = (b->bm_nregions + 7) / 8;

	b->bm_bits = calloc(1, nb);
	b->bm_disk = calloc(1, nb);
	b->bm_snap = calloc(1, nb);
	if (posix_memalign(&b->bm_buf, RAID_SECTOR, RAID_BM_HDR + bits_bytes(b->bm_nregions)))
		b->bm_buf = NULL;
	return b->bm_bits && b->bm_disk && b->bm_snap && b->bm_buf ? 0 : -ENOMEM;
}

void raid_bm_free(struct raid_set *s)
{
	struct raid_bitmap *b = &s->bm;

	free(b->bm_bits);
	free(b->bm_disk);
	free(b->bm_snap);
	free(b->bm_buf);
	b->bm_bits = b->bm_disk = b->bm_snap = NULL;
	b->bm_buf = NULL;
	pthread_mutex_destroy(&b->bm_lock);
	pthread_cond_destroy(&b->bm_cv);
}

int raid_bm_format(struct raid_set *s)
{
	struct raid_bitmap *b = &s->bm;
	int ret;

	ret = alloc_bits(b);
	if (ret)
		return ret;
	/* both copies clean: events 1 (copy B) and 2 (copy A) */
	encode(s, b->bm_buf, 1);
	ret = write_copies(s, b->bm_buf, 1);
	if (!ret) {
		encode(s, b->bm_buf, 2);
		ret = write_copies(s, b->bm_buf, 2);
	}
	return ret;
}

int raid_bm_load(struct raid_set *s, const struct raid_label_ondisk *best)
{
	struct raid_bitmap *b = &s->bm;
	void *tmp = NULL;
	uint64_t best_ev = 0;
	int i, k, found = 0, ret, degraded = 0;

	if (le32toh(best->l_minor) < 1)
		return 0;   /* a 1.0 label: no bitmap, legs that left need a full rebuild */
	b->bm_enabled = 1;
	b->bm_shift = (uint32_t)__builtin_ctz(le32toh(best->l_bm_region));
	b->bm_nregions = le32toh(best->l_bm_nregions);
	ret = alloc_bits(b);
	if (ret)
		return ret;
	if (posix_memalign(&tmp, RAID_SECTOR, copy_bytes(b)))
		return -ENOMEM;
	for (i = 0; i < s->ncomp; i++) {
		if (best->l_state[i] != RAID_COMP_OPTIMAL)
			degraded = 1;
		/* the newest state is on the legs the newest label calls optimal */
		if (s->comp[i].c_fd < 0 || best->l_state[i] != RAID_COMP_OPTIMAL)
			continue;
		for (k = 0; k < 2; k++) {
			const struct raid_bm_ondisk *h = tmp;

			if (pread(s->comp[i].c_fd, tmp, copy_bytes(b), k ? RAID_BM_OFF1 : RAID_BM_OFF0) !=
			    (ssize_t)copy_bytes(b) || !decode_ok(s, tmp))
				continue;
			if (found && le64toh(h->b_events) <= best_ev)
				continue;
			found = 1;
			best_ev = le64toh(h->b_events);
			b->bm_events = best_ev;
			b->bm_since = le64toh(h->b_since);
			b->bm_flags = le32toh(h->b_flags);
			b->rs_saved_comp = le32toh(h->b_rs_comp) == 0xffffffffu ? -1 :
					   (int)le32toh(h->b_rs_comp);
			b->rs_saved_cursor = le64toh(h->b_rs_cursor);
			b->rs_saved_full = (int)le32toh(h->b_rs_full);
			memcpy(b->bm_bits, (uint8_t *)tmp + RAID_BM_HDR, (b->bm_nregions + 7) / 8);
		}
	}
	free(tmp);
	if (!found) {
		RAID_WARN("no valid dirty-region bitmap on the set%s", degraded ?
			  ": every region counts as stale" : "; a clean one is written");
		memset(b->bm_bits, 0, (b->bm_nregions + 7) / 8);
		b->bm_since = degraded ? s->generation : 0;
		b->bm_flags = degraded ? RAID_BM_FULL : 0;
		b->rs_saved_comp = -1;
	}
	memcpy(b->bm_disk, b->bm_bits, (b->bm_nregions + 7) / 8);
	b->bm_disk_since = found ? b->bm_since : 0;
	b->bm_disk_flags = found ? b->bm_flags : 0;
	return 0;
}

/* ---- marking ----------------------------------------------------------------------- */

int raid_bm_test(struct raid_bitmap *b, uint64_t r)
{
	return (b->bm_bits[r / 8] >> (r % 8)) & 1;
}

void raid_bm_track(struct raid_set *s, uint64_t gen)
{
	struct raid_bitmap *b = &s->bm;

	if (!b->bm_enabled)
		return;
	pthread_mutex_lock(&b->bm_lock);
	if (!b->bm_since)
		b->bm_since = gen;
	pthread_mutex_unlock(&b->bm_lock);
}

/* Does the disk lack something of [r0, r1] or the header state?  bm_lock held. */
static int need_write(const struct raid_bitmap *b, uint64_t r0, uint64_t r1)
{
	uint64_t r;

	if (b->bm_since != b->bm_disk_since || b->bm_flags != b->bm_disk_flags)
		return 1;
	for (r = r0; r <= r1; r++)
		if (!((b->bm_disk[r / 8] >> (r % 8)) & 1))
			return 1;
	return 0;
}

int raid_bm_mark(struct raid_set *s, uint64_t coff, uint64_t len)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t r0, r1, r;
	int ret = 0;

	if (!b->bm_enabled || !len)
		return 0;
	r0 = coff >> b->bm_shift;
	r1 = (coff + len - 1) >> b->bm_shift;
	if (r1 >= b->bm_nregions)
		r1 = b->bm_nregions - 1;
	if (r0 > r1)
		return 0;
	pthread_mutex_lock(&b->bm_lock);
	for (r = r0; r <= r1; r++)
		b->bm_bits[r / 8] |= (uint8_t)(1u << (r % 8));
	/* (2): wait for a write in flight; it may have covered us already */
	while (need_write(b, r0, r1)) {
		ret = sync_locked(s);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&b->bm_lock);
	if (ret)
		RAID_ERR("dirty-region bitmap could not be made durable: the write fails");
	return ret;
}

/* Set header flags (none for a plain write) and make the bitmap durable. */
static int bm_sync_flags(struct raid_set *s, uint32_t set)
{
	struct raid_bitmap *b = &s->bm;
	int ret;

	if (!b->bm_enabled)
		return 0;
	pthread_mutex_lock(&b->bm_lock);
	b->bm_flags |= set;
	ret = sync_locked(s);
	pthread_mutex_unlock(&b->bm_lock);
	return ret;
}

int raid_bm_mark_full(struct raid_set *s)
{
	return bm_sync_flags(s, RAID_BM_FULL);
}

int raid_bm_write(struct raid_set *s)
{
	return bm_sync_flags(s, 0);
}

uint64_t raid_bitmap_dirty(struct raid_set *s)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t r, n = 0;

	if (!b->bm_enabled)
		return 0;
	pthread_mutex_lock(&b->bm_lock);
	if (b->bm_flags & RAID_BM_FULL)
		n = b->bm_nregions;
	else
		for (r = 0; r < b->bm_nregions; r++)
			n += raid_bm_test(b, r);
	pthread_mutex_unlock(&b->bm_lock);
	return n;
}

/* ---- writes vs resync ------------------------------------------------------------ */

/* Buckets of column range [lo, hi): regions hashed by r % RAID_WR_BUCKETS. */
static void buckets(const struct raid_bitmap *b, uint64_t lo, uint64_t hi, uint64_t *r0,
		    uint64_t *r1)
{
	*r0 = lo >> b->bm_shift;
	*r1 = hi ? (hi - 1) >> b->bm_shift : 0;
	if (*r1 - *r0 >= RAID_WR_BUCKETS)
		*r1 = *r0 + RAID_WR_BUCKETS - 1;   /* every bucket, once */
}

void raid_wr_begin(struct raid_set *s, uint64_t lo, uint64_t hi)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t r0, r1, r;

	if (!b->bm_enabled)
		return;
	buckets(b, lo, hi, &r0, &r1);
	pthread_mutex_lock(&b->bm_lock);
	for (r = r0; r <= r1; r++) {
		b->wr_active[r % RAID_WR_BUCKETS]++;
		b->wr_starts[r % RAID_WR_BUCKETS]++;
	}
	pthread_mutex_unlock(&b->bm_lock);
}

void raid_wr_end(struct raid_set *s, uint64_t lo, uint64_t hi)
{
	struct raid_bitmap *b = &s->bm;
	uint64_t r0, r1, r;

	if (!b->bm_enabled)
		return;
	buckets(b, lo, hi, &r0, &r1);
	pthread_mutex_lock(&b->bm_lock);
	for (r = r0; r <= r1; r++)
		b->wr_active[r % RAID_WR_BUCKETS]--;
	if (b->wr_waiters)
		pthread_cond_broadcast(&b->bm_cv);
	pthread_mutex_unlock(&b->bm_lock);
}
