/*
 * bc_int.h — bufcache's internals shared by its files (bufcache.c: lookup,
 * get/put, modify, flush; direct.c: direct I/O; readahead.c: read-ahead).
 * Not part of its contract (bufcache.h).
 */
#ifndef HFS_BC_INT_H
#define HFS_BC_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <bsd/sys/tree.h>
#include "bufcache/bufcache.h"
#include "bufcache/bc_mem.h"

#define BC_HASH_SIZE  8192u
#define BC_BACKLOG    64         /* buffer writes in flight per flush step */
_Static_assert(BC_BACKLOG * BC_BUFSIZE <= BC_MEM_AREA, "a flush step fits the staging area");

enum bcb_state { BCB_LOADING = 0, BCB_CLEAN, BCB_DIRTY, BCB_RUNNING, BCB_IOERROR };

/* An entry of the running-I/O list: every buffer or direct write in flight,
 * in issue order, plus the placemarkers of bc_wait_all callers. */
struct bc_run {
	TAILQ_ENTRY(bc_run) r_link;
	int r_placemark;
};

struct bcb {
	struct bc_buf pub;               /* must be first */
	struct bc *b_cache;
	struct bcb *b_hnext;             /* hash chain */
	RB_ENTRY(bcb) b_rb;              /* modify tree of its type while dirty */
	TAILQ_ENTRY(bcb) b_lru;          /* clean and unreferenced */
	enum bcb_state b_state;
	int b_refs;
	int b_modify_refs;               /* -1 = write interlock (invariant 5) */
	int b_on_lru;
	int b_needs_crc;
	uint64_t b_undo_seq;             /* group whose pre-image is already saved */
	unsigned b_missing;              /* 4 KiB sectors never read (bc_get_part), bit s = sector s */
	unsigned b_ra_mark : 1;          /* first of a background read-ahead window (readahead.c) */
	unsigned b_stale : 1;            /* LOADING by a read-ahead, overwritten meanwhile: drop it */
};

#define BC_SECT   4096u
#define BC_NSECT  (BC_BUFSIZE / BC_SECT)
#define BC_SECT_ALL ((1u << BC_NSECT) - 1)

int bcb_cmp(struct bcb *a, struct bcb *b);
RB_HEAD(bc_modtree, bcb);
/* libbsd's _STATIC variants need a BSD __unused; the global ones carry the bc_ prefix. */
RB_PROTOTYPE(bc_modtree, bcb, b_rb, bcb_cmp)

struct bc {
	pthread_mutex_t lock;
	pthread_cond_t cv;               /* loads finished, interlock released, direct I/O done */
	struct raid_set *rs;
	struct bc_hooks hooks;
	struct bc_opts opts;
	struct bcb *hash[BC_HASH_SIZE];
	struct bc_modtree tree[BC_NTYPES];
	TAILQ_HEAD(, bcb) lru;
	uint64_t seq;
	size_t cached, dirty;
	int readonly;
	long direct_outstanding;
	long ra_outstanding;             /* background read-ahead windows in flight */
	int direct_err;
	TAILQ_HEAD(, bc_run) running;     /* in-flight writes and placemarkers */
	struct bc_stats st;
	void (*trace)(void *priv, enum bc_type t, uint64_t off);
	void *trace_priv;
	struct bc_mem mem;               /* buffer data and run staging, reused */
};

/* c->lock held */
struct bcb *bcb_find(struct bc *c, uint64_t off);
void bcb_destroy(struct bc *c, struct bcb *b);
struct bcb *bcb_new(struct bc *c, enum bc_type t, uint64_t off, enum bcb_state state);
void bcb_reclaim(struct bc *c, size_t want_free);
void bc_run_start(struct bc *c, struct bc_run *r);
void bc_run_end(struct bc *c, struct bc_run *r);

#endif
