/*
 * scrub.c — online scrub: read every allocated block on every copy,
 * verify it, rewrite bad copies from a good one (`hfsctl scrub`).
 *
 * What is read: both volume header slots, every free-map block, every
 * B-tree node (walked with hfs_bt_scan_leaf in key order) and every data
 * extent its DATA records point to.  Headers and META blocks carry their
 * own CRC (and self address); a data extent is checked against the crc32
 * in its record (a CRC4K extent no copy of which is good as a whole, once
 * more piece by piece against its pieces' CRCs).  The UNDO FIFO holds no
 * live data between commits and is not scrubbed.
 *
 * How it runs: a thread of the daemon does one *step* at a time with
 * fs->lock held (never across steps, so the filesystem stays usable):
 *   1. if anything is dirty, run a flush cycle first — afterwards every
 *      block the in-memory tree references is on disk, and nothing can
 *      change until the lock is dropped (invariant S1: the on-disk copies
 *      read in a step are exactly what the cache holds);
 *   2. scan from the cursor (vh_scrub_*: the next B-tree key) to the end of
 *      its leaf or until ~4 MiB were read or 100 ms passed (then a short
 *      pause lets waiting requests take the lock), verifying each block on each
 *      usable copy (raid_copy_usable) and rewriting bad copies with
 *      raid_write_copy from a copy that verified (S2: a good copy is never
 *      written, so a power cut mid-repair cannot lose the last one);
 *   3. store the cursor and the counts in the volume header; the next
 *      commit makes them durable.
 * An unmount stops the thread between steps; the state stays RUNNING in
 * the header and the next `hfsctl scrub` resumes at the cursor.
 *
 * States (vh_scrub_state): NONE --start--> RUNNING --last leaf--> DONE
 *                          DONE --start--> RUNNING (counts reset)
 *                          RUNNING --unmount/pause--> RUNNING (thread gone)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "fs/hfs_int.h"

#define STEP_BYTES (4u << 20)       /* reads per step before the lock is dropped */
#define STEP_NS    (100ull * 1000000)   /* ... or this long (slow disks) */
#define PAUSE_US   2000             /* between steps: waiting FUSE requests get the lock */
#define MAXLVL 16

struct hfs_scrub {
	pthread_mutex_t sc_lock;    /* the thread's lifecycle (below) */
	pthread_t sc_thread;
	bool sc_running;            /* thread exists (not yet joined) */
	bool sc_active;             /* thread still working (sc_lock) */
	bool sc_stop;               /* asked to stop after this step */
	/* step state: fs->lock */
	uint8_t *sc_buf[RAID_MAX_COMP];   /* one HFS_FBLOCK buffer per copy */
	uint64_t sc_step_bytes;
	uint64_t sc_step_start;     /* hfs_now_ns() */
	uint64_t sc_last_node[MAXLVL];    /* nodes verified by the previous step */
	struct hfs_key sc_stop_key;
	int sc_err;                 /* why the last scrub stopped early (-errno), 0 */
	uint64_t sc_resumed;        /* times resumed from a persisted cursor */
};

/* ---- counters in the volume header (fs->lock) --------------------------- */

static void bump(uint64_t *le, uint64_t n)
{
	*le = hfs_tole64(hfs_le64(*le) + n);
}

/* ---- verifying one block on every copy ---------------------------------- */

enum blk_kind { BLK_HEADER, BLK_META, BLK_DATA };

static int check(struct hfs_fs *fs, enum blk_kind kind, uint64_t raw, const uint8_t *p,
		 size_t len, uint32_t crc)
{
	if (kind == BLK_HEADER) {
		const struct hfs_volhdr_ondisk *h = (const void *)p;

		if (hfs_le32(h->vh_crc) != hfs_block_crc(p, HFS_HDR_SIZE, 12))
			return -EBADMSG;
		return hfs_header_valid(h, raid_size(fs->rs)) ? -EUCLEAN : 0;
	}
	if (kind == BLK_META) {
		struct bc_buf fake = { .b_off = raw, .b_type = BC_META, .b_data = (uint8_t *)p };

		return hfs_meta_verify(fs, &fake);
	}
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len) == crc ? 0 : -EBADMSG;
}

