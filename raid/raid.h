/*
 * raid.h — contract of the raid/ layer: a volume set of component devices
 * presented as one linear, sector-addressed logical space.
 *
 * Every logical I/O is compiled by a per-layout builder into a DAG
 * (RAIDframe style) and executed asynchronously on an I/O engine
 * (io_uring, or a worker pool where io_uring is unavailable).
 *
 * Conventions (whole layer):
 *  - Functions return 0, a count, or -errno.  Never -1/errno.
 *  - Logical offsets and lengths must be multiples of RAID_SECTOR (4096):
 *    the set advertises 4 KiB as its logical sector whatever the
 *    components say (a component with a larger sector is refused).
 *    Memory passed in need not be aligned: the layer bounces through an
 *    aligned buffer when a component is opened O_DIRECT.
 *  - Every request is bounds-checked against raid_size(): -EINVAL for
 *    misalignment, -ERANGE (logged) for out-of-bounds.
 *  - Completion callbacks run on an engine thread.  They must not block
 *    on I/O of the same set and must not call raid_close().  They may call
 *    raid_submit().
 *
 * Component layout (every device):
 *    [0, 4 KiB)        component label, copy A (struct raid_label_ondisk)
 *    [64 KiB, +4 KiB)  component label, copy B
 *    [128 KiB, ...)    dirty-region bitmap, copy 0; [192 KiB, ...) copy 1
 *    [RAID_DATA_OFF, end)  data area: where the layout maps logical space
 *  Labels and bitmap are described byte by byte in docs/FORMAT.md §1.
 *
 * Layouts: single; stripe (RAID0, stripe unit a power of two in
 * [4 KiB, 16 MiB], default 64 KiB); mirror (N-way); raid10 (stripe of
 * 2-way mirrors over an even number >= 4 of devices: devices 2c and 2c+1
 * hold column c).  A "copy k" of a range is leg k of every column it
 * touches (mirror: device k; raid10: device 2c+k).
 *
 * Lock order (written once): set->lock -> engine queue lock.
 */
#ifndef HFS_RAID_H
#define HFS_RAID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RAID_SECTOR      4096u
#define RAID_DATA_OFF    (1u << 20)      /* data area starts 1 MiB into each component */
#define RAID_MAX_COMP    16
#define RAID_LABEL_MAGIC 0x3144494152534648ull   /* "HFSRAID1" little-endian */
#define RAID_DEFAULT_STRIPE (64u << 10)

enum raid_layout {
	RAID_LAYOUT_SINGLE = 1,
	RAID_LAYOUT_MIRROR = 2,   /* N-way RAID1, N >= 2 */
	RAID_LAYOUT_STRIPE = 3,   /* RAID0 (issue 4) */
	RAID_LAYOUT_RAID10 = 4,   /* stripe of 2-way mirrors (issue 4) */
};

enum raid_engine_kind {
	RAID_ENGINE_AUTO  = 0,    /* io_uring, else worker pool (logged) */
	RAID_ENGINE_URING = 1,
	RAID_ENGINE_POOL  = 2,
};

enum raid_comp_state {
	RAID_COMP_OPTIMAL    = 0,
	RAID_COMP_FAILED     = 1,
	RAID_COMP_REBUILDING = 2,
	RAID_COMP_MISSING    = 3,  /* not present at assembly */
};

struct raid_set;   /* opaque */

struct raid_opts {
	enum raid_engine_kind engine;
	unsigned queue_depth;      /* 0 = default (128) */
	unsigned pool_workers;     /* 0 = default (nproc * 2, min 4) */
	int readonly;
	int allow_degraded;        /* assemble a mirror/raid10 with legs missing (never a
				    * stripe: a missing stripe leg loses data) */
	int no_direct;             /* never O_DIRECT (testing) */
	const char *write_log;     /* test device: record every completed write and
				    * flush in this file (see raid_wlog_replay) */
	const char *fault;         /* test device: fail/delay/corrupt/vanish component
				    * requests by the rules in this file (raid/fault.c
				    * documents the format); re-read when it changes */
};

