/*
 * volume.c — mount and unmount, the two volume-header copies, the commit
 * hooks of the flush cycle, META block CRC/verification, the periodic
 * flusher.
 *
 * Header copies: the header of commit sequence S is written to slot S & 1,
 * so the previous commit's copy is never overwritten by the commit after
 * it; a torn header write leaves the older valid copy, which is still a
 * consistent state because UNDO replay (hfs_recover) rolls the metadata
 * back to it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/hfs_int.h"

/* Worst case of one operation: every buffer it may modify needs a
 * pre-image (rule (1) in hfs_int.h bounds an operation to 64 META buffers). */
#define HFS_OP_MAX_META   64u
#define HFS_OP_UNDO_BYTES (HFS_OP_MAX_META * (HFS_BUFSIZE + 2 * HFS_UNDO_ALIGN))
/* Space one operation may allocate (a 1 MiB write: 17 data blocks, its
 * B-tree nodes), with a wide margin: below it, freed-but-pending space is
 * made reusable by committing first instead of failing with ENOSPC. */
#define HFS_OP_SPACE_BLOCKS 2048u
/* Pending blocks worth a commit when space is short (256 KiB). */
#define HFS_OP_PENDING_MIN 64u

/* ---- headers ---------------------------------------------------------------- */

int hfs_header_valid(const struct hfs_volhdr_ondisk *h, uint64_t raid_bytes)
{
	uint64_t size = hfs_le64(h->vh_size);
	uint64_t ub = hfs_le64(h->vh_undo_base), us = hfs_le64(h->vh_undo_size);
	uint64_t fb = hfs_le64(h->vh_freemap_base), fs = hfs_le64(h->vh_freemap_size);
	uint64_t root = hfs_le64(h->vh_btree_root);

	if (hfs_le64(h->vh_magic) != HFS_VOL_MAGIC)
		return -ENODATA;
	if (hfs_le32(h->vh_crc) != hfs_block_crc(h, HFS_HDR_SIZE, 12))
		return -EBADMSG;
	if (hfs_le16(h->vh_major) != HFS_VERSION_MAJOR)
		return -EPROTO;
	if (hfs_le32(h->vh_blksize) != HFS_BLKSIZE || hfs_le32(h->vh_bufsize) != HFS_BUFSIZE ||
	    hfs_le32(h->vh_bigblock) != HFS_BIGBLOCK || hfs_le32(h->vh_fblock) != HFS_FBLOCK ||
	    size % HFS_BIGBLOCK || size < HFS_MIN_SIZE || size > raid_bytes ||
	    hfs_zone_of(ub) != HFS_ZONE_UNDO || hfs_raw(ub) % HFS_BIGBLOCK ||
	    us < HFS_BIGBLOCK || us % HFS_BIGBLOCK || hfs_raw(ub) + us > size ||
	    hfs_le64(h->vh_undo_first) >= us || hfs_le64(h->vh_undo_first) % HFS_UNDO_ALIGN ||
	    hfs_zone_of(fb) != HFS_ZONE_FREEMAP || hfs_raw(fb) + fs > size || fs % HFS_BUFSIZE ||
	    fs / HFS_BUFSIZE * HFS_FM_PER_BLOCK < size / HFS_BIGBLOCK ||
	    hfs_zone_of(root) != HFS_ZONE_BTREE || hfs_raw(root) % HFS_BUFSIZE ||
	    hfs_raw(root) >= size || hfs_le32(h->vh_btree_depth) < 1 ||
	    hfs_le32(h->vh_btree_depth) > 32)
		return -EUCLEAN;
	if (h->vh_redo_seq && (hfs_le64(h->vh_redo_first) >= us || hfs_le64(h->vh_redo_end) >= us ||
			       hfs_le64(h->vh_redo_first) % HFS_UNDO_ALIGN ||
			       hfs_le64(h->vh_redo_end) % HFS_UNDO_ALIGN ||
			       hfs_le64(h->vh_redo_seq) > hfs_le64(h->vh_seq)))
		return -EUCLEAN;
	return 0;
}