/* Read [raw, raw+len) on each usable copy, verify, repair bad copies.
 * pieces_next: the caller scrubs the block again piece by piece when no
 * copy is good as a whole (a CRC4K extent): then 1, nothing counted. */
static int scrub_block_x(struct hfs_fs *fs, enum blk_kind kind, uint64_t raw, size_t len,
			 uint32_t crc, int pieces_next)
{
	struct hfs_scrub *sc = fs->scrub;
	int ncopies = raid_ncopies(fs->rs), k, good = -1, bad[RAID_MAX_COMP] = {0}, nbad = 0;
	int ret;

	bump(&fs->vh.vh_scrub_blocks, 1);
	for (k = 0; k < ncopies; k++) {
		ret = raid_copy_usable(fs->rs, k, raw, len);
		if (ret < 0)
			return ret;
		if (!ret)
			continue;   /* a failed/missing leg: rebuilt, not scrubbed */
		ret = raid_read_copy(fs->rs, k, raw, sc->sc_buf[k], len);
		bump(&fs->vh.vh_scrub_bytes, len);
		sc->sc_step_bytes += len;
		if (!ret)
			ret = check(fs, kind, raw, sc->sc_buf[k], len, crc);
		if (ret == -EBADMSG || ret == -EUCLEAN)
			raid_note_crc_error(fs->rs, k, raw, len);
		if (ret) {
			HFS_WARN("scrub: %s at %llu (+%zu) is bad on copy %d: %s",
				 kind == BLK_DATA ? "data extent" : kind == BLK_META ? "META block" :
				 "header", (unsigned long long)raw, len, k, strerror(-ret));
			bad[k] = 1;
			nbad++;
		} else if (good < 0) {
			good = k;
		}
	}
	if (!nbad)
		return 0;
	if (good < 0 && pieces_next)
		return 1;
	bump(&fs->vh.vh_scrub_errors, (uint64_t)nbad);
	if (good < 0) {
		HFS_ERR("scrub: block at %llu (+%zu) has no good copy", (unsigned long long)raw, len);
		bump(&fs->vh.vh_scrub_unrepairable, 1);
		return 0;
	}
	for (k = 0; k < ncopies; k++) {
		if (!bad[k])
			continue;
		/* S2: only a copy that failed verification is written */
		ret = raid_write_copy(fs->rs, k, raw, sc->sc_buf[good], len);
		if (ret) {
			HFS_ERR("scrub: rewriting copy %d at %llu failed: %s", k,
				(unsigned long long)raw, strerror(-ret));
			bump(&fs->vh.vh_scrub_unrepairable, 1);
		} else {
			bump(&fs->vh.vh_scrub_repaired, 1);
		}
	}
	return 0;
}

static int scrub_block(struct hfs_fs *fs, enum blk_kind kind, uint64_t raw, size_t len,
		       uint32_t crc)
{
	return scrub_block_x(fs, kind, raw, len, crc, 0);
}

/* ---- B-tree walk callbacks ------------------------------------------------ */

static int node_cb(void *priv, uint64_t za, int level)
{
	struct hfs_fs *fs = priv;
	struct hfs_scrub *sc = fs->scrub;

	if (level < MAXLVL) {
		if (sc->sc_last_node[level] == za)
			return 0;   /* verified by the step before (it stopped mid-leaf) */
		sc->sc_last_node[level] = za;
	}
	return scrub_block(fs, BLK_META, hfs_raw(za), HFS_BUFSIZE, 0);
}