/* Parameters for raid_create (mkfs). */
struct raid_create_params {
	enum raid_layout layout;
	uint32_t stripe_unit;      /* bytes; 0 = RAID_DEFAULT_STRIPE */
	uint8_t set_uuid[16];      /* all-zero = generate */
	int force;                 /* overwrite an existing label/filesystem */
};

/*
 * Write fresh component labels on every path and verify the devices.
 * Refuses (-EEXIST, with a message on stderr naming the device and what
 * was found: an hfs label, or another filesystem type found by libblkid)
 * unless p->force.  -ENOSPC if a component is too small (< RAID_DATA_OFF
 * + 64 MiB).  Does not touch the data area.  Blocks.
 */
int raid_create(const char *const *paths, int n, const struct raid_create_params *p);

/*
 * Assemble a set from its component paths: read and cross-check labels
 * (same set UUID, distinct positions, highest generation wins; a stale or
 * foreign component is refused with a clear message: -EINVAL/-ENODEV).
 * On success *out owns the devices.  Blocks.
 */
int raid_open(const char *const *paths, int n, const struct raid_opts *o,
	      struct raid_set **out);
void raid_close(struct raid_set *s);   /* waits for all I/O, closes devices */

/* Immutable after open. */
uint64_t raid_size(const struct raid_set *s);          /* logical bytes */
enum raid_layout raid_layout_of(const struct raid_set *s);
int raid_ncomp(const struct raid_set *s);
int raid_ncopies(const struct raid_set *s);           /* copies of each block */
const uint8_t *raid_set_uuid(const struct raid_set *s);
uint32_t raid_stripe_unit(const struct raid_set *s);  /* bytes; 0 without striping */
const char *raid_engine_name(const struct raid_set *s); /* "io_uring" | "pool" */

/* ---- asynchronous requests ---------------------------------------- */

enum raid_op { RAID_OP_READ = 1, RAID_OP_WRITE = 2, RAID_OP_FLUSH = 3, RAID_OP_DISCARD = 4 };

struct raid_io;
typedef void (*raid_done_fn)(struct raid_io *io, int err);

/*
 * One logical request.  The caller owns the struct and the memory until
 * io_done runs; io_done is the last touch the layer makes.
 * err: 0, -EIO (no copy could serve/accept it), -ERANGE, -EINVAL.
 * DISCARD: io_buf is unused (NULL), io_len may exceed 1 GiB; see raid_discard.
 */
struct raid_io {
	enum raid_op io_op;
	uint64_t     io_off;      /* logical byte offset (sector multiple) */
	void        *io_buf;      /* io_len bytes */
	size_t       io_len;      /* sector multiple; 0 for FLUSH */
	int          io_copy;     /* READ: -1 = any healthy copy, k = copy k only */
	raid_done_fn io_done;
	void        *io_priv;
	/* private to raid/ */
	void        *io_dag;
};

/* Queue io (compiled into a DAG); returns 0 or -errno (then io_done is not called). */
int raid_submit(struct raid_set *s, struct raid_io *io);
/* Submit n requests in turn, each its own DAG and engine submission (no
 * batching yet); returns how many were queued, or -errno when none was. */
int raid_submit_batch(struct raid_set *s, struct raid_io **ios, int n);

/* Synchronous helpers built on raid_submit. */
int raid_read(struct raid_set *s, uint64_t off, void *buf, size_t len);
int raid_write(struct raid_set *s, uint64_t off, const void *buf, size_t len);
int raid_read_copy(struct raid_set *s, int copy, uint64_t off, void *buf, size_t len);
/* ---- self-healing read --------------------------------------------------
 * raid_read_verified reads [off, off+len) from any healthy copy and calls
 * verify(priv, buf, len): 0 = good, anything else = bad (e.g. -EBADMSG).
 * If the copy is bad or unreadable it reads every copy in turn (with
 * RAID_RV_ALL it does so at once: a scrub, or a caller that already found
 * a bad copy itself); the first that verifies is returned in buf, and then
 * each copy that was read and found bad (or returned a read error) is
 * rewritten with the good bytes (raid_write_copy) and counted (crc_errs,
 * repaired in raid_status).
 * A good copy is never rewritten, and nothing is rewritten when no copy
 * verifies (a power cut mid-rewrite could otherwise lose the last good
 * one).  Returns 0 (buf good), the verify error (-EBADMSG...) or -EIO when
 * no copy verifies, -ERANGE/-EINVAL.  *healed (may be NULL) = copies
 * rewritten.  Blocks; call with no lock that an I/O completion needs.
 * Callers: bufcache (metadata buffers, through the verify hook) and fs/
 * file data (data CRC, through bc_read_verified).  verify runs on the
 * calling thread. */