int hfs_read_header(struct raid_set *rs, struct hfs_volhdr_ondisk *vh)
{
	struct hfs_volhdr_ondisk *h;
	int ret[2], i, best = -1;

	if (posix_memalign((void **)&h, 4096, 2 * sizeof(*h)))
		return -ENOMEM;
	for (i = 0; i < 2; i++) {
		ret[i] = raid_read(rs, HFS_HDR_OFF(i), &h[i], HFS_HDR_SIZE);
		if (ret[i] == 0)
			ret[i] = hfs_header_valid(&h[i], raid_size(rs));
		if (ret[i] == 0 && (best < 0 || hfs_le64(h[i].vh_seq) > hfs_le64(h[best].vh_seq)))
			best = i;
	}
	if (best >= 0) {
		if (ret[!best] != 0 && ret[!best] != -ENODATA)
			HFS_WARN("volume header copy %d is invalid (%s); using copy %d", !best,
				 strerror(-ret[!best]), best);
		memcpy(vh, &h[best], sizeof(*vh));
	}
	free(h);
	if (best < 0)
		return ret[0] == -ENODATA && ret[1] == -ENODATA ? -ENODATA :
		       ret[0] == -EBADMSG || ret[1] == -EBADMSG ? -EBADMSG : -EUCLEAN;
	return best;
}

/* Write header vh (CRC filled here) to slot seq & 1 through raid directly
 * (mkfs and the recovery commit at mount). */
int hfs_write_header_raw(struct raid_set *rs, struct hfs_volhdr_ondisk *vh)
{
	void *p;
	int ret;

	vh->vh_crc = 0;
	vh->vh_crc = hfs_tole32(hfs_block_crc(vh, HFS_HDR_SIZE, 12));
	if (posix_memalign(&p, 4096, HFS_HDR_SIZE))
		return -ENOMEM;
	memcpy(p, vh, HFS_HDR_SIZE);
	ret = raid_write(rs, HFS_HDR_OFF(hfs_le64(vh->vh_seq) & 1), p, HFS_HDR_SIZE);
	if (!ret)
		ret = raid_flush(rs);
	free(p);
	return ret;
}

/* ---- META blocks: CRC and verification (bufcache hooks) ---------------------- */

void hfs_meta_crc(void *priv, struct bc_buf *b)
{
	struct hfs_fs *fs = priv;
	struct hfs_blkhdr_ondisk *h = (void *)b->b_data;

	h->bh_seq = hfs_tole64(bc_seq(fs->bc));
	h->bh_crc = hfs_tole32(hfs_block_crc(b->b_data, HFS_BUFSIZE, 4));
}

int hfs_meta_verify(void *priv, struct bc_buf *b)
{
	const struct hfs_blkhdr_ondisk *h = (const void *)b->b_data;
	uint32_t magic = hfs_le32(h->bh_magic);
	uint64_t self = hfs_le64(h->bh_self);

	if (magic != HFS_BTREE_MAGIC && magic != HFS_FREEMAP_MAGIC)
		return HFS_CORRUPT("META block at %llu: bad magic %#x",
				   (unsigned long long)b->b_off, magic);
	if (hfs_le32(h->bh_crc) != hfs_block_crc(b->b_data, HFS_BUFSIZE, 4))
		return HFS_BADCRC("META block at %llu: CRC mismatch", (unsigned long long)b->b_off);
	if (hfs_raw(self) != b->b_off ||
	    hfs_zone_of(self) != (magic == HFS_BTREE_MAGIC ? HFS_ZONE_BTREE : HFS_ZONE_FREEMAP))
		return HFS_CORRUPT("META block at %llu claims address %#llx (misdirected write?)",
				   (unsigned long long)b->b_off, (unsigned long long)self);
	return 0;
}

int hfs_meta_get(struct hfs_fs *fs, uint64_t zaddr, int flags, struct bc_buf **out)
{
	uint64_t raw = hfs_raw(zaddr);

	if (raw % HFS_BUFSIZE || raw + HFS_BUFSIZE > hfs_le64(fs->vh.vh_size))
		return HFS_CORRUPT("META address %#llx out of the volume", (unsigned long long)zaddr);
	return bc_get(fs->bc, BC_META, raw, flags, out);
}

/* ---- commit hooks ------------------------------------------------------------------ */

static int commit_hook(void *priv, uint64_t seq)
{
	struct hfs_fs *fs = priv;
	struct bc_buf *b;
	int ret;

	fs->vh.vh_seq = hfs_tole64(seq);
	fs->vh.vh_undo_first = hfs_tole64(fs->undo_next);
	fs->vh.vh_free_blocks = hfs_tole64(hfs_alloc_free_blocks(fs));
	fs->vh.vh_mtime = hfs_tole64((uint64_t)time(NULL));
	fs->vh.vh_crc = 0;
	fs->vh.vh_crc = hfs_tole32(hfs_block_crc(&fs->vh, HFS_HDR_SIZE, 12));
	/* The whole slot is rewritten: no need to read it first. */
	ret = bc_get(fs->bc, BC_VOLUME, HFS_HDR_OFF(seq & 1), BC_GET_NEW, &b);
	if (ret)
		return ret;
	ret = bc_modify(b);
	if (!ret) {
		memcpy(b->b_data, &fs->vh, HFS_HDR_SIZE);
		bc_modify_done(b);
	}
	bc_put(b);
	return ret;
}