static int rec_cb(void *priv, const struct hfs_key *k, const void *val, size_t len)
{
	struct hfs_fs *fs = priv;
	struct hfs_scrub *sc = fs->scrub;
	struct hfs_data_ondisk d;
	uint64_t addr;
	uint32_t dlen;

	if (k->type != HFS_REC_DATA && k->type != HFS_REC_DATAOVL)
		return 0;
	if (sc->sc_step_bytes >= STEP_BYTES || hfs_now_ns() - sc->sc_step_start >= STEP_NS) {
		sc->sc_stop_key = *k;   /* resume here next step */
		return 2;
	}
	if (k->type == HFS_REC_DATA && len == sizeof(struct hfs_pieces_ondisk)) {
		/* a block stored as 4 KiB pieces: each is a block of its own */
		struct hfs_pieces_ondisk pc;
		unsigned p;
		int ret = 0;

		memcpy(&pc, val, sizeof(pc));
		if (hfs_le32(pc.pc_hdr.d_flags) != HFS_DATAF_PIECES)
			return HFS_CORRUPT("DATA record of inode %llu at %llu: bad pieces record",
					   (unsigned long long)k->obj, (unsigned long long)k->key);
		for (p = 0; p < HFS_NPIECE && !ret; p++) {
			addr = hfs_le64(pc.pc_piece[p].p_addr);
			if (!addr)
				continue;   /* a hole */
			if (hfs_raw(addr) % HFS_BLKSIZE ||
			    (hfs_zone_of(addr) != HFS_ZONE_SMALL && hfs_zone_of(addr) != HFS_ZONE_LARGE) ||
			    hfs_raw(addr) + HFS_BLKSIZE > hfs_le64(fs->vh.vh_size))
				return HFS_CORRUPT("DATA record of inode %llu at %llu: invalid piece %u",
						   (unsigned long long)k->obj, (unsigned long long)k->key, p);
			ret = scrub_block(fs, BLK_DATA, hfs_raw(addr), HFS_BLKSIZE,
					  hfs_le32(pc.pc_piece[p].p_crc));
		}
		return ret;
	}
	/* a CRC4K record (minor 7) is its extent's header plus the CRCs of
	 * its pieces: d_crc still covers the whole extent (FORMAT.md §5) */
	if (len != sizeof(d) && !(k->type == HFS_REC_DATA && len == sizeof(struct hfs_crc4k_ondisk)))
		return HFS_CORRUPT("DATA record of inode %llu at %llu: %zu bytes",
				   (unsigned long long)k->obj, (unsigned long long)k->key, len);
	memcpy(&d, val, sizeof(d));
	if ((len == sizeof(d) ? hfs_le32(d.d_flags) & ~HFS_DATAF_ZERO :
	     hfs_le32(d.d_flags) != HFS_DATAF_CRC4K || hfs_le32(d.d_len) != HFS_FBLOCK))
		return HFS_CORRUPT("DATA record of inode %llu at %llu: flags 0x%x", (unsigned long long)k->obj,
				   (unsigned long long)k->key, hfs_le32(d.d_flags));
	if (hfs_le32(d.d_flags) & HFS_DATAF_ZERO)
		return 0;
	addr = hfs_le64(d.d_addr);
	dlen = hfs_le32(d.d_len);
	if (!dlen || dlen > HFS_FBLOCK || dlen % HFS_BLKSIZE || hfs_raw(addr) % HFS_BLKSIZE ||
	    (hfs_zone_of(addr) != HFS_ZONE_SMALL && hfs_zone_of(addr) != HFS_ZONE_LARGE) ||
	    hfs_raw(addr) + dlen > hfs_le64(fs->vh.vh_size))
		return HFS_CORRUPT("DATA record of inode %llu at %llu is invalid",
				   (unsigned long long)k->obj, (unsigned long long)k->key);
	if (len == sizeof(d))
		return scrub_block(fs, BLK_DATA, hfs_raw(addr), dlen, hfs_le32(d.d_crc));
	{
		struct hfs_crc4k_ondisk c;
		unsigned p;
		int ret = scrub_block_x(fs, BLK_DATA, hfs_raw(addr), dlen, hfs_le32(d.d_crc), 1);

		if (ret != 1)
			return ret;
		/* no copy is good as a whole: each piece may be good on some
		 * copy (different pieces bad on different legs) */
		memcpy(&c, val, sizeof(c));
		for (p = 0, ret = 0; p < HFS_NPIECE && !ret; p++)
			ret = scrub_block(fs, BLK_DATA, hfs_raw(addr) + (uint64_t)p * HFS_BLKSIZE,
					  HFS_BLKSIZE, hfs_le32(c.c_crc[p]));
		return ret;
	}
}