typedef int (*raid_verify_fn)(void *priv, const void *buf, size_t len);
#define RAID_RV_ALL 0x1u
int raid_read_verified(struct raid_set *s, uint64_t off, void *buf, size_t len,
		       raid_verify_fn verify, void *priv, unsigned flags, int *healed);

/* ---- resync (dirty-region bitmap) ----------------------------------------
 * While a leg of a mirror/raid10 is failed or missing, every write first
 * makes the dirty bit of its region durable on the surviving legs (the
 * write-intent bitmap, docs/DESIGN.md).  A leg that comes back (present at
 * raid_open with an older generation that the bitmap covers) is assembled
 * REBUILDING: it takes writes but serves no reads until it is resynced.
 * A device attached to replace a leg (full = 1) is stale everywhere.
 *
 * raid_resync_start(s, comp, full): begin (or resume, after a restart:
 *   the cursor is kept in the bitmap) resyncing REBUILDING leg comp; full =
 *   copy every region, else only the dirty ones; -1 = as recorded by an
 *   interrupted resync of comp, else dirty only.  One resync runs at a
 *   time: if another leg's is running, comp is queued and starts when it
 *   finishes (raid_resync_step then returns 1 and goes on with it).
 *   0, -EINVAL (comp is not rebuilding), -EOPNOTSUPP (a layout without
 *   copies, or a set formatted without a bitmap).  raid_open already
 *   starts the resync of a leg it assembled REBUILDING; calling start
 *   again is harmless.
 * raid_resync_step(s): copy the next stale region (a resync-copy DAG per
 *   piece, from a healthy leg of the same column); a region being written
 *   concurrently is copied again after the write.  Returns 1 while regions
 *   remain, 0 when the resync finished (leg optimal, labels and bitmap
 *   updated; the dirty bits are cleared once every leg is optimal; 1 if a
 *   queued leg's resync starts), -ENOENT
 *   if no resync is active, -EIO if the copy failed (the failing leg is
 *   marked failed).  Blocks for one region (<= a few MiB of I/O).
 * raid_resync_progress: what is running; 0, or -ENOENT when none.
 * Thread: any one thread at a time (the daemon's resync thread); the set
 * keeps serving I/O meanwhile.  Lock: none held by the caller. */
struct raid_resync_progress {
	int comp;                  /* leg being resynced */
	int full;
	uint64_t regions_total;    /* regions to copy (dirty, or all) */
	uint64_t regions_done;
	uint64_t bytes_copied;     /* since raid_open */
	uint32_t region_size;
};
int raid_resync_start(struct raid_set *s, int comp, int full);
int raid_resync_step(struct raid_set *s);
int raid_resync_progress(struct raid_set *s, struct raid_resync_progress *p);

/* ---- online replacement (raid/replace.c) ---------------------------------
 * raid_replace(s, comp, path, force, no_direct): the device at path takes
 * position comp: it is labelled REBUILDING, takes every write from now on,
 * and a full resync of it is started (drive it with raid_resync_step like
 * any resync; the cursor survives an unmount).  The old device of comp is
 * closed and out of the set.  Refuses -EEXIST when path is already a
 * member, or holds a filesystem or another set's label and !force;
 * -ENOSPC (too small), -ENODATA (no other readable copy of comp's data),
 * -EOPNOTSUPP (a layout without copies), -EROFS.  Blocks briefly. */
