/*
 * bufcache.h — contract of the bufcache/ layer: HAMMER-style I/O buffers
 * over a raid set (see hammer_io.c for the discipline it follows).
 *
 * A buffer covers one BC_BUFSIZE-aligned piece of the logical space and
 * has one type.  Buffers are found by offset in a hash; a buffer that has
 * been modified in the current flush group sits in its type's red-black
 * *modify tree* keyed by offset (libbsd <bsd/sys/tree.h>), so a flush
 * writes each type in offset order.
 *
 * Invariants (cited by number in asserts):
 *  (1) Only the flusher writes VOLUME and META buffers.  DATA and UNDO
 *      buffers may be written early under memory pressure.
 *  (2) Flush order: UNDO and DATA (one batch), device flush, META, wait
 *      for direct writes, device flush, VOLUME (commit hook), device flush.
 *      DATA may go with UNDO by (1): it is copy-on-write space that no
 *      committed state references.  bc_flush_undo writes UNDO alone
 *      (an fsync's REDO records) between flushes, also allowed by (1).
 *  (3) The undo hook runs before the first byte of a META buffer changes
 *      in a flush group (it sees the committed pre-image).
 *  (4) The CRC hook runs exactly once per flush group for each modified
 *      META buffer, when it leaves the modify tree (delayed CRC), never per
 *      change.
 *  (5) While the flusher snapshots a buffer its modify_refs is -1 (write
 *      interlock); bc_modify waits.
 *  (6) Memory is bounded: clean unreferenced buffers are reclaimed LRU;
 *      when dirty bytes exceed dirty_limit, bc_throttle() asks for a flush.
 *  (7) A DATA buffer made by bc_get_part holds one run of 4 KiB sectors:
 *      the flush writes only that run, and no get returns it, nor bc_peek
 *      copies from it, before the other sectors are read from disk.
 *
 * Thread safety: all calls are thread-safe (internal lock).  The caller
 * must serialize *changes to the same buffer* and must not modify any
 * buffer while bc_flush() runs (fs/ holds its own lock across both).
 * Hooks are called with no bufcache lock held, on the calling thread.
 */
#ifndef HFS_BUFCACHE_H
#define HFS_BUFCACHE_H

#include <stddef.h>
#include <stdint.h>
#include "raid/raid.h"

#define BC_BUFSIZE  16384u

enum bc_type { BC_VOLUME = 0, BC_META = 1, BC_UNDO = 2, BC_DATA = 3, BC_NTYPES = 4 };

struct bc;                  /* opaque cache */

/* Public part of a buffer; the rest is private to bufcache/. */
struct bc_buf {
	uint64_t     b_off;     /* logical offset, BC_BUFSIZE aligned (immutable) */
	enum bc_type b_type;    /* immutable while cached */
	uint8_t     *b_data;    /* BC_BUFSIZE bytes, 4096-aligned; change only between modify/modify_done */
	/* The owner's: 0 whenever the bytes come from the disk or are zeroed
	 * (BC_GET_NEW); the owner may set bits meanwhile, e.g. that it checked
	 * the bytes (fs/ checks a B-tree node's structure once per load). */
	uint32_t     b_user;
};

