/*
 * hfs_int.h — internals shared by the files of fs/.  Not a contract for
 * other layers (unit tests may use it).
 *
 * Locking (v1): one mutex, fs->lock, serializes every operation that reads
 * or changes metadata, and the flush cycle (bc_flush is called with it
 * held, which satisfies bufcache's "no modify during flush" rule).  Lock
 * order: fs->lock -> (bufcache internal) -> (raid internal).
 * Exception, file data (file.c, section.c): reads and writes drop fs->lock while the
 * device works and CRCs are computed, inside a *data section*
 * (data_inflight).  A flush first waits until no data section is open
 * (hfs_data_drain), so it never commits space a write allocated but has
 * not referenced yet, nor reuses space a reader is still reading.
 *
 * Crash rules every modifying operation follows (docs/DESIGN.md):
 *  (1) Call hfs_op_begin() first: it flushes if the UNDO FIFO or dirty
 *      memory is near its limit, so no flush happens mid-operation.
 *  (2) An operation touches a bounded number of buffers; unbounded work
 *      (truncating or deleting a huge file) is split into steps that each
 *      leave a consistent filesystem (shrink from the end, size updated).
 *  (3) File data referenced by the committed state is never overwritten:
 *      new data goes to hfs_alloc()ed space; hfs_free()d space is reused
 *      only after the group that freed it commits.
 */
#ifndef HFS_HFS_INT_H
#define HFS_HFS_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include "fs/hfs.h"
#include "fs/ondisk.h"
#include "bufcache/bufcache.h"