/* ---- steps ------------------------------------------------------------------ */

static struct hfs_key cursor(const struct hfs_fs *fs)
{
	return hfs_mkkey(hfs_le64(fs->vh.vh_scrub_obj), fs->vh.vh_scrub_type,
			 hfs_le64(fs->vh.vh_scrub_key));
}

static void set_cursor(struct hfs_fs *fs, const struct hfs_key *k)
{
	fs->vh.vh_scrub_obj = hfs_tole64(k->obj);
	fs->vh.vh_scrub_key = hfs_tole64(k->key);
	fs->vh.vh_scrub_type = k->type;
}

/* Headers and the free map (a fresh scrub's first step).  fs->lock held. */
static int step_fixed(struct hfs_fs *fs)
{
	uint64_t fm = hfs_raw(hfs_le64(fs->vh.vh_freemap_base));
	uint64_t n = hfs_le64(fs->vh.vh_freemap_size) / HFS_BUFSIZE, i;
	int ret = 0;

	for (i = 0; i < 2 && !ret; i++)
		ret = scrub_block(fs, BLK_HEADER, HFS_HDR_OFF(i), HFS_HDR_SIZE, 0);
	for (i = 0; i < n && !ret; i++)
		ret = scrub_block(fs, BLK_META, fm + i * HFS_BUFSIZE, HFS_BUFSIZE, 0);
	return ret;
}

/* One step: 0 more to do, 1 finished, -errno.  fs->lock held. */
static int step(struct hfs_fs *fs, bool first)
{
	struct hfs_scrub *sc = fs->scrub;
	struct hfs_key k = cursor(fs), next;
	int ret;

	if (bc_dirty_bytes(fs->bc)) {
		ret = hfs_flush_locked(fs);   /* S1 */
		if (ret)
			return ret;
	}
	sc->sc_step_bytes = 0;
	sc->sc_step_start = hfs_now_ns();
	if (first && k.obj == 0 && k.key == 0 && k.type == 0) {
		ret = step_fixed(fs);
		if (ret)
			return ret;
	}
	ret = hfs_bt_scan_leaf(fs, &k, node_cb, rec_cb, fs, &next);
	if (ret < 0)
		return ret;
	if (ret == 2)
		next = sc->sc_stop_key;
	else if (ret == 1)
		return 1;
	set_cursor(fs, &next);
	return 0;
}

static void *scrub_main(void *arg)
{
	struct hfs_fs *fs = arg;
	struct hfs_scrub *sc = fs->scrub;
	bool first = true, stop;
	int ret;

	for (;;) {
		pthread_mutex_lock(&sc->sc_lock);
		stop = sc->sc_stop;
		pthread_mutex_unlock(&sc->sc_lock);
		if (stop)
			break;
		pthread_mutex_lock(&fs->lock);
		if (fs->readonly) {
			ret = -EROFS;
		} else {
			ret = step(fs, first);
			if (ret == 1) {
				fs->vh.vh_scrub_state = hfs_tole32(HFS_SCRUB_DONE);
				fs->vh.vh_scrub_end = hfs_tole64((uint64_t)time(NULL));
				set_cursor(fs, &(struct hfs_key){ 0, 0, 0 });
				ret = hfs_flush_locked(fs);   /* the result is durable */
				if (!ret)
					ret = 1;
				HFS_WARN("scrub finished: %llu blocks, %llu bytes, %llu errors, "
					 "%llu repaired, %llu unrepairable",
					 (unsigned long long)hfs_le64(fs->vh.vh_scrub_blocks),
					 (unsigned long long)hfs_le64(fs->vh.vh_scrub_bytes),
					 (unsigned long long)hfs_le64(fs->vh.vh_scrub_errors),
					 (unsigned long long)hfs_le64(fs->vh.vh_scrub_repaired),
					 (unsigned long long)hfs_le64(fs->vh.vh_scrub_unrepairable));
			}
		}
		if (ret < 0) {
			sc->sc_err = ret;
			HFS_ERR("scrub stopped: %s", strerror(-ret));
		}
		pthread_mutex_unlock(&fs->lock);
		first = false;
		if (ret)
			break;
		/* a mutex is not fair: without a pause the next step would take
		 * the lock back before a woken FUSE request gets it */
		usleep(PAUSE_US);
	}
	pthread_mutex_lock(&sc->sc_lock);
	sc->sc_active = false;
	pthread_mutex_unlock(&sc->sc_lock);
	return NULL;
}