struct bc_hooks {
	void *priv;
	/* (3) Append the pre-image of b to the UNDO FIFO (may bc_get/bc_modify
	 * UNDO buffers).  0 or -errno (then bc_modify fails and b is unchanged). */
	int  (*undo)(void *priv, struct bc_buf *b);
	/* (4) Finalize the CRC of a modified META buffer. */
	void (*crc)(void *priv, struct bc_buf *b);
	/* Verify a META buffer just read from disk: 0, -EBADMSG (bad CRC) or
	 * -EUCLEAN (bad self-address / structure).  On error raid/ tries the
	 * other copies and rewrites the bad one (raid_read_verified) before
	 * the get fails.  May be called on a scratch copy of the bytes. */
	int  (*verify)(void *priv, struct bc_buf *b);
	/* (2) Step 5: fill the volume header for group 'seq' (fs modifies its
	 * VOLUME buffer here).  0 or -errno (the flush fails, nothing committed). */
	int  (*commit)(void *priv, uint64_t seq);
	/* After the header of group 'seq' is durable: release delayed frees, etc. */
	void (*committed)(void *priv, uint64_t seq);
	/* Every bc_modify of a META buffer, before it changes, on the caller's
	 * thread (fs/ learns which operations changed metadata).  May be NULL. */
	void (*modify)(void *priv, struct bc_buf *b);
	/* Optional, before a META buffer is read from disk: 1 = the hook filled
	 * b->b_data itself (taken as it is: no read, no verify), 0 = read it
	 * from disk, -errno = the get fails.  A read-only mount that skips
	 * recovery (-o norecovery) serves the UNDO pre-images of an interrupted
	 * flush this way, in memory only. */
	int  (*load)(void *priv, struct bc_buf *b);
};

struct bc_opts {
	size_t mem_limit;     /* bytes of buffers kept; 0 = 256 MiB */
	size_t dirty_limit;   /* dirty bytes before bc_throttle says flush; 0 = mem_limit/2 */
	uint64_t first_seq;   /* sequence number of the first flush group */
};

int  bc_open(struct raid_set *rs, const struct bc_opts *o, const struct bc_hooks *h,
	     struct bc **out);
/* Drops every buffer.  Dirty buffers are discarded (call bc_flush first). */
void bc_close(struct bc *c);

#define BC_GET_NEW  0x1   /* don't read: zero-filled; also marks undo done for this group */

/* Get a referenced buffer (reads it unless BC_GET_NEW; META reads are verified
 * by the verify hook).  0 or -errno (-EIO, -EBADMSG, -EUCLEAN, -ENOMEM). Blocks. */
int  bc_get(struct bc *c, enum bc_type t, uint64_t off, int flags, struct bc_buf **out);
void bc_put(struct bc_buf *b);
/* bc_get of a DATA buffer (flags 0) that reads ahead (readahead.c): a
 * miss right after a cached buffer (a sequential pass) reads up to 8
 * buffers from off on in one device read, stopping at one already cached,
 * and starts reading the next 32 in the background; a get that reaches
 * the first buffer of such a window starts the one after it.  Buffers
 * read ahead are kept clean and unreferenced.  ra: how many buffers from
 * off on the caller lets it read, a range that is all buffered data (a
 * direct write into it drops what is still loading, bc_invalidate).
 * 0 or -errno as bc_get. */
int  bc_get_ra(struct bc *c, enum bc_type t, uint64_t off, unsigned ra, struct bc_buf **out);

/* A DATA buffer of which the caller overwrites [in, in+len) (4 KiB
 * multiples) between bc_modify and bc_modify_done before anything reads
 * those bytes, as bc_get would give it, but on a miss nothing is read:
 * the buffer holds only those sectors, a flush writes only the sectors it
 * holds (the rest on disk is left as it is), and a bc_get or bc_peek that
 * needs the others reads them then.  A hit that would hold two separate
 * runs of sectors is read in full first.  0 or -errno as bc_get. */
int  bc_get_part(struct bc *c, uint64_t off, unsigned in, unsigned len, struct bc_buf **out);

/* Copy [off, off+len) (inside one buffer) from the cache if a buffer
 * holds it, without reading on a miss.  0, -ENOENT (not cached) or
 * -EINVAL.  The caller keeps those bytes from changing meanwhile. */
int  bc_peek(struct bc *c, uint64_t off, void *out, size_t len);

/* Begin/end a change of b's bytes.  bc_modify may call the undo hook
 * (META, first time in the group) and may block on the write interlock. */
int  bc_modify(struct bc_buf *b);
void bc_modify_done(struct bc_buf *b);
/* Mark a modified META buffer as needing its CRC finalized (default for META). */

/* Drop any cached buffer overlapping [off, off+len) (used before direct I/O). */
void bc_invalidate(struct bc *c, uint64_t off, uint64_t len);