static void committed_hook(void *priv, uint64_t seq)
{
	struct hfs_fs *fs = priv;

	fs->hdr_slot = (int)(seq & 1);
	fs->vh_committed = fs->vh;   /* commit_hook filled and wrote exactly this */
	fs->undo_group_bytes = 0;
	hfs_alloc_committed(fs);
	hfs_redo_committed(fs);
}

/* ---- flushing ----------------------------------------------------------------------- */

static int flush_locked(struct hfs_fs *fs, int force)
{
	int ret;

	if (fs->readonly)
		return bc_readonly(fs->bc) ? -EIO : 0;
	hfs_data_drain(fs);
	hfs_held_settle_all(fs);   /* (H3): a commit holds every acknowledged write */
	/* Nothing to commit: no buffer or direct write since the last commit
	 * and the header unchanged (a scrub cursor, a corrected free count
	 * live only in fs->vh).  That commit's last device flush already made
	 * everything durable, so a flush would only cost three barriers (an
	 * fsync of a clean file, the periodic flusher). */
	if (!force && bc_idle(fs->bc) && !memcmp(&fs->vh, &fs->vh_committed, sizeof(fs->vh)))
		return 0;
	ret = bc_flush(fs->bc);
	if (!ret && fs->status_path[0]) {
		uint64_t t = hfs_now_ns();

		if (t - fs->status_ns > 1000000000ull) {   /* at most once a second */
			fs->status_ns = t;
			hfs_status_publish(fs);
		}
	}
	if (ret && bc_readonly(fs->bc) && !fs->readonly) {
		fs->readonly = true;
		HFS_ERR("metadata write failed: filesystem is read-only from now on");
	}
	return ret;
}

int hfs_flush_locked(struct hfs_fs *fs) { return flush_locked(fs, 0); }
int hfs_commit_locked(struct hfs_fs *fs) { return flush_locked(fs, 1); }

int hfs_op_begin(struct hfs_fs *fs)
{
	if (fs->readonly)
		return -EROFS;
	if (hfs_undo_headroom(fs) < HFS_OP_UNDO_BYTES || bc_throttle(fs->bc))
		return hfs_flush_locked(fs);
	/* freed space is scattered through the big-blocks until it commits, so
	 * commit once much of the free space is pending, or little is left */
	{
		uint64_t pend = hfs_alloc_pending_blocks(fs), free = hfs_alloc_free_blocks(fs);
		uint64_t left = free - pend;

		/* ...but not for a few pending blocks while some space is left:
		 * near full, every copy-on-write leaves a pending block, and a
		 * commit per operation made each create take a commit's time
		 * (xfstests generic/027); a write that runs out commits and
		 * retries by itself (op_write) */
		if (pend && (pend > free / 2 ||
			     (left < HFS_OP_SPACE_BLOCKS &&
			      (pend >= HFS_OP_PENDING_MIN || left < HFS_OP_PENDING_MIN))))
			return hfs_flush_locked(fs);
	}
	return 0;
}