int raid_replace(struct raid_set *s, int comp, const char *path, int force, int no_direct);
/* Dirty regions recorded in the bitmap now (0 when clean or no bitmap). */
uint64_t raid_bitmap_dirty(struct raid_set *s);
/* Durability barrier on every healthy component (fdatasync). */
int raid_flush(struct raid_set *s);
/* ---- discard (raid/discard.c) ----------------------------------------------
 * raid_discard(s, off, len): tell every writable component holding
 * [off, off+len) that its bytes are no longer needed: BLKDISCARD on a block
 * device, fallocate(PUNCH_HOLE | KEEP_SIZE) on an image file (which then
 * reads as zeros and gives its space back to the host).  Every leg of a
 * mirror, and on a stripe the one contiguous range of each column the
 * request covers.  Afterwards the range reads as undefined bytes (zeros on
 * image files); the caller must not care what it holds.  A discard failure
 * never fails a leg (no data is lost by a discard that did not happen) and
 * is not recorded in the dirty-region bitmap or the write log (free space
 * of no committed state).  Returns 0, -EOPNOTSUPP (a component supports
 * neither; the others may have discarded their part), -EIO (a component
 * failed it, or a column has no writable leg), -EROFS, -EINVAL
 * (misaligned, len 0), -ERANGE.  Blocks; no lock of the caller's that a
 * completion needs. */
int raid_discard(struct raid_set *s, uint64_t off, uint64_t len);

/* ---- write-log test device (like dm-log-writes) ------------------------
 * With raid_opts.write_log set, every write that completes on a component
 * is appended to the log with its data, in completion order, and every
 * completed flush as a FLUSH record.  hfs issues no write while a flush of
 * the same component is in flight (fs->lock), so completion order tells
 * which writes a FLUSH made durable: all records before it.
 *
 * Replay rebuilds what component comp's device may hold after a power cut
 * once the first 'upto' records had completed: every write before the last
 * FLUSH in [0, upto) is durable; the writes after it (the tail) may each be
 * lost, may land in any order (an older write to a block overtaking a newer
 * one), and may be torn at 4 KiB sectors.  Images are copies of the device
 * taken before the set was opened with the log. */
enum raid_wlog_type { RAID_WLOG_WRITE = 1, RAID_WLOG_FLUSH = 2 };
struct raid_wlog_info {
	enum raid_wlog_type wi_type;
	int      wi_comp;
	uint64_t wi_off, wi_len;    /* device offset and length of a write */
	uint64_t wi_pos;            /* byte offset of the record in the log */
};
struct raid_wlog;   /* a log mapped and indexed for replay */
/* Map and index a log, checking every record (-EBADMSG on damage).
 * The caller owns *out (raid_wlog_free).  Blocks on reading the file. */
int  raid_wlog_load(const char *log, struct raid_wlog **out);
void raid_wlog_free(struct raid_wlog *w);
long raid_wlog_records(const struct raid_wlog *w);
/* Record i (NULL when out of range); points into w. */
const struct raid_wlog_info *raid_wlog_record(const struct raid_wlog *w, long i);
/* Number of records wholly in the first byte_pos bytes of the log (a test
 * notes the log's size when an fsync returns and converts it here). */
long raid_wlog_record_at(const struct raid_wlog *w, uint64_t byte_pos);
/* Index of comp's last FLUSH among records [0, upto), -1 if none. */
long raid_wlog_last_flush(const struct raid_wlog *w, int comp, long upto);
/* Write comp's writes among records [from, to) to fd in log order:
 * count of writes, or -errno. */
int  raid_wlog_apply(const struct raid_wlog *w, int comp, int fd, long from, long to);
/* Write the tail of a crash at 'upto' (comp's writes after the last FLUSH
 * before upto) to fd.  seed 0: in log order, skipping write k of the tail
 * when bit k of drop_mask is set.  seed != 0: a PRNG seeded with it drops
 * 0/25/50/75 % of them, applies the rest in a random permutation and, for a
 * quarter of the seeds, tears some to a prefix of whole 4 KiB sectors; the
 * same seed always gives the same image.  Returns writes applied or -errno.
 * An image at 'upto' = apply(0, last_flush + 1) then apply_tail(upto). */