/* ---- errors that carry where they started (STYLE: CRC vs corruption) --- */
#ifndef EUCLEAN
#define EUCLEAN 117
#endif
void hfs_log(const char *level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define HFS_WARN(...)  hfs_log("warning", __FILE__, __LINE__, __VA_ARGS__)
/* What a kernel filesystem puts in dmesg only (recovery done, orphans
 * reclaimed): a daemon sends it to syslog, never to the terminal of the
 * mount command; in the foreground it goes to stderr like the rest. */
#define HFS_INFO(...)  hfs_log("info", __FILE__, __LINE__, __VA_ARGS__)
#define HFS_ERR(...)   hfs_log("error", __FILE__, __LINE__, __VA_ARGS__)
/* return HFS_CORRUPT("what") -> logs file:line, evaluates to -EUCLEAN */
#define HFS_CORRUPT(...) (hfs_log("corrupt", __FILE__, __LINE__, __VA_ARGS__), -EUCLEAN)
#define HFS_BADCRC(...)  (hfs_log("badcrc", __FILE__, __LINE__, __VA_ARGS__), -EBADMSG)

/* ---- in-memory key ------------------------------------------------------ */
struct hfs_key {
	uint64_t obj;
	uint64_t key;
	uint8_t  type;     /* enum hfs_rec_type */
};
/* Key order (obj, type, key) and the little-endian encoding.  Inline: a
 * B-tree search decodes and compares a key at every step of its binary
 * searches; as calls into another file they were 2% of all CPU samples of
 * fsync'd random writes (perf), a twentieth of the daemon's. */
static inline int hfs_key_cmp(const struct hfs_key *a, const struct hfs_key *b)
{
	if (a->obj != b->obj)
		return a->obj < b->obj ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return 0;
}

static inline void hfs_key_encode(struct hfs_key_ondisk *d, const struct hfs_key *k)
{
	memset(d, 0, sizeof(*d));
	d->k_obj = hfs_tole64(k->obj);
	d->k_key = hfs_tole64(k->key);
	d->k_type = k->type;
}

static inline void hfs_key_decode(struct hfs_key *k, const struct hfs_key_ondisk *d)
{
	k->obj = hfs_le64(d->k_obj);
	k->key = hfs_le64(d->k_key);
	k->type = d->k_type;
}
static inline struct hfs_key hfs_mkkey(uint64_t obj, uint8_t type, uint64_t key)
{ struct hfs_key k = { obj, key, type }; return k; }

/* ---- allocator state (alloc.c) ------------------------------------------ */
struct hfs_redo_rec;       /* private to redo.c */
struct hfs_alloc;          /* private to alloc.c */

/* ---- the mounted filesystem ------------------------------------------- */
/* blocks filled in place at once at most (block.c (D7)): the kernel's
 * writeback has up to 32 WRITEs of 16-17 blocks in flight, and a block
 * that finds the table full is copied on write away from its neighbours */
#define HFS_INPLACE_MAX 512
/* part blocks held in memory at most (held.c): 64 KiB each */
#define HFS_HELD_MAX 64

struct hfs_fs {
	pthread_mutex_t lock;              /* see top comment */
	struct raid_set *rs;
	struct bc *bc;
	struct hfs_mount_opts opts;

	/* volume header: in-memory working copy; committed to slot hdr_next
	 * by the commit hook.  Fields change under fs->lock. */
	struct hfs_volhdr_ondisk vh;
	struct hfs_volhdr_ondisk vh_committed;  /* vh as of this mount's last commit (zero before) */
	int hdr_slot;                      /* slot of the last committed copy */
	uint64_t nbigblocks;

	/* UNDO FIFO (undo.c) */
	uint64_t undo_next;                /* FIFO offset of the next record of this group */
	uint64_t undo_group_bytes;         /* bytes appended in this group */
	uint64_t undo_hold;                /* FIFO bytes of REDO records awaiting replay (undo.c U6) */

	/* redo.c: fsync by REDO records; under fs->lock (redo_off also
	 * set by the modify hook, atomically) */
	bool redo_enabled;                 /* volume minor >= HFS_MINOR_REDO and not -o noredo */
	bool redo_off;                     /* this group changed metadata outside logged ops (R1) */
	struct hfs_redo_rec *redo_list, **redo_tail;   /* records not yet in the FIFO */
	uint64_t redo_mem;                 /* their bytes */
	uint64_t redo_logged;              /* bytes of REDO logged this group (list and FIFO) */
	uint64_t redo_fsyncs;              /* fsyncs made durable by REDO records */
	uint64_t getxattr_reqs;            /* GETXATTR requests served (status; atomic) */
	uint64_t read_reqs;                /* READ requests served (status; atomic) */
	uint64_t forgets;                  /* inodes the kernel forgot (status; atomic) */

	struct hfs_alloc *alloc;           /* alloc.c */

	bool readonly;                     /* mounted ro, or critical write error */
	int shut_down;                     /* FS_IOC_SHUTDOWN (shutdown.c), atomic */
	void *fuse;                        /* fuse_ops.c private state */

	/* flusher thread (volume.c) */
	pthread_t flusher;
	pthread_cond_t flush_cv;
	bool flusher_stop, flusher_running;

	/* data sections (section.c, see its top comment); under fs->lock */
	int data_inflight;                 /* open data sections */
	/* blocks of unwritten (fallocated) records being written in place by
	 * a data section (block.c (D7)); under fs->lock */
	struct { uint64_t ino, fbo; } inplace[HFS_INPLACE_MAX];
	int ninplace;
	/* held part blocks (held.c); under fs->lock */
	struct hfs_held *held[HFS_HELD_MAX];
	int nheld;
	pthread_cond_t held_cv;            /* an entry stopped being busy */
	int flush_waiters;                 /* flushes waiting in hfs_data_drain */
	/* set (fs->lock held) by operations that only add metadata (create,
	 * link, setxattr) while the kernel caches writes: their B-tree nodes
	 * may not come out of the writeback reserve (hfs_alloc) */
	bool keep_reserve;
	/* writeback budget (dirty.c), under fs->lock: the kernel's dirty
	 * limit for this mount (0: unknown), the writeback reserve (0: the
	 * default of hfs_alloc_wb_reserve), and the opens that may write
	 * through the page cache (while there are any, R is kept) */
	uint64_t dirty_limit, wb_reserve;    /* blocks */
	unsigned cached_writers;
	pthread_cond_t data_cv;            /* data_inflight reached 0 / flush done */

	/* status.c: the status file hfsctl reads */
	char status_path[4200];
	char mountpoint[4096];
	uint64_t status_ns;                /* last publish */

	struct hfs_norec *norec;           /* norecovery.c: pre-images served in
					    * memory (-o ro,norecovery), or NULL */
	struct hfs_scrub *scrub;           /* scrub.c */
	struct hfs_rebuild *rebuild;       /* rebuild.c */
	struct hfs_ctl *ctl;               /* ctl.c: the hfsctl control socket */
};

/* scrub.c (fs/scrub.c top comment).  init/fini at open/close (fini stops
 * a running scrub between steps; its cursor stays in the header).
 * start: 0 (*resumed = continues an interrupted scrub), -EBUSY (running),
 * -EROFS.  pause: stop after the current step, cursor kept (0, -ENOENT if
 * none ran).  json: one JSON object of the scrub's state; fs->lock held. */
struct hfs_scrub;
int  hfs_scrub_init(struct hfs_fs *fs);
void hfs_scrub_fini(struct hfs_fs *fs);
int  hfs_scrub_start(struct hfs_fs *fs, int *resumed);
int  hfs_scrub_pause(struct hfs_fs *fs);
void hfs_scrub_json(struct hfs_fs *fs, FILE *f);

/* rebuild.c: the resync thread (fs/rebuild.c top comment).  init at open
 * (resumes a resync raid_open found), fini at close (stops it between
 * steps).  kick: start the thread if a resync is pending (0, -ENOENT none).
 * hfs_replace: OLD is a component index or path; then the resync runs
 * (0 or -errno of raid_replace; -ENODEV: no such component).  json: the
 * "rebuild" object, or null; fs->lock may be held. */
struct hfs_rebuild;
int  hfs_rebuild_init(struct hfs_fs *fs);
void hfs_rebuild_fini(struct hfs_fs *fs);
int  hfs_rebuild_kick(struct hfs_fs *fs);
void hfs_rebuild_stop(struct hfs_fs *fs);   /* between two steps, as at unmount */
int  hfs_flusher_start(struct hfs_fs *fs);  /* volume.c; once (no-op if running) */
/* remount.c: ro 1/0; atime HFS_ATIME_* or -1 to keep; 0 or -errno */
int  hfs_remount(struct hfs_fs *fs, int ro, int atime);
int  hfs_replace(struct hfs_fs *fs, const char *old, const char *new, int force);
void hfs_rebuild_json(struct hfs_fs *fs, FILE *f);

/* norecovery.c (-o ro,norecovery; top comment there): load collects the
 * UNDO pre-images of an interrupted flush into fs->norec (*nrec records; no
 * table when 0); the bufcache load hook then serves them for their META
 * buffers.  0, -ENOMEM, -EUCLEAN, -EIO. */
struct hfs_norec;
int  hfs_norec_load(struct hfs_fs *fs, int *nrec);
void hfs_norec_free(struct hfs_fs *fs);
int  hfs_norec_hook(void *priv, struct bc_buf *b);

/* status.c */
int  hfs_status_publish(struct hfs_fs *fs);   /* fs->lock held */
void hfs_status_write(struct hfs_fs *fs, FILE *f);   /* the status JSON; fs->lock held */

/* ctl.c: the control socket (protocol in fs/hfs.h) */
struct hfs_ctl;
int  hfs_ctl_start(struct hfs_fs *fs, const char *mountpoint);
void hfs_ctl_stop(struct hfs_fs *fs);

/* volume.c */
int  hfs_op_begin(struct hfs_fs *fs);             /* rule (1); fs->lock held */
/* A flush cycle; skipped when it would write nothing (the last commit is
 * durable).  fs->lock held. */
int  hfs_flush_locked(struct hfs_fs *fs);
/* A flush cycle even with nothing dirty: a new header copy (mkfs writes
 * both slots).  fs->lock held. */
int  hfs_commit_locked(struct hfs_fs *fs);
void hfs_data_drain(struct hfs_fs *fs);           /* section.c; fs->lock held, may drop it */
uint64_t hfs_now_ns(void);
void hfs_meta_crc(void *priv, struct bc_buf *b);  /* bufcache crc hook */
int  hfs_meta_verify(void *priv, struct bc_buf *b);/* bufcache verify hook */
int  hfs_meta_get(struct hfs_fs *fs, uint64_t zaddr, int flags, struct bc_buf **out);

/* redo.c (fs/redo.c top comment).  hfs_redo_op(1) before an operation
 * that logs itself (its thread's META changes then keep the group logged),
 * hfs_redo_op(0) after; such an operation calls hfs_redo_write/attr once it
 * completed (fs->lock held, same hold as its last change) or hfs_redo_fail
 * when it changed something it did not log. */
struct hfs_inode;
struct hfs_redo_rec;
void hfs_redo_init(struct hfs_fs *fs);
void hfs_redo_fini(struct hfs_fs *fs);
void hfs_redo_op(int on);
void hfs_redo_write(struct hfs_fs *fs, const struct hfs_inode *ip, uint64_t off, const void *data,
		    size_t len);
void hfs_redo_attr(struct hfs_fs *fs, const struct hfs_inode *ip);
void hfs_redo_fail(struct hfs_fs *fs);
void hfs_redo_modify_hook(void *priv, struct bc_buf *b);   /* bufcache modify hook */
void hfs_redo_committed(struct hfs_fs *fs);                /* from the committed hook */
/* fsync/fsyncdir: every operation so far durable, by REDO records (R2) or a
 * commit.  fs->lock held.  0 or -errno. */
int  hfs_fsync_locked(struct hfs_fs *fs);
/* Replay the records a recovery found, then commit (fs->lock held). */
int  hfs_redo_replay(struct hfs_fs *fs, const struct hfs_redo_set *set);

/* fuse_io.c: 1 once the kernel took FUSE_HANDLE_KILLPRIV_V2 (status) */
/* fuse_ring.c: the io_uring queues serving FUSE requests (0: /dev/fuse
 * serves them), threads per queue and requests served so far */
int  hfs_fuse_ring_info(unsigned *per_queue, unsigned long long *requests);
int  hfs_fuse_killpriv_v2(void);

/* undo.c */
/* Append a REDO record (payload: struct hfs_redo_ondisk, inode, data). */
int  hfs_undo_append_redo(struct hfs_fs *fs, const void *payload, uint32_t len);
/* 1 if the group after vh's commit left UNDO records to replay. */
int  hfs_undo_pending(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh);
int  hfs_undo_hook(void *priv, struct bc_buf *b); /* bufcache undo hook */
uint64_t hfs_undo_headroom(const struct hfs_fs *fs);  /* bytes left this group */

/* alloc.c — len is a multiple of HFS_BLKSIZE; BTREE allocations are
 * HFS_BUFSIZE aligned, LARGE HFS_FBLOCK aligned, SMALL HFS_BLKSIZE aligned
 * (a SMALL extent of up to HFS_FBLOCK bytes may span several DATA buffers,
 * never a big-block boundary).  -ENOSPC when full. */
int  hfs_alloc_load(struct hfs_fs *fs);
void hfs_alloc_unload(struct hfs_fs *fs);
/* alloc.c: the first run of k free blocks at alignment al (dividing 64) in
 * a big-block whose blocks are busy where map, pend or hold (NULL: none)
 * has a bit set, or -1 (exported for its unit test) */
int  hfs_alloc_find_run(const uint8_t *map, const uint8_t *pend, const uint8_t *hold,
			unsigned k, unsigned al);
int  hfs_alloc(struct hfs_fs *fs, enum hfs_zone z, uint32_t len, uint64_t *zaddr);
/* One 4 KiB block for a piece of a file block (FORMAT.md pieces records):
 * SMALL space first (a fresh big-block becomes SMALL), then the 4 KiB holes
 * of LARGE big-blocks.  0 or -ENOSPC/-errno. */
int  hfs_alloc_piece(struct hfs_fs *fs, uint64_t *zaddr);
int  hfs_free(struct hfs_fs *fs, uint64_t zaddr, uint32_t len);
void hfs_alloc_committed(struct hfs_fs *fs);      /* delayed frees become reusable */
uint64_t hfs_alloc_free_blocks(struct hfs_fs *fs);
uint64_t hfs_alloc_pending_blocks(struct hfs_fs *fs);   /* freed, reusable after the commit */
/* Free blocks file data can use: all free blocks but those inside the
 * B-tree's big-blocks (statfs f_bavail). */
uint64_t hfs_alloc_data_blocks(struct hfs_fs *fs);
/* 0, or -EUCLEAN if a running count of the allocator was ever found out of
 * step with what it counts (checked at every commit; for the tests) */
int hfs_alloc_selfcheck(struct hfs_fs *fs);
/* Blocks kept for the kernel's already-cached writes (writeback reserve R,
 * dirty.c): 32 MiB, at most 1/8 of the volume, or what hfs_dirty_setup
 * sized to the kernel's dirty limit.  statfs f_bavail and creates leave it
 * out; data writes leave hfs_dirty_reserve(). */
uint64_t hfs_alloc_wb_reserve(struct hfs_fs *fs);
/* FITRIM (trim.c, alloc.c "trim holds").  hfs_alloc_trim_hold scans raw
 * range [*pos, end) (4 KiB aligned) for runs of blocks free in the last
 * committed state and untouched since (not allocated, not pending, not
 * held by another trim), holds each run of at least minlen bytes (the
 * allocator then treats it as busy) and returns it in ext[] (at most max):
 * count, -EINVAL, -ENOMEM (nothing held).  It stops after about budget
 * bytes scanned where no run is open, or when a run reaches budget bytes;
 * *pos = where the next batch starts.  hfs_alloc_trim_release gives held
 * extents back.  Both with fs->lock held; the discards run without it. */
struct hfs_extent { uint64_t raw, len; };
int  hfs_alloc_trim_hold(struct hfs_fs *fs, uint64_t *pos, uint64_t end, uint64_t minlen,
			 uint64_t budget, struct hfs_extent *ext, int max);
void hfs_alloc_trim_release(struct hfs_fs *fs, const struct hfs_extent *ext, int n);
/* trim.c: FITRIM of raw range [start, start+len): *trimmed = bytes
 * discarded.  0, -EINVAL (minlen over a big-block, start beyond the
 * volume, len under a block), -EROFS, -EIO (shut down or a device
 * failed), -EOPNOTSUPP (a device can discard nothing).  Takes fs->lock. */
int  hfs_trim(struct hfs_fs *fs, uint64_t start, uint64_t len, uint64_t minlen,
	      uint64_t *trimmed);
/* dirty.c: size R and the kernel's dirty limit for the mount at mnt (its
 * canonical path, for messages) whose bdi is bdi ("MAJ:MIN", NULL when
 * not found), lowering the bdi's max_bytes where allowed.  Takes
 * fs->lock; called once after the mount, before any request is served. */
void hfs_dirty_setup(struct hfs_fs *fs, const char *mnt, const char *bdi);
/* R while an open may write through the page cache, else 0 (fs->lock). */
uint64_t hfs_dirty_reserve(struct hfs_fs *fs);
/* Bytes a new write may take: data space beyond hfs_dirty_reserve. */
uint64_t hfs_dirty_room(struct hfs_fs *fs);
/* mkfs: write an initial free map for a fresh volume, marking the RAW,
 * UNDO and FREEMAP regions as owned and allocated. Uses raid directly. */
int  hfs_freemap_format(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh);

/* btree.c — values are at most HFS_MAX_VALUE bytes.  All need fs->lock. */
int  hfs_bt_lookup(struct hfs_fs *fs, const struct hfs_key *k, void *val, size_t cap, size_t *len);
int  hfs_bt_insert(struct hfs_fs *fs, const struct hfs_key *k, const void *val, size_t len); /* -EEXIST */
int  hfs_bt_update(struct hfs_fs *fs, const struct hfs_key *k, const void *val, size_t len); /* -ENOENT */
int  hfs_bt_delete(struct hfs_fs *fs, const struct hfs_key *k);                             /* -ENOENT */
/* First record with from <= key <= to: 0 and fills *found/val/len, or -ENOENT. */
int  hfs_bt_next(struct hfs_fs *fs, const struct hfs_key *from, const struct hfs_key *to,
		 struct hfs_key *found, void *val, size_t cap, size_t *len);
/* Scrub walk: descend to the leaf holding k; node_fn(priv, zaddr, level)
 * for every inner node entered through its item 0 (an ascending walk so
 * meets each inner node once) and for the leaf, then rec_fn for each leaf
 * record with key >= k (val points into the cached leaf: copy it).
 * *next = first key of the next leaf.  0: more leaves follow, 1: that was
 * the last leaf, or -errno (a callback's error, a bad node). */
typedef int (*hfs_bt_node_fn)(void *priv, uint64_t zaddr, int level);
typedef int (*hfs_bt_rec_fn)(void *priv, const struct hfs_key *k, const void *val, size_t len);
int  hfs_bt_scan_leaf(struct hfs_fs *fs, const struct hfs_key *k, hfs_bt_node_fn node_fn,
		      hfs_bt_rec_fn rec_fn, void *priv, struct hfs_key *next);
/* fn(priv, key, val, len) for each record with from <= key <= to, in key
 * order, until fn returns non-zero (returned; val points into the cached
 * leaf, and fn must not change the tree).  0 at the end of the range. */
int  hfs_bt_range(struct hfs_fs *fs, const struct hfs_key *from, const struct hfs_key *to,
		  hfs_bt_rec_fn fn, void *priv);
/* mkfs: write an empty root leaf at zaddr (raid direct). */
int  hfs_bt_format_root(struct raid_set *rs, uint64_t zaddr, uint64_t seq);

/* Inode times.  The kernel stamps FUSE inodes (writeback cache: mtime and
 * ctime of writes, truncates, renames) with its coarse clock; stamping ours
 * with the same clock keeps the two ordered (relatime compares them). */
static inline void hfs_now(struct timespec *t) { clock_gettime(CLOCK_REALTIME_COARSE, t); }

/* ---- inodes (inode.c) --------------------------------------------------- */
struct hfs_inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, blocks;        /* blocks: bytes allocated / 512 */
	struct timespec atime, mtime, ctime, btime;
	uint64_t rdev;
	uint32_t flags, generation;
	uint64_t parent;              /* directories only */
	uint64_t held_blocks;         /* not stored: part blocks held (held.c), for st_blocks */
};
void hfs_inode_decode(struct hfs_inode *ip, uint64_t ino, const struct hfs_inode_ondisk *d);
void hfs_inode_encode(struct hfs_inode_ondisk *d, const struct hfs_inode *ip);
int  hfs_inode_load(struct hfs_fs *fs, uint64_t ino, struct hfs_inode *ip);   /* -ENOENT */
int  hfs_inode_store(struct hfs_fs *fs, const struct hfs_inode *ip);         /* update record */
/* A step boundary inside an operation that holds a copy of an inode (rule
 * 2): store the copy, hfs_op_begin, load it again.  hfs_op_begin and
 * hfs_flush_locked may commit, and a commit waits for open data sections
 * with fs->lock released (hfs_data_drain): writes to the same inode (the
 * kernel's writeback runs beside fallocate, readers and other writes)
 * change its block count and size meanwhile, and a copy kept across the
 * wait would store their old values back.  0 or -errno (ip unchanged by a
 * failed load). */
