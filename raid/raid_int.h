/*
 * raid_int.h — internals shared by the files of raid/ (not a contract).
 *
 * Lock order: set->lock -> engine queue locks; dag->d_lock is never held
 * while set->lock is taken (dag.c drops it around d_on_fail).
 */
#ifndef HFS_RAID_INT_H
#define HFS_RAID_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "raid/raid.h"
#include "raid/engine.h"

#define RAID_LABEL_B_OFF  (64u << 10)
#define RAID_LABEL_SIZE   4096u
#define RAID_LABEL_VERSION 1u
#define RAID_LABEL_MINOR  1u            /* 1: dirty-region bitmap (l_bm_*) */
#define RAID_MIN_DATA     (64ull << 20)
#define RAID_MAX_STRIPE   (16u << 20)

/* Dirty-region bitmap (bitmap.c, docs/FORMAT.md §1.2): two copies in the
 * gap between label B and the data area. */
#define RAID_BM_OFF0      (128u << 10)
#define RAID_BM_OFF1      (192u << 10)
#define RAID_BM_HDR       4096u
#define RAID_BM_MAXBITS   (8u * 32768u)   /* 32 KiB of bits: a copy is <= 36 KiB */
#define RAID_BM_MINREGION (64u << 10)
#define RAID_BM_MAGIC     0x314d544942534648ull   /* "HFSBITM1" */
#define RAID_BM_FULL      0x1u            /* every region stale (flush failed) */
#define RAID_WR_BUCKETS   256