/* ---- public (hfs_int.h) ------------------------------------------------------- */

int hfs_scrub_init(struct hfs_fs *fs)
{
	struct hfs_scrub *sc = calloc(1, sizeof(*sc));
	int k;

	if (!sc)
		return -ENOMEM;
	pthread_mutex_init(&sc->sc_lock, NULL);
	for (k = 0; k < raid_ncopies(fs->rs) && k < RAID_MAX_COMP; k++)
		if (posix_memalign((void **)&sc->sc_buf[k], 4096, HFS_FBLOCK)) {
			fs->scrub = sc;
			hfs_scrub_fini(fs);
			return -ENOMEM;
		}
	fs->scrub = sc;
	return 0;
}

/* Join a thread that has finished (or stop and join a running one). */
static void reap(struct hfs_scrub *sc, bool stop)
{
	pthread_t t;

	pthread_mutex_lock(&sc->sc_lock);
	if (!sc->sc_running || (!stop && sc->sc_active)) {
		pthread_mutex_unlock(&sc->sc_lock);
		return;
	}
	sc->sc_stop = true;
	t = sc->sc_thread;
	pthread_mutex_unlock(&sc->sc_lock);
	pthread_join(t, NULL);
	pthread_mutex_lock(&sc->sc_lock);
	sc->sc_running = false;
	pthread_mutex_unlock(&sc->sc_lock);
}

void hfs_scrub_fini(struct hfs_fs *fs)
{
	struct hfs_scrub *sc = fs->scrub;
	int k;

	if (!sc)
		return;
	reap(sc, true);
	for (k = 0; k < RAID_MAX_COMP; k++)
		free(sc->sc_buf[k]);
	pthread_mutex_destroy(&sc->sc_lock);
	free(sc);
	fs->scrub = NULL;
}

int hfs_scrub_start(struct hfs_fs *fs, int *resumed)
{
	struct hfs_scrub *sc = fs->scrub;
	int ret;

	if (!sc)
		return -ENOTSUP;
	reap(sc, false);
	/* lock order fs->lock -> sc_lock (hfs_scrub_json): never hold sc_lock
	 * while taking fs->lock; sc_running reserves the thread slot */
	pthread_mutex_lock(&sc->sc_lock);
	if (sc->sc_running) {
		pthread_mutex_unlock(&sc->sc_lock);
		return -EBUSY;
	}
	sc->sc_running = true;
	sc->sc_active = false;
	pthread_mutex_unlock(&sc->sc_lock);
	pthread_mutex_lock(&fs->lock);
	if (fs->readonly) {
		pthread_mutex_unlock(&fs->lock);
		pthread_mutex_lock(&sc->sc_lock);
		sc->sc_running = false;
		pthread_mutex_unlock(&sc->sc_lock);
		return -EROFS;
	}
	*resumed = hfs_le32(fs->vh.vh_scrub_state) == HFS_SCRUB_RUNNING;
	if (*resumed) {
		sc->sc_resumed++;
	} else {
		fs->vh.vh_scrub_state = hfs_tole32(HFS_SCRUB_RUNNING);
		fs->vh.vh_scrub_start = hfs_tole64((uint64_t)time(NULL));
		fs->vh.vh_scrub_end = 0;
		fs->vh.vh_scrub_blocks = fs->vh.vh_scrub_bytes = fs->vh.vh_scrub_errors = 0;
		fs->vh.vh_scrub_repaired = fs->vh.vh_scrub_unrepairable = 0;
		set_cursor(fs, &(struct hfs_key){ 0, 0, 0 });
	}
	memset(sc->sc_last_node, 0, sizeof(sc->sc_last_node));
	sc->sc_err = 0;
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_lock(&sc->sc_lock);
	sc->sc_stop = false;
	sc->sc_active = true;
	ret = -pthread_create(&sc->sc_thread, NULL, scrub_main, fs);
	sc->sc_running = ret == 0;
	sc->sc_active = ret == 0;
	pthread_mutex_unlock(&sc->sc_lock);
	return ret;
}