int  hfs_inode_step(struct hfs_fs *fs, struct hfs_inode *ip);
/* After an operation on ip failed midway (ENOSPC): store ip if its block
 * count or size differ from the stored inode's (the records it did change
 * are in the tree).  ip must be current (hfs_inode_step).  0 or -errno. */
int  hfs_inode_store_changed(struct hfs_fs *fs, const struct hfs_inode *ip);
/* Allocate an inode number and insert its record (ip->ino is set). */
int  hfs_inode_create(struct hfs_fs *fs, struct hfs_inode *ip);
/* Remove the inode and everything it owns (data, xattrs, symlink);
 * bounded steps per rule (2).  The inode must have nlink 0 and no opens. */
int  hfs_inode_destroy(struct hfs_fs *fs, uint64_t ino);

/* ---- inode flags (iflags.c; the bits are HFS_IFL_* of ondisk.h) ---------
 * ioctl: FS_IOC_GETFLAGS/SETFLAGS (4 or 8 byte argument) and
 * FS_IOC_FSGETXATTR/FSSETXATTR for the caller uid; fills out (out_cap
 * bytes) and *out_len; 0, -ENOTTY (another command), -EPERM, -EOPNOTSUPP,
 * -EINVAL.  may_open: the open flags of a FUSE open (0 or -EPERM).
 * may_setattr: FUSE_SET_ATTR_* bits, writers = open write descriptors.
 * All with fs->lock held. */