/* Run one flush cycle (invariant 2).  Returns 0 or -errno; on a META/VOLUME
 * write error on a non-redundant set the cache turns read-only (bc_readonly)
 * and later modifies fail with -EROFS. */
int  bc_flush(struct bc *c);
/* Write every dirty UNDO buffer, then a device flush: what the UNDO FIFO
 * holds so far is durable (an fsync's REDO records, fs/redo.c).  UNDO may
 * go out early by (1); META stays for the flush cycle.  0 or -errno (a
 * write error on a non-redundant set turns the cache read-only as there). */
int  bc_flush_undo(struct bc *c);
uint64_t bc_seq(const struct bc *c);           /* current (uncommitted) group */
int  bc_readonly(const struct bc *c);
/* 1 when a flush would write nothing: no dirty buffer, no direct write in
 * flight and no direct-write error waiting to be reported. */
int  bc_idle(struct bc *c);
/* Turn read-only without an error (a filesystem shutdown): nothing more is
 * written, flushes fail with -EROFS, the last commit stays on disk. */
void bc_set_readonly(struct bc *c);
size_t bc_dirty_bytes(const struct bc *c);
int  bc_throttle(const struct bc *c);           /* 1 if dirty > dirty_limit */

/* ---- direct I/O (large aligned file data, bypasses the cache) ------- */
struct bc_direct;
typedef void (*bc_direct_done_fn)(void *priv, int err);
/* Write [off, off+len) straight from buf (caller keeps buf alive until done).
 * The write counts as "outstanding" until done runs; bc_flush waits for it
 * before committing.  0 or -errno (then done is not called). */
int  bc_direct_write(struct bc *c, uint64_t off, const void *buf, size_t len,
		     bc_direct_done_fn done, void *priv);
/* Synchronous direct read; copy = -1 any copy, k = that copy. */
int  bc_direct_read(struct bc *c, uint64_t off, void *buf, size_t len, int copy);
/* Asynchronous direct read: done(priv, err) runs on a completion thread
 * (no bufcache lock held) once buf is filled; copy as for bc_direct_read.
 * The caller keeps buf alive and must make sure the range is not reused
 * while the read runs (fs/ keeps a commit from happening).  0 or -errno
 * (then done is not called). */
int  bc_direct_read_async(struct bc *c, uint64_t off, void *buf, size_t len, int copy,
			  bc_direct_done_fn done, void *priv);
/* Self-healing read of [off, off+len) (raid_read_verified, flags as
 * there: a copy failing verify is replaced by one that passes, and
 * rewritten); cached buffers
 * overlapping the range are dropped.  Returns the number of copies
 * repaired (>= 0) or -errno (-EBADMSG/-EIO: no copy verifies).  Blocks;
 * call without holding a buffer of the range. */
int  bc_read_verified(struct bc *c, uint64_t off, void *buf, size_t len, raid_verify_fn verify,
		      void *priv, unsigned flags);
/* Wait for every direct write issued before the call. */
int  bc_wait_direct(struct bc *c);
/* Wait for every write (buffer or direct) issued before the call, using a
 * placemarker in the running-I/O list; later writes do not delay it.
 * Returns the first direct-write error since the last wait. */
int  bc_wait_all(struct bc *c);

struct bc_stats {
	uint64_t hits, misses, reclaims, flushes, writes[BC_NTYPES], bytes_written[BC_NTYPES];
	uint64_t direct_writes, direct_reads, crc_retries;
	uint64_t parts, fills;        /* bc_get_part misses (nothing read); their later reads */
	uint64_t direct_read_bytes;   /* bytes asked of raid/ by direct and verified reads */
	uint64_t repaired;    /* bad copies rewritten by self-healing reads */
	uint64_t ra_windows, ra_failed;   /* background read-ahead windows started; failed (dropped) */
	size_t   cached_bytes, dirty_bytes;
};
void bc_get_stats(struct bc *c, struct bc_stats *st);
struct raid_set *bc_raid(struct bc *c);

#endif