void raid_log(const char *level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define RAID_WARN(...) raid_log("warning", __FILE__, __LINE__, __VA_ARGS__)
#define RAID_ERR(...)  raid_log("error", __FILE__, __LINE__, __VA_ARGS__)

/* Component label, docs/FORMAT-raid.md.  Little-endian, 4096 bytes. */
struct raid_label_ondisk {
	uint64_t l_magic;           /*    0 RAID_LABEL_MAGIC */
	uint32_t l_version;         /*    8 RAID_LABEL_VERSION */
	uint32_t l_crc;             /*   12 crc32 of 4096 bytes, this field 0 */
	uint8_t  l_set_uuid[16];    /*   16 */
	uint8_t  l_comp_uuid[16];   /*   32 */
	uint32_t l_position;        /*   48 index of this component in the set */
	uint32_t l_ncomp;           /*   52 */
	uint32_t l_layout;          /*   56 enum raid_layout */
	uint32_t l_stripe_unit;     /*   60 bytes */
	uint64_t l_data_off;        /*   64 = RAID_DATA_OFF */
	uint64_t l_data_size;       /*   72 bytes of data area used on each component */
	uint64_t l_generation;      /*   80 bumped on every state change */
	uint64_t l_ctime;           /*   88 creation time, seconds */
	uint8_t  l_state[RAID_MAX_COMP]; /* 96 enum raid_comp_state per position */
	uint32_t l_minor;           /*  112 RAID_LABEL_MINOR (0: written by 1.0) */
	uint32_t l_bm_region;       /*  116 bitmap region bytes (power of two), 0 = none */
	uint32_t l_bm_nregions;     /*  120 */
	uint32_t l_pad;             /*  124 */
	uint8_t  l_reserved[4096 - 128];
};
_Static_assert(sizeof(struct raid_label_ondisk) == RAID_LABEL_SIZE, "label size");

/* Dirty-region bitmap copy header (then the bits), little-endian. */
struct raid_bm_ondisk {
	uint64_t b_magic;           /*    0 RAID_BM_MAGIC */
	uint32_t b_version;         /*    8 1 */
	uint32_t b_crc;             /*   12 crc32 of header + bit bytes, this field 0 */
	uint8_t  b_set_uuid[16];    /*   16 */
	uint64_t b_events;          /*   32 write sequence; the higher copy wins */
	uint64_t b_since;           /*   40 set generation tracking began at, 0 = clean */
	uint32_t b_region;          /*   48 region bytes */
	uint32_t b_nregions;        /*   52 */
	uint32_t b_flags;           /*   56 RAID_BM_FULL */
	uint32_t b_rs_comp;         /*   60 leg being resynced, 0xffffffff none */
	uint64_t b_rs_cursor;       /*   64 regions below this are resynced */
	uint32_t b_rs_full;         /*   72 1 = the resync copies every region */
	uint8_t  b_reserved[RAID_BM_HDR - 76];
};
_Static_assert(sizeof(struct raid_bm_ondisk) == RAID_BM_HDR, "bitmap header size");

/* Geometry of a layout (map.c). */
struct raid_geom {
	int g_ncols, g_ncopies;     /* component = col * g_ncopies + copy */
	uint32_t g_su;              /* stripe unit (bytes) when g_ncols > 1 */
	uint64_t g_col_size;        /* bytes of each column (data area used) */
};
struct raid_seg {               /* one piece of a logical request */
	int s_col;
	uint64_t s_coff;            /* offset in the column's data area */
	size_t s_boff;              /* offset in the request's buffer */
	size_t s_len;
};
int raid_geom_init(struct raid_geom *g, enum raid_layout l, int ncomp, uint32_t su,
		   uint64_t comp_data);
uint64_t raid_geom_size(const struct raid_geom *g);
/* Segments [off, off+len) splits into (no bounds check). */
int raid_map_count(const struct raid_geom *g, uint64_t off, size_t len);
/* Split into seg[] (at most max): count, -ERANGE, -E2BIG. */
int raid_map(const struct raid_geom *g, uint64_t off, size_t len, struct raid_seg *seg, int max);
/* The part of logical [off, off+len) that column col holds is one
 * contiguous column range (whole rows in the middle, a tail of the first
 * stripe unit and a head of the last): 1 and [*lo, *hi), or 0 when the
 * request does not touch col.  No bounds check. */
int raid_map_col_range(const struct raid_geom *g, uint64_t off, uint64_t len, int col,
		       uint64_t *lo, uint64_t *hi);
/* discard.c: the discard DAG, the same for every layout */
struct raid_dag;
int raid_build_discard(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
/* Column range [*lo, *hi) containing every segment of the request. */
void raid_map_span(const struct raid_geom *g, uint64_t off, size_t len, uint64_t *lo,
		   uint64_t *hi);
static inline int raid_geom_comp(const struct raid_geom *g, int col, int copy)
{
	return col * g->g_ncopies + copy;
}

/* In-memory bitmap and resync state (bitmap.c, resync.c). */
struct raid_bitmap {
	pthread_mutex_t bm_lock;    /* every field below */
	pthread_cond_t bm_cv;       /* bitmap write done, writes drained, resync region free */
	int bm_enabled;             /* set has a bitmap (label minor >= 1) */
	uint32_t bm_shift;          /* log2 of the region size */
	uint32_t bm_nregions;
	uint8_t *bm_bits;           /* bits wanted (memory) */
	uint8_t *bm_disk;           /* bits durable on the members */
	uint8_t *bm_snap;           /* bits of the write in flight */
	void *bm_buf;               /* aligned copy being written */
	uint64_t bm_events;
	uint64_t bm_since, bm_disk_since;
	uint32_t bm_flags, bm_disk_flags;
	int rs_saved_comp, rs_saved_full;   /* resync state found at load */
	uint64_t rs_saved_cursor;
	int bm_writing;             /* a bitmap write is in flight (group commit) */
	uint64_t bm_nwrites;        /* bitmap writes made (counter) */
	/* resync */
	int rs_comp;                /* -1 none */
	int rs_queued[RAID_MAX_COMP];   /* waiting legs: 1 incremental, 2 full, 0 none */
	int rs_full;
	uint64_t rs_cursor, rs_done, rs_total, rs_bytes;
	/* writes vs resync (resync.c): in-flight writes and starts per bucket */
	uint32_t wr_active[RAID_WR_BUCKETS];
	uint32_t wr_starts[RAID_WR_BUCKETS];
	int wr_waiters;
};

struct raid_comp {
	int      c_fd;              /* -1 when missing */
	char     c_path[256];
	uint64_t c_size;            /* device bytes */
	uint32_t c_sector;
	int      c_direct;          /* opened O_DIRECT */
	int      c_blkdev;          /* a block device (discard: BLKDISCARD, else punch) */
	_Atomic int c_state;        /* enum raid_comp_state */
	atomic_uint_fast64_t c_read_errs, c_write_errs, c_crc_errs, c_inflight;
	atomic_uint_fast64_t c_repaired;    /* bad copies rewritten on this leg */
	_Atomic int c_fail_rd, c_fail_wr;   /* fault injection (raid_test.h) */
};

struct raid_layout_ops;

struct raid_set {
	pthread_mutex_t lock;       /* labels, generation, state changes */
	int ncomp;
	struct raid_comp comp[RAID_MAX_COMP];
	enum raid_layout layout;
	const struct raid_layout_ops *ops;
	uint32_t stripe_unit;
	struct raid_geom geom;      /* immutable after open */
	struct raid_bitmap bm;
	uint8_t  uuid[16];
	uint64_t generation;
	uint64_t ctime;
	uint64_t data_size;         /* per component */
	uint64_t size;              /* logical */
	int readonly;
	struct raid_engine *eng;
	atomic_uint rr;             /* mirror read round-robin */
	atomic_int inflight;        /* logical ios outstanding */
	atomic_long waited_reads;   /* done on their submitter's thread (dag.c) */
	pthread_mutex_t idle_lock;
	pthread_cond_t idle_cv;
	int wlog_fd;                /* write-log test device, -1 when off */
	pthread_mutex_t wlog_lock;
	struct raid_fault *fault;   /* fault test device, NULL when off */
};

/* wlog.c */
int  raid_wlog_open(struct raid_set *s, const char *path);
void raid_wlog_write(struct raid_set *s, int comp, uint64_t dev_off, const void *buf, size_t len);
void raid_wlog_flush(struct raid_set *s, int comp);

/* fault.c: the fault test device (raid_opts.fault).  raid_fault_open
 * needs s->ncomp set; NULL path = off.  raid_fault_filter decides the fate
 * of a component request about to be issued (n->n_req filled in): 0 =
 * issue it (possibly with n->n_req.er_buf replaced by a corrupted private
 * copy, or n->n_fault set so raid_fault_read_done corrupts what was read),
 * 1 = delayed (the fault device submits it later), -errno = complete it
 * with this error now.  raid_fault_vanished: comp is unplugged (labels
 * must not be written to it). */
struct raid_node;
int  raid_fault_open(struct raid_set *s, const char *path);
void raid_fault_close(struct raid_set *s);
int  raid_fault_filter(struct raid_set *s, struct raid_node *n);
void raid_fault_read_done(struct raid_node *n);
int  raid_fault_vanished(struct raid_set *s, int comp);

/* device.c */
int  raid_dev_open(struct raid_comp *c, const char *path, int rw, int no_direct);
void raid_dev_close(struct raid_comp *c);
int  raid_dev_upgrade(struct raid_comp *c);   /* read-only open -> read-write */
/* label.c */
void raid_label_encode(struct raid_label_ondisk *l, const struct raid_set *s, int pos);
int  raid_label_decode(const struct raid_label_ondisk *l);   /* 0 if magic/version/crc ok */
int  raid_label_read(struct raid_comp *c, struct raid_label_ondisk *out);
int  raid_label_write_all(struct raid_set *s);                /* set->lock held */
/* Mark comp failed (write error): generation++, labels rewritten on
 * survivors, bitmap tracking started.  Returns 1 if comp was marked, 0 if
 * it was not (already failed, or the last working copy).  Takes set->lock. */
int  raid_comp_fail(struct raid_set *s, int comp, const char *why);
/* Readable (optimal) / writable (optimal or rebuilding) component. */
int  raid_comp_readable(const struct raid_set *s, int comp);
int  raid_comp_writable(const struct raid_set *s, int comp);
/* Writable legs (copies) of column col. */
int  raid_col_writable(const struct raid_set *s, int col);
/* Any leg failed or missing: writes must record dirty regions. */
int  raid_set_degraded(const struct raid_set *s);

/* bitmap.c (docs/DESIGN.md "dirty-region bitmap").  bm_lock is taken after
 * set->lock, never before it. */
void raid_bm_geometry(uint64_t col_size, uint32_t *region, uint32_t *nregions);
int  raid_bm_format(struct raid_set *s);                 /* raid_create: clean copies */
int  raid_bm_load(struct raid_set *s, const struct raid_label_ondisk *best);
void raid_bm_free(struct raid_set *s);
/* Begin tracking at generation gen if clean (set->lock held by caller or
 * single-threaded).  Does not write. */
void raid_bm_track(struct raid_set *s, uint64_t gen);
/* Make the bits of column range [coff, coff+len) durable before returning
 * (one bitmap write for every writer waiting at the time).  0 or -EIO. */
int  raid_bm_mark(struct raid_set *s, uint64_t coff, uint64_t len);
/* Every region stale (a flush failed: unknown what a leg lost). */
int  raid_bm_mark_full(struct raid_set *s);
/* Write the bitmap now (state changes of resync): 0 or -EIO. */
int  raid_bm_write(struct raid_set *s);
int  raid_bm_test(struct raid_bitmap *b, uint64_t r);   /* bm_lock held */
/* Writes vs resync: a write covering column regions [lo, hi] begins/ends. */
void raid_wr_begin(struct raid_set *s, uint64_t coff_lo, uint64_t coff_hi);
void raid_wr_end(struct raid_set *s, uint64_t coff_lo, uint64_t coff_hi);
/* Leg comp stopped being written (failed/missing): stop its resync. */
void raid_resync_abort_comp(struct raid_set *s, int comp);
/* set.c: does the device hold something (our label, a filesystem...)?
 * 1 and a description in what, or 0. */
int  raid_probe_existing(struct raid_comp *c, char *what, size_t cap);


/* layout.c: per-layout DAG builders, plugged in through this table.
 * Every builder returns 0 and *out, or -errno (-EIO: no copy can serve the
 * request; -ENOMEM).  NULL entry: the layout has no such operation (a
 * degraded read/write or a resync on a layout without redundancy): the
 * request fails with -EIO. */
struct raid_dag;
struct raid_layout_ops {
	const char *name;
	int redundant;              /* every block has more than one copy */
	/* read: io_copy -1 = any healthy copy, k = copy k of every column */
	int (*build_read)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	/* retry after a read failed on the components in exclude (bit mask) */
	int (*build_read_degraded)(struct raid_set *s, struct raid_io *io, unsigned exclude,
				   struct raid_dag **out);
	/* write every writable copy (one copy only: raid_write_copy, repair.c) */
	int (*build_write)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	/* a leg is failed or missing: the dirty bits of the request's regions
	 * are durable (bitmap node) before the writes start */
	int (*build_write_degraded)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	int (*build_flush)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	/* discard every writable leg's part of the request (raid/discard.c) */
	int (*build_discard)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	/* copy [coff, coff+len) of a column from component src to dst through buf */
	int (*build_resync)(struct raid_set *s, int src, int dst, uint64_t coff, void *buf,
			    size_t len, struct raid_dag **out);
};
const struct raid_layout_ops *raid_layout_ops_of(enum raid_layout l);

#endif