int  hfs_iflags_ioctl(struct hfs_fs *fs, uint64_t ino, uint32_t uid, unsigned int cmd,
		      const void *in, size_t in_size, void *out, size_t out_cap, size_t *out_len);
int  hfs_iflags_may_open(const struct hfs_inode *ip, int oflags);
/* After a change of dir's entries: a flush cycle if dir is +D or +S. */
int  hfs_iflags_dirsync(struct hfs_fs *fs, uint64_t dir);
int  hfs_iflags_may_setattr(const struct hfs_inode *ip, int set, int writers);
/* Neither unlinked, renamed, linked, nor its xattrs changed: +i or +a. */
static inline int hfs_iflags_fixed(const struct hfs_inode *ip)
{ return ip->flags & (HFS_IFL_IMMUTABLE | HFS_IFL_APPEND) ? -EPERM : 0; }
/* No entry added to the directory: +i. */
static inline int hfs_iflags_no_add(const struct hfs_inode *dir)
{ return dir->flags & HFS_IFL_IMMUTABLE ? -EPERM : 0; }

/* Orphans: an inode whose nlink reached 0 while open gets an
 * HFS_REC_ORPHAN record (obj HFS_ORPHAN_INO, key ino) in the same operation;
 * the last release destroys it and removes the record.  hfs_open (rw) calls
 * hfs_orphans_reap() so a crash never leaks an orphan's space. */
