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
#define RAID_MIN_DATA     (64ull << 20)

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
	uint8_t  l_reserved[4096 - 112];
};
_Static_assert(sizeof(struct raid_label_ondisk) == RAID_LABEL_SIZE, "label size");

struct raid_comp {
	int      c_fd;              /* -1 when missing */
	char     c_path[256];
	uint64_t c_size;            /* device bytes */
	uint32_t c_sector;
	int      c_direct;          /* opened O_DIRECT */
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
	uint8_t  uuid[16];
	uint64_t generation;
	uint64_t ctime;
	uint64_t data_size;         /* per component */
	uint64_t size;              /* logical */
	int readonly;
	struct raid_engine *eng;
	atomic_uint rr;             /* mirror read round-robin */
	atomic_int inflight;        /* logical ios outstanding */
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
/* label.c */
void raid_label_encode(struct raid_label_ondisk *l, const struct raid_set *s, int pos);
int  raid_label_decode(const struct raid_label_ondisk *l);   /* 0 if magic/version/crc ok */
int  raid_label_read(struct raid_comp *c, struct raid_label_ondisk *out);
int  raid_label_write_all(struct raid_set *s);                /* set->lock held */
/* Mark comp failed (write error): generation++, labels rewritten on survivors. */
void raid_comp_fail(struct raid_set *s, int comp, const char *why);

/* layout.c: per-layout address math and DAG builders. */
struct raid_dag;
struct raid_layout_ops {
	const char *name;
	int min_comp;
	uint64_t (*size)(const struct raid_set *s);
	/* Build the DAG for io (copy = -1 or a forced copy; exclude = copy
	 * mask not to use, for retries).  0 or -errno (-EIO: no copy left). */
	int (*build_read)(struct raid_set *s, struct raid_io *io, unsigned exclude, struct raid_dag **out);
	int (*build_write)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
	int (*build_flush)(struct raid_set *s, struct raid_io *io, struct raid_dag **out);
};
const struct raid_layout_ops *raid_layout_ops_of(enum raid_layout l);

#endif