int hfs_sync(struct hfs_fs *fs)
{
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = hfs_flush_locked(fs);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void *flusher_main(void *arg);

int hfs_flusher_start(struct hfs_fs *fs)
{
	int ret;

	if (fs->flusher_running)
		return 0;
	ret = -pthread_create(&fs->flusher, NULL, flusher_main, fs);
	fs->flusher_running = ret == 0;
	return ret;
}

static void *flusher_main(void *arg)
{
	struct hfs_fs *fs = arg;
	unsigned ms = fs->opts.flush_interval_ms ? fs->opts.flush_interval_ms : 5000;

	pthread_mutex_lock(&fs->lock);
	while (!fs->flusher_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fs->flush_cv, &fs->lock, &ts);
		if (!fs->flusher_stop && !fs->readonly && bc_dirty_bytes(fs->bc))
			hfs_flush_locked(fs);
		if (!fs->flusher_stop)
			hfs_status_publish(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* ---- mount / unmount ------------------------------------------------------------------ */

int hfs_open(const char *const *paths, int n, const struct hfs_mount_opts *o,
	     struct hfs_fs **out)
{
	static const struct hfs_mount_opts defaults;
	struct hfs_fs *fs;
	struct bc_opts bo = { 0 };
	struct bc_hooks hooks;
	struct hfs_redo_set redo;
	int ret, nrec = 0;

	if (!o)
		o = &defaults;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->flush_cv, NULL);
	pthread_cond_init(&fs->data_cv, NULL);
	hfs_held_init(fs);
	if (o->norecovery && !o->readonly) {
		free(fs);
		return -EINVAL;   /* a read-write mount always recovers */
	}
	fs->opts = *o;
	fs->opts.raid.readonly = o->readonly;
	memset(&redo, 0, sizeof(redo));
	ret = raid_open(paths, n, &fs->opts.raid, &fs->rs);
	if (ret)
		goto err_free;
	if (o->readonly && o->norecovery) {
		/* the last commit as it is: an interrupted flush is rolled back
		 * in memory only (norecovery.c), nothing is written */
		ret = hfs_read_header(fs->rs, &fs->vh);
		if (ret >= 0) {
			int nr = 0, r = hfs_norec_load(fs, &nr);

			if (r)
				ret = r;
			else if (nr)
				HFS_INFO("norecovery: %d UNDO records of an interrupted flush applied "
					 "in memory only; the devices keep them", nr);
		}
	} else if (o->readonly) {
		ret = hfs_read_header(fs->rs, &fs->vh);
		/* A read-only mount of an interrupted flush still recovers, on
		 * disk, as xfs and ext4 replay their logs on a writable device:
		 * the set becomes writable for it (all legs present and
		 * optimal; the mount stays read-only above the set).  A
		 * filesystem not unmounted cleanly with nothing to replay
		 * needs no write now (its orphans wait for a read-write
		 * mount), but on a write-protected device it is refused like
		 * the replay: recovery could not finish there, and ext4 and
		 * xfs refuse it too (-o norecovery is the explicit way). */
		if (ret >= 0 && hfs_undo_pending(fs->rs, &fs->vh)) {
			ret = raid_make_writable(fs->rs);
			if (ret) {
				if (ret != -EROFS)
					HFS_ERR("the volume needs UNDO recovery and a leg is missing or "
						"not optimal; mount it read-write once (or run fsck.hfs)");
				ret = -EROFS;
			} else {
				fs->opts.raid.readonly = 0;
				ret = hfs_recover_redo(fs->rs, &fs->vh, &nrec, &redo);
			}
		} else if (ret >= 0 && (hfs_le32(fs->vh.vh_flags) & HFS_VOLF_MOUNTED)) {
			int i;

			for (i = 0; i < n; i++)
				if (raid_write_protected(paths[i]) == 1)
					ret = -EROFS;
		}
	} else {
		ret = hfs_recover_redo(fs->rs, &fs->vh, &nrec, &redo);
	}
	if (ret < 0) {
		if (ret == -ENODATA)
			fprintf(stderr, "hfs: no hfs filesystem on the device (no valid volume header)\n");
		else if (ret != -EROFS)
			fprintf(stderr, "hfs: cannot read a valid volume header: %s\n", strerror(-ret));
		goto err_raid;
	}
	fs->nbigblocks = hfs_le64(fs->vh.vh_size) / HFS_BIGBLOCK;
	/* a distinct sequence for the next group; the REDO records found
	 * stay named by the header until their replay commits (undo.c U6) */
	ret = hfs_recover_commit(fs->rs, &fs->vh, nrec, &redo);
	if (ret)
		goto err_raid;
	if (nrec > 0)
		HFS_INFO("recovered: %d UNDO records rolled back to commit %llu", nrec,
			 (unsigned long long)(hfs_le64(fs->vh.vh_seq) - 1));
	if (fs->vh.vh_redo_seq)
		fs->undo_hold = (hfs_le64(fs->vh.vh_undo_first) + hfs_le64(fs->vh.vh_undo_size) -
				 hfs_le64(fs->vh.vh_redo_first)) % hfs_le64(fs->vh.vh_undo_size);
	fs->hdr_slot = (int)(hfs_le64(fs->vh.vh_seq) & 1);
	/* fs->vh_committed stays zero: the first flush of a mount always
	 * commits, so it rewrites a header copy found bad at mount */
	fs->undo_next = hfs_le64(fs->vh.vh_undo_first);
	bo.mem_limit = o->cache_size;
	bo.first_seq = hfs_le64(fs->vh.vh_seq) + 1;
	hooks = (struct bc_hooks){ fs, hfs_undo_hook, hfs_meta_crc, hfs_meta_verify,
				   commit_hook, committed_hook, hfs_redo_modify_hook,
				   fs->norec ? hfs_norec_hook : NULL };
	ret = bc_open(fs->rs, &bo, &hooks, &fs->bc);
	if (ret)
		goto err_raid;
	ret = hfs_alloc_load(fs);
	if (ret)
		goto err_bc;
	fs->readonly = o->readonly;
	if (!fs->readonly)   /* reaches the disk with the first commit */
		fs->vh.vh_flags = hfs_tole32(hfs_le32(fs->vh.vh_flags) | HFS_VOLF_MOUNTED);
	ret = hfs_scrub_init(fs);
	if (ret)
		goto err_alloc;
	ret = hfs_rebuild_init(fs);
	if (ret)
		goto err_scrub;
	hfs_redo_init(fs);
	if (redo.n) {
		/* fsync'd operations the last commit does not hold: replayed
		 * on a read-only mount too (the set was made writable for the
		 * recovery), as the UNDO is */
		pthread_mutex_lock(&fs->lock);
		fs->readonly = false;
		ret = hfs_redo_replay(fs, &redo);
		fs->readonly = o->readonly;
		pthread_mutex_unlock(&fs->lock);
		if (ret) {
			fprintf(stderr, "hfs: cannot replay the fsync'd operations of the REDO "
				"records: %s\n", strerror(-ret));
			goto err_scrub;
		}
	}
	hfs_redo_set_free(&redo);
	if (!fs->readonly) {
		ret = hfs_flusher_start(fs);
		if (ret)
			goto err_scrub;
	}
	*out = fs;
	return 0;
err_scrub:
	hfs_redo_fini(fs);
	hfs_rebuild_fini(fs);
	hfs_scrub_fini(fs);
err_alloc:
	hfs_alloc_unload(fs);
err_bc:
	bc_close(fs->bc);
err_raid:
	raid_close(fs->rs);
	hfs_norec_free(fs);
err_free:
	hfs_redo_set_free(&redo);
	hfs_held_fini(fs);   /* what a failed replay held */
	free(fs);
	return ret;
}

int hfs_close(struct hfs_fs *fs)
{
	int ret = 0;

	hfs_scrub_fini(fs);   /* between two steps: the cursor is in fs->vh */
	hfs_rebuild_fini(fs); /* between two steps: the cursor is in the bitmap */
	if (fs->flusher_running) {
		pthread_mutex_lock(&fs->lock);
		fs->flusher_stop = true;
		pthread_cond_broadcast(&fs->flush_cv);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->flusher, NULL);
	}
	if (!fs->readonly) {
		/* a clean unmount: the final commit says so */
		pthread_mutex_lock(&fs->lock);
		fs->vh.vh_flags = hfs_tole32(hfs_le32(fs->vh.vh_flags) & ~HFS_VOLF_MOUNTED);
		pthread_mutex_unlock(&fs->lock);
		ret = hfs_sync(fs);
	}
	bc_close(fs->bc);
	hfs_norec_free(fs);
	hfs_alloc_unload(fs);
	hfs_redo_fini(fs);
	raid_close(fs->rs);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->flush_cv);
	pthread_cond_destroy(&fs->data_cv);
	hfs_held_fini(fs);
	free(fs);
	return ret;
}