int  hfs_orphan_add(struct hfs_fs *fs, uint64_t ino);
int  hfs_orphan_del(struct hfs_fs *fs, uint64_t ino);
int  hfs_orphans_reap(struct hfs_fs *fs);

/* ---- file data (file.c, file_space.c) ---------------------------------------------------
 * File data lives in DATA records, one per HFS_FBLOCK-aligned file block
 * (holes have no record).  Full aligned blocks go to the LARGE zone through
 * bc_direct_write; partial blocks are read-modify-written into SMALL-zone
 * space through DATA buffers.  Every record carries the crc32 of its bytes,
 * verified on read (another copy is tried before -EIO).  All with fs->lock. */
ssize_t hfs_file_read(struct hfs_fs *fs, struct hfs_inode *ip, void *buf, size_t len, uint64_t off);
/* Updates ip->size/blocks/mtime/ctime in memory; the caller stores ip
 * when the write returns > 0 (a write that returns <= 0 has stored what
 * it changed).  Read and write drop fs->lock around device I/O (a data
 * section) and reload *ip from the B-tree whenever they took it again, so
 * *ip is current on return: a copy of the inode must never be stored
 * across a point where fs->lock was released (section.c (D6)). */
ssize_t hfs_file_write(struct hfs_fs *fs, struct hfs_inode *ip, const void *buf, size_t len, uint64_t off);
/* Bytes of new space a write of [off, off+len) may take at most: none for
 * whole blocks over unwritten records, which it fills in place.  -errno. */