int  raid_wlog_apply_tail(const struct raid_wlog *w, int comp, int fd, long upto,
			  uint64_t drop_mask, uint64_t seed);
/* File-level: both steps on 'image', then fsync it; writes applied or -errno. */
int  raid_wlog_replay_seed(const char *log, int comp, const char *image, long upto,
			   uint64_t drop_mask, uint64_t seed);
int  raid_wlog_replay(const char *log, int comp, const char *image, long upto, uint64_t drop_mask);
int  raid_wlog_count(const char *log, long *records, long *flushes);
/* Record indices of component comp's FLUSH records (at most max): count or -errno. */
int  raid_wlog_flush_points(const char *log, int comp, long *idx, int max);

/* ---- per-copy access: scrub and repair -----------------------------------
 * Copy k of a logical range is what raid_read_copy(s, k, ...) reads.
 * raid_copy_usable: 1 if every component holding copy k of the range is
 * present and OPTIMAL (a failed, missing or rebuilding leg holds stale data
 * and is not scrubbed), 0 if not, -EINVAL (no such copy).  Copy k of a
 * range is leg k of every column it touches (raid10: device 2c+k).
 * raid_write_copy: write buf to copy k of the range only — the repair of a
 * bad copy from data the caller verified on another copy.  0 or -errno
 * (-ENODEV: a leg of that copy is not OPTIMAL); a success counts as
 * repaired on each component written.  Blocks.  Callers:
 * raid_read_verified, the scrubber.
 * raid_note_crc_error: the caller found copy k of the range with a bad CRC
 * (counted on the crc_errs of each component holding it).
 * raid_set_state: "optimal", "degraded" (a leg failed or missing) or
 * "rebuilding" (a leg is being rebuilt). */
int raid_copy_usable(struct raid_set *s, int copy, uint64_t off, size_t len);
int raid_write_copy(struct raid_set *s, int copy, uint64_t off, const void *buf, size_t len);
void raid_note_crc_error(struct raid_set *s, int copy, uint64_t off, size_t len);
const char *raid_set_state(struct raid_set *s);

/* ---- fault test device (like dm-flakey) --------------------------------
 * With raid_opts.fault set, raid_open reads the rules file (format at the
 * top of raid/fault.c and in README.md; a bad line is -EINVAL with
 * FILE:LINE on stderr, a missing file -ENOENT) and every component request
 * is matched against the rules before it is issued, on both engines.  The
 * file is re-read when it changes (checked at most every 50 ms); emptying
 * or deleting it heals everything.  Counters of what was injected: */
struct raid_fault_counts {
	uint64_t failed, delayed, corrupted, vanished;   /* requests */
	uint64_t reloads;                                /* successful re-reads */
	uint64_t per_comp[RAID_MAX_COMP];                /* faults per component */
};
/* 0, or -ENOENT when the set has no fault device. */
int raid_fault_counts(struct raid_set *s, struct raid_fault_counts *out);

/* ---- status ---------------------------------------------------------- */
struct raid_comp_status {
	char path[256];
	enum raid_comp_state state;
	uint64_t read_errs, write_errs, crc_errs;
	uint64_t repaired;          /* bad copies of blocks rewritten on this leg */
};
int raid_status(struct raid_set *s, struct raid_comp_status *st, int max);
/* A set opened read-only becomes writable (remount rw): every component
 * reopened read-write under its exclusive lock.  -EUCLEAN when a leg is
 * missing or not optimal (a writable assembly would have changed the
 * labels: mount again), -EBUSY when another process holds a component. */
int raid_make_writable(struct raid_set *s);
/* 1 when the device at path refuses writes (a block device set read-only:
 * blockdev --setro, losetup -r; an image on a read-only filesystem or one
 * the caller may not write), 0 when writable, -errno when it cannot be
 * opened.  Opening such a device for a writable set fails with -EROFS, and
 * so does raid_make_writable. */
int raid_write_protected(const char *path);
const char *raid_comp_state_name(enum raid_comp_state st);
const char *raid_layout_name(enum raid_layout l);
int raid_layout_parse(const char *name, enum raid_layout *out);

#endif