int hfs_scrub_pause(struct hfs_fs *fs)
{
	struct hfs_scrub *sc = fs->scrub;
	bool active;

	if (!sc)
		return -ENOTSUP;
	/* a scrub that has written DONE is over even if its thread has not
	 * quite ended yet (lock order: fs->lock, then sc_lock) */
	pthread_mutex_lock(&fs->lock);
	active = hfs_le32(fs->vh.vh_scrub_state) == HFS_SCRUB_RUNNING;
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_lock(&sc->sc_lock);
	active = active && sc->sc_running && sc->sc_active;
	pthread_mutex_unlock(&sc->sc_lock);
	reap(sc, true);
	return active ? 0 : -ENOENT;
}

void hfs_scrub_json(struct hfs_fs *fs, FILE *f)
{
	struct hfs_scrub *sc = fs->scrub;
	const struct hfs_volhdr_ondisk *vh = &fs->vh;
	uint32_t st = hfs_le32(vh->vh_scrub_state);
	uint64_t used, want, done = hfs_le64(vh->vh_scrub_bytes);
	bool active = false;
	int pct;

	if (sc) {
		pthread_mutex_lock(&sc->sc_lock);
		active = sc->sc_running && sc->sc_active;
		pthread_mutex_unlock(&sc->sc_lock);
	}
	/* progress: bytes read against the allocated bytes outside the UNDO
	 * FIFO on every copy (an estimate: the tree changes while it runs) */
	used = hfs_le64(vh->vh_size) - hfs_alloc_free_blocks(fs) * HFS_BLKSIZE;
	used = used > hfs_le64(vh->vh_undo_size) ? used - hfs_le64(vh->vh_undo_size) : used;
	want = used * (uint64_t)raid_ncopies(fs->rs);
	pct = st == HFS_SCRUB_DONE ? 100 : st == HFS_SCRUB_NONE ? 0 :
	      want ? (int)(done * 100 / want) : 0;
	if (st == HFS_SCRUB_RUNNING && pct > 99)
		pct = 99;
	fprintf(f, "{ \"state\": \"%s\", \"progress_pct\": %d, \"blocks\": %llu, \"bytes\": %llu, "
		   "\"errors\": %llu, \"repaired\": %llu, \"unrepairable\": %llu, "
		   "\"started\": %llu, \"finished\": %llu, \"cursor\": \"%llu:%u:%llu\", "
		   "\"last_error\": \"%s\" }",
		st == HFS_SCRUB_NONE ? "none" : st == HFS_SCRUB_DONE ? "finished" :
		active ? "running" : "paused",
		pct, (unsigned long long)hfs_le64(vh->vh_scrub_blocks), (unsigned long long)done,
		(unsigned long long)hfs_le64(vh->vh_scrub_errors),
		(unsigned long long)hfs_le64(vh->vh_scrub_repaired),
		(unsigned long long)hfs_le64(vh->vh_scrub_unrepairable),
		(unsigned long long)hfs_le64(vh->vh_scrub_start),
		(unsigned long long)hfs_le64(vh->vh_scrub_end),
		(unsigned long long)hfs_le64(vh->vh_scrub_obj), vh->vh_scrub_type,
		(unsigned long long)hfs_le64(vh->vh_scrub_key),
		sc && sc->sc_err ? strerror(-sc->sc_err) : "");
}