int64_t hfs_file_write_need(struct hfs_fs *fs, const struct hfs_inode *ip, uint64_t off, size_t len);
int  hfs_file_truncate(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t size);
/* mode: 0 / FALLOC_FL_KEEP_SIZE / FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE */
int  hfs_file_fallocate(struct hfs_fs *fs, struct hfs_inode *ip, int mode, uint64_t off, uint64_t len);
/* SEEK_DATA / SEEK_HOLE; -ENXIO past the end. */
int  hfs_file_seek(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t off, int whence, uint64_t *out);

/* held part blocks (held.c): fs->lock held.  settle stores inode ino's in
 * file bytes [lo, hi) (1: it stored or waited, the caller's inode copy is
 * stale; 0; -errno), settle_all all before a commit, trim those a
 * truncate to size cuts (1: it waited); blocks counts them for st_blocks;
 * before does settle or trim for an operation and refreshes its copy. */
void hfs_held_init(struct hfs_fs *fs);
void hfs_held_fini(struct hfs_fs *fs);
int  hfs_held_settle(struct hfs_fs *fs, uint64_t ino, uint64_t lo, uint64_t hi);
void hfs_held_settle_all(struct hfs_fs *fs);
int  hfs_held_trim(struct hfs_fs *fs, uint64_t ino, uint64_t size);
uint64_t hfs_held_blocks(struct hfs_fs *fs, uint64_t ino);
int  hfs_held_before(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t lo, uint64_t hi, int64_t size);
/* EFBIG beyond: the kernel's limit for FUSE (MAX_LFS_FILESIZE), since FUSE
 * cannot tell the kernel a smaller s_maxbytes and with the writeback cache a
 * smaller limit here would turn EFBIG into a late writeback error.  Keys are
 * file offsets (u64) and i_blocks counts 512-byte units, so nothing overflows. */
#define HFS_MAX_FILE_SIZE 0x7fffffffffffffffull


/* util.c: a page-aligned buffer for direct I/O, in huge pages when len is
 * 1 MiB or more (released with free) */
void *hfs_iobuf_alloc(size_t len);
/* util.c: the calling thread's own I/O buffer of kind `which`, at least
 * len bytes (hfs_iobuf_alloc; grown when a larger one is asked for, freed
 * at thread exit), or NULL.  Valid until the thread's next call for it. */
enum { HFS_IOBUF_STAGE, HFS_IOBUF_REPLY, HFS_IOBUF_KINDS };
void *hfs_iobuf_local(unsigned which, size_t len);
/* util.c: make p (cap bytes, owned by the caller and outliving the thread's
 * use of it) the calling thread's buffer of kind `which` (fuse_ring.c: a
 * READ's reply is read straight into the ring entry) */
int hfs_iobuf_local_lend(unsigned which, void *p, size_t cap);

#endif