void hfs_statfs_get(struct hfs_fs *fs, struct hfs_statfs *st)
{
	pthread_mutex_lock(&fs->lock);
	st->total_blocks = hfs_le64(fs->vh.vh_size) / HFS_BLKSIZE;
	st->free_blocks = hfs_alloc_free_blocks(fs);
	st->avail_blocks = hfs_alloc_data_blocks(fs);
	if (st->avail_blocks > st->free_blocks)
		st->avail_blocks = st->free_blocks;
	st->avail_blocks = st->avail_blocks > hfs_alloc_wb_reserve(fs) ?
			   st->avail_blocks - hfs_alloc_wb_reserve(fs) : 0;
	st->ninodes = hfs_le64(fs->vh.vh_ninodes);
	/* Inodes are B-tree records (a slot, 128 bytes and a directory entry:
	 * about 256 bytes, some 512 with the nodes' slack), so the count is
	 * bounded by space.  The total is fixed at one per 4 KiB block (ext4
	 * makes one per 16 KiB), so that creating a file lowers the free count
	 * by one and removing it gives that back, as on a filesystem with an
	 * inode table; once the volume is nearly full, the free count is what
	 * the free space could still hold at 256 bytes each.  (One per 512
	 * bytes made tools that create "all free inodes" create millions:
	 * xfstests generic/558 ran for half an hour on 1 GiB.) */
	st->max_inodes = st->total_blocks;
	st->free_inodes = st->max_inodes > st->ninodes ? st->max_inodes - st->ninodes : 0;
	if (st->free_inodes > st->free_blocks * (HFS_BLKSIZE / 256))
		st->free_inodes = st->free_blocks * (HFS_BLKSIZE / 256);
	pthread_mutex_unlock(&fs->lock);
}
