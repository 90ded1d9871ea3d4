/*
 * bufcache.c — HAMMER-style I/O buffers: lookup, modify tracking with one
 * red-black modify tree per type, delayed CRC, the flush cycle, LRU
 * reclaim (direct I/O: direct.c; read-ahead: readahead.c).  Invariants
 * (1)-(6) are in bufcache.h.
 *
 * Buffer states (b_state) and the function owning each transition:
 *
 *      bc_get (miss)            read ok                 bc_modify
 *   (none) -----> LOADING ------------------> CLEAN -----------------> DIRTY
 *                    | read/verify error        ^  \  bc_put, refs 0     |
 *                    v                          |   `-> on LRU, may be  | flush_type:
 *                 (freed, error returned)       |       reclaimed        | interlock
 *                                               |                        v
 *                                               +-------- write ok --- RUNNING
 *                                        write error: IOERROR (stays dirty, cache read-only)
 *
 * Locking: c->lock protects every field of the cache and the private
 * fields of every buffer; b_data is owned by the caller between
 * bc_modify and bc_modify_done (the fs serializes changes per buffer).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <bsd/sys/tree.h>
#include "bufcache/bufcache.h"
#include "bufcache/bc_test.h"
#include "bufcache/bc_int.h"

int bcb_cmp(struct bcb *a, struct bcb *b)
{
	return a->pub.b_off < b->pub.b_off ? -1 : a->pub.b_off > b->pub.b_off;
}
RB_GENERATE(bc_modtree, bcb, b_rb, bcb_cmp)

static const char *const type_names[BC_NTYPES] = { "volume", "meta", "undo", "data" };

static unsigned hash_of(uint64_t off)
{
	return (unsigned)((off / BC_BUFSIZE) * 2654435761u) % BC_HASH_SIZE;
}

/* ---- lookup and lifetime (c->lock held) --------------------------------- */

struct bcb *bcb_find(struct bc *c, uint64_t off)
{
	struct bcb *b;

	for (b = c->hash[hash_of(off)]; b; b = b->b_hnext)
		if (b->pub.b_off == off)
			return b;
	return NULL;
}

static void unhash(struct bc *c, struct bcb *b)
{
	struct bcb **pp = &c->hash[hash_of(b->pub.b_off)];

	while (*pp != b)
		pp = &(*pp)->b_hnext;
	*pp = b->b_hnext;
}

static void lru_remove(struct bc *c, struct bcb *b)
{
	if (b->b_on_lru) {
		TAILQ_REMOVE(&c->lru, b, b_lru);
		b->b_on_lru = 0;
	}
}

void bcb_destroy(struct bc *c, struct bcb *b)
{
	lru_remove(c, b);
	unhash(c, b);
	c->cached -= BC_BUFSIZE;
	bc_mem_buf_free(&c->mem, b->pub.b_data);
	free(b);
}

/* A new unreferenced buffer at off, hashed and counted as cached (its
 * bytes uninitialized); NULL when out of memory.  c->lock held. */
struct bcb *bcb_new(struct bc *c, enum bc_type t, uint64_t off, enum bcb_state state)
{
	struct bcb *b = calloc(1, sizeof(*b));

	if (!b || !(b->pub.b_data = bc_mem_buf(&c->mem))) {
		free(b);
		return NULL;
	}
	b->pub.b_off = off;
	b->pub.b_type = t;
	b->b_cache = c;
	b->b_state = state;
	b->b_hnext = c->hash[hash_of(off)];
	c->hash[hash_of(off)] = b;
	c->cached += BC_BUFSIZE;
	return b;
}

/* Take a reference on a cached buffer for a get of type t. */
static void take(struct bc *c, struct bcb *b, enum bc_type t)
{
	b->b_refs++;
	lru_remove(c, b);
	b->pub.b_type = t;
	c->st.hits++;
}

/* Invariant (6): drop clean unreferenced buffers, oldest first. */
void bcb_reclaim(struct bc *c, size_t want_free)
{
	while (c->cached + want_free > c->opts.mem_limit && !TAILQ_EMPTY(&c->lru)) {
		struct bcb *b = TAILQ_FIRST(&c->lru);

		bcb_destroy(c, b);
		c->st.reclaims++;
	}
}

void bc_run_start(struct bc *c, struct bc_run *r)   /* c->lock held */
{
	r->r_placemark = 0;
	TAILQ_INSERT_TAIL(&c->running, r, r_link);
}

void bc_run_end(struct bc *c, struct bc_run *r)     /* c->lock held */
{
	TAILQ_REMOVE(&c->running, r, r_link);
	pthread_cond_broadcast(&c->cv);
}

/* ---- public: open/close ---------------------------------------------------- */

int bc_open(struct raid_set *rs, const struct bc_opts *o, const struct bc_hooks *h,
	    struct bc **out)
{
	struct bc *c = calloc(1, sizeof(*c));
	int t;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	bc_mem_init(&c->mem);
	c->rs = rs;
	if (h)
		c->hooks = *h;
	if (o)
		c->opts = *o;
	if (!c->opts.mem_limit)
		c->opts.mem_limit = 256u << 20;
	if (c->opts.mem_limit < 64 * BC_BUFSIZE)
		c->opts.mem_limit = 64 * BC_BUFSIZE;
	if (!c->opts.dirty_limit)
		c->opts.dirty_limit = c->opts.mem_limit / 2;
	c->seq = c->opts.first_seq ? c->opts.first_seq : 1;
	for (t = 0; t < BC_NTYPES; t++)
		RB_INIT(&c->tree[t]);
	TAILQ_INIT(&c->lru);
	TAILQ_INIT(&c->running);
	*out = c;
	return 0;
}

void bc_close(struct bc *c)
{
	unsigned i;

	bc_wait_direct(c);
	pthread_mutex_lock(&c->lock);
	while (c->ra_outstanding)   /* read-ahead completions touch c */
		pthread_cond_wait(&c->cv, &c->lock);
	for (i = 0; i < BC_HASH_SIZE; i++)
		while (c->hash[i])
			bcb_destroy(c, c->hash[i]);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
	bc_mem_fini(&c->mem);
	free(c);
}

/* ---- get/put ------------------------------------------------------------------ */

struct verify_ctx {
	struct bc *c;
	const struct bcb *b;
};

/* raid_verify_fn over the META verify hook: the bytes of one copy. */
static int verify_copy(void *priv, const void *buf, size_t len)
{
	struct verify_ctx *x = priv;
	struct bc_buf tmp = x->b->pub;

	tmp.b_data = (uint8_t *)buf;
	return x->c->hooks.verify(x->c->hooks.priv, &tmp);
}

/* Read b from disk and verify it.  META blocks go through raid/'s
 * self-healing read: a copy that fails the verify hook is replaced by a
 * good copy, which is returned and rewritten over the bad one. */
static int load(struct bc *c, struct bcb *b)
{
	struct verify_ctx x = { c, b };
	int ret, healed = 0;

	if (b->pub.b_type == BC_META && c->hooks.load) {
		ret = c->hooks.load(c->hooks.priv, &b->pub);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	if (b->pub.b_type != BC_META || !c->hooks.verify)
		return raid_read(c->rs, b->pub.b_off, b->pub.b_data, BC_BUFSIZE);
	ret = raid_read_verified(c->rs, b->pub.b_off, b->pub.b_data, BC_BUFSIZE, verify_copy, &x,
				 0, &healed);
	if (ret == 0 && healed) {
		pthread_mutex_lock(&c->lock);
		c->st.crc_retries++;
		c->st.repaired += (uint64_t)healed;
		pthread_mutex_unlock(&c->lock);
		fprintf(stderr, "hfs: bufcache: %s block at %llu was bad on %d cop%s; repaired\n",
			type_names[b->pub.b_type], (unsigned long long)b->pub.b_off, healed,
			healed > 1 ? "ies" : "y");
	}
	return ret;
}

/* Read the sectors of a bc_get_part buffer that were never read (b
 * referenced, c->lock not held).  Sectors a writer claims meanwhile
 * (bc_get_part) are left alone: only those still missing at the copy are
 * taken from disk, and the disk holds what they hold, since a flush writes
 * only the sectors a buffer has. */
static int fill(struct bc *c, struct bcb *b)
{
	uint8_t *tmp = bc_mem_buf(&c->mem);
	unsigned s;
	int ret;

	if (!tmp)
		return -ENOMEM;
	ret = raid_read(c->rs, b->pub.b_off, tmp, BC_BUFSIZE);
	pthread_mutex_lock(&c->lock);
	if (!ret) {
		for (s = 0; s < BC_NSECT; s++)
			if (b->b_missing & (1u << s))
				memcpy(b->pub.b_data + s * BC_SECT, tmp + s * BC_SECT, BC_SECT);
		b->b_missing = 0;
		c->st.fills++;
	}
	pthread_mutex_unlock(&c->lock);
	bc_mem_buf_free(&c->mem, tmp);
	return ret;
}

/* The sectors [in, in+len) of a buffer touch. */
static unsigned sect_mask(uint64_t in, size_t len)
{
	unsigned first = (unsigned)(in / BC_SECT), last = (unsigned)((in + len + BC_SECT - 1) / BC_SECT);

	return len ? ((1u << last) - 1) & ~((1u << first) - 1) : 0;
}

/* The sectors [*s0, *s1) from the first to the last a buffer holds (not
 * in missing, which leaves at least one); 1 if it holds all of them, one
 * run. */
static int held_run(unsigned missing, unsigned *s0, unsigned *s1)
{
	unsigned held = ~missing & BC_SECT_ALL;

	*s0 = (unsigned)__builtin_ctz(held);
	*s1 = 32 - (unsigned)__builtin_clz(held);
	return (unsigned)__builtin_popcount(held) == *s1 - *s0;
}

int bc_get_part(struct bc *c, uint64_t off, unsigned in, unsigned len, struct bc_buf **out)
{
	unsigned mask, s0, s1;
	struct bcb *b;

	if (off % BC_BUFSIZE || in % BC_SECT || len % BC_SECT || !len || in + len > BC_BUFSIZE)
		return -EINVAL;
	if (len == BC_BUFSIZE)
		return bc_get(c, BC_DATA, off, BC_GET_NEW, out);
	mask = sect_mask(in, len);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		b = bcb_find(c, off);
		if (!b || b->b_state != BCB_LOADING)
			break;
		pthread_cond_wait(&c->cv, &c->lock);
	}
	if (b && b->b_missing && !held_run(b->b_missing & ~mask, &s0, &s1)) {
		/* the buffer would hold two runs (a flush writes one run per
		 * buffer): read it in full */
		pthread_mutex_unlock(&c->lock);
		return bc_get(c, BC_DATA, off, 0, out);
	}
	if (b) {
		b->b_missing &= ~mask;
		take(c, b, BC_DATA);
		pthread_mutex_unlock(&c->lock);
		*out = &b->pub;
		return 0;
	}
	/* a miss: a buffer holding only the caller's sectors, nothing read */
	bcb_reclaim(c, BC_BUFSIZE);
	if (!(b = bcb_new(c, BC_DATA, off, BCB_CLEAN))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	memset(b->pub.b_data, 0, BC_BUFSIZE);
	b->b_refs = 1;
	b->b_missing = BC_SECT_ALL & ~mask;
	c->st.misses++;
	c->st.parts++;
	pthread_mutex_unlock(&c->lock);
	*out = &b->pub;
	return 0;
}

int bc_get(struct bc *c, enum bc_type t, uint64_t off, int flags, struct bc_buf **out)
{
	struct bcb *b;
	int ret, partial;

	if ((unsigned)t >= BC_NTYPES || off % BC_BUFSIZE)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
again:
	b = bcb_find(c, off);
	if (b) {
		if (b->b_state == BCB_LOADING) {
			pthread_cond_wait(&c->cv, &c->lock);
			goto again;
		}
		take(c, b, t);
		if ((flags & BC_GET_NEW) && b->b_state == BCB_CLEAN) {
			memset(b->pub.b_data, 0, BC_BUFSIZE);
			b->pub.b_user = 0;
			b->b_undo_seq = c->seq;
		}
		if (flags & BC_GET_NEW)
			b->b_missing = 0;   /* the caller owns every byte */
		partial = b->b_missing != 0;   /* read under the lock: fill rechecks it */
		pthread_mutex_unlock(&c->lock);
		if (partial && (ret = fill(c, b)) != 0) {
			bc_put(&b->pub);
			return ret;
		}
		*out = &b->pub;
		return 0;
	}
	bcb_reclaim(c, BC_BUFSIZE);
	if (!(b = bcb_new(c, t, off, BCB_LOADING))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	b->b_refs = 1;
	c->st.misses++;
	pthread_mutex_unlock(&c->lock);

	if (flags & BC_GET_NEW) {
		memset(b->pub.b_data, 0, BC_BUFSIZE);
		ret = 0;
	} else {
		ret = load(c, b);
	}
	pthread_mutex_lock(&c->lock);
	if (ret) {
		bcb_destroy(c, b);
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	b->b_state = BCB_CLEAN;
	/* A new buffer's old bytes are garbage nobody references: no pre-image. */
	b->b_undo_seq = (flags & BC_GET_NEW) ? c->seq : 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	*out = &b->pub;
	return 0;
}

void bc_put(struct bc_buf *pb)
{
	struct bcb *b = (struct bcb *)pb;
	struct bc *c = b->b_cache;

	pthread_mutex_lock(&c->lock);
	if (b->b_refs <= 0)
		abort();   /* put without get */
	if (--b->b_refs == 0 && b->b_state == BCB_CLEAN) {
		TAILQ_INSERT_TAIL(&c->lru, b, b_lru);
		b->b_on_lru = 1;
		bcb_reclaim(c, 0);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- modify -------------------------------------------------------------------- */

int bc_modify(struct bc_buf *pb)
{
	struct bcb *b = (struct bcb *)pb;
	struct bc *c = b->b_cache;
	int ret;

	if (b->pub.b_type == BC_META && c->hooks.modify)
		c->hooks.modify(c->hooks.priv, pb);
	pthread_mutex_lock(&c->lock);
	if (c->readonly) {
		pthread_mutex_unlock(&c->lock);
		return -EROFS;
	}
	while (b->b_modify_refs < 0)   /* invariant (5) */
		pthread_cond_wait(&c->cv, &c->lock);
	if (b->pub.b_type == BC_META && b->b_undo_seq != c->seq && c->hooks.undo) {
		uint64_t prev = b->b_undo_seq;

		/* Set first: the hook modifies UNDO buffers and must not recurse here. */
		b->b_undo_seq = c->seq;
		b->b_modify_refs++;   /* keep the flusher off while unlocked */
		pthread_mutex_unlock(&c->lock);
		ret = c->hooks.undo(c->hooks.priv, pb);   /* invariant (3) */
		pthread_mutex_lock(&c->lock);
		b->b_modify_refs--;
		if (ret) {
			b->b_undo_seq = prev;
			pthread_mutex_unlock(&c->lock);
			return ret;
		}
	}
	b->b_modify_refs++;
	if (b->b_state == BCB_CLEAN) {
		b->b_state = BCB_DIRTY;
		RB_INSERT(bc_modtree, &c->tree[b->pub.b_type], b);
		c->dirty += BC_BUFSIZE;
	}
	if (b->pub.b_type == BC_META)
		b->b_needs_crc = 1;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void bc_modify_done(struct bc_buf *pb)
{
	struct bcb *b = (struct bcb *)pb;
	struct bc *c = b->b_cache;

	pthread_mutex_lock(&c->lock);
	if (b->b_modify_refs <= 0)
		abort();
	if (--b->b_modify_refs == 0)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
}

/* ---- flush ------------------------------------------------------------------------ */

struct wctx {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int left, err;
};
struct wio {
	struct raid_io io;
	struct bcb *b;
	struct wctx *w;
	struct bc *c;
	struct bc_run run;
	int head;                        /* index of the entry whose write carries this buffer */
	unsigned missing;                /* b_missing when the step took the buffer */
};

static void write_done(struct raid_io *io, int err)
{
	struct wio *x = (struct wio *)io;
	struct wctx *w = x->w;

	pthread_mutex_lock(&x->c->lock);
	bc_run_end(x->c, &x->run);
	pthread_mutex_unlock(&x->c->lock);
	pthread_mutex_lock(&w->m);
	if (err && !w->err)
		w->err = err;
	x->io.io_priv = (void *)(intptr_t)(err ? err : 1);
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

/* Write every dirty buffer of the types in mask (bits 1 << type), each
 * type in offset order (tree order), all of them in flight together (up
 * to BC_BACKLOG at a time).  META buffers get their CRC finalized as they
 * leave the tree (4). */
static int flush_types(struct bc *c, unsigned mask, enum bc_type *failed)
{
	struct wio *x = NULL;
	int n = 0, cap = 0, i, err = 0;
	enum bc_type t;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct bcb *b = NULL;
		struct wctx w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
		uint8_t *area = NULL;    /* the step's runs: x[i]'s bytes at i * BC_BUFSIZE */

		for (t = 0; t < BC_NTYPES && !b; t++)
			if (mask & (1u << t))
				b = RB_MIN(bc_modtree, &c->tree[t]);
		n = 0;
		while (b && n < BC_BACKLOG) {
			struct bcb *next;

			t = b->pub.b_type;
			next = RB_NEXT(bc_modtree, &c->tree[t], b);
			while (!next && ++t < BC_NTYPES)
				if (mask & (1u << t))
					next = RB_MIN(bc_modtree, &c->tree[t]);
			t = b->pub.b_type;

			while (b->b_modify_refs != 0)
				pthread_cond_wait(&c->cv, &c->lock);
			b->b_modify_refs = -1;      /* write interlock (5) */
			RB_REMOVE(bc_modtree, &c->tree[t], b);
			b->b_state = BCB_RUNNING;
			b->b_refs++;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				x = realloc(x, (size_t)cap * sizeof(*x));
				if (!x)
					abort();   /* a 64-entry array: out of memory is fatal */
			}
			x[n].missing = b->b_missing;
			x[n++].b = b;
			b = next;
		}
		if (!n)
			break;
		pthread_mutex_unlock(&c->lock);
		for (i = 0; i < n; i++) {
			struct bcb *bb = x[i].b;

			if (bb->pub.b_type == BC_META && bb->b_needs_crc && c->hooks.crc)
				c->hooks.crc(c->hooks.priv, &bb->pub);
			bb->b_needs_crc = 0;
			if (c->trace)
				c->trace(c->trace_priv, bb->pub.b_type, bb->pub.b_off);
			memset(&x[i].io, 0, sizeof(x[i].io));
			x[i].io.io_op = RAID_OP_WRITE;
			x[i].io.io_off = bb->pub.b_off;
			x[i].io.io_buf = bb->pub.b_data;
			x[i].io.io_len = BC_BUFSIZE;
			if (x[i].missing) {
				/* a bc_get_part buffer: only the run of sectors it
				 * holds, the others on disk stay as they are */
				unsigned s0, s1;

				held_run(x[i].missing, &s0, &s1);   /* one run (bc_get_part) */
				x[i].io.io_off += s0 * BC_SECT;
				x[i].io.io_buf += s0 * BC_SECT;
				x[i].io.io_len = (s1 - s0) * BC_SECT;
			}
			x[i].io.io_copy = -1;
			x[i].io.io_done = write_done;
			x[i].w = &w;
			x[i].c = c;
			x[i].head = i;
		}
		/* Buffers adjacent on disk (the UNDO FIFO, fresh DATA space) go
		 * out as one write of a bounce copy: one device request per run
		 * instead of one per 16 KiB.  Same bytes, same place between the
		 * same barriers, so the crash protocol is unchanged; the bytes
		 * are stable (write interlock, 5).  No memory: one write each. */
		w.left = 0;
		for (i = 0; i < n; ) {
			int j = i + 1, k;

			while (j < n && !x[i].missing && !x[j].missing &&
			       x[j].b->pub.b_type == x[i].b->pub.b_type &&
			       x[j].b->pub.b_off == x[j - 1].b->pub.b_off + BC_BUFSIZE)
				j++;
			if (j - i > 1 && !area)
				area = bc_mem_run(&c->mem, (size_t)n * BC_BUFSIZE);
			if (j - i > 1 && area) {
				x[i].io.io_buf = area + (size_t)i * BC_BUFSIZE;
				for (k = i; k < j; k++) {
					memcpy(x[i].io.io_buf + (size_t)(k - i) * BC_BUFSIZE,
					       x[k].b->pub.b_data, BC_BUFSIZE);
					x[k].head = i;
				}
				x[i].io.io_len = (size_t)(j - i) * BC_BUFSIZE;
			} else {
				j = i + 1;
			}
			w.left++;
			i = j;
		}
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < n; i++)
			if (x[i].head == i)
				bc_run_start(c, &x[i].run);
		pthread_mutex_unlock(&c->lock);
		for (i = 0; i < n; i++) {
			int r = x[i].head == i ? raid_submit(c->rs, &x[i].io) : 0;

			if (r)
				write_done(&x[i].io, r);
		}
		pthread_mutex_lock(&w.m);
		while (w.left)
			pthread_cond_wait(&w.cv, &w.m);
		pthread_mutex_unlock(&w.m);
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < n; i++) {
			struct bcb *bb = x[i].b;
			int r = (int)(intptr_t)x[x[i].head].io.io_priv;

			bb->b_modify_refs = 0;
			bb->b_refs--;
			if (r == 1) {
				bb->b_state = BCB_CLEAN;
				c->dirty -= BC_BUFSIZE;
				c->st.writes[bb->pub.b_type]++;
				c->st.bytes_written[bb->pub.b_type] +=
					BC_BUFSIZE - BC_SECT * (unsigned)__builtin_popcount(x[i].missing);
				if (bb->b_refs == 0) {
					TAILQ_INSERT_TAIL(&c->lru, bb, b_lru);
					bb->b_on_lru = 1;
				}
			} else {
				/* Keep the bytes; the buffer stays dirty but out of the
				 * tree so the flush terminates. */
				bb->b_state = BCB_IOERROR;
				if (!err) {
					err = r;
					*failed = bb->pub.b_type;   /* named in the critical line */
				}
			}
		}
		bc_mem_run_free(&c->mem, area);
		pthread_cond_broadcast(&c->cv);
	}
	bcb_reclaim(c, 0);
	pthread_mutex_unlock(&c->lock);
	free(x);
	return err;
}

static int go_readonly(struct bc *c, enum bc_type t, int err)
{
	pthread_mutex_lock(&c->lock);
	if (!c->readonly)
		fprintf(stderr, "hfs: CRITICAL: %s write failed (%s); filesystem is now read-only, "
			"the last commit stays the recovery point\n", type_names[t], strerror(-err));
	c->readonly = 1;
	pthread_mutex_unlock(&c->lock);
	return err;
}

int bc_flush(struct bc *c)
{
	enum bc_type failed;
	uint64_t seq;
	int ret;

	pthread_mutex_lock(&c->lock);
	if (c->readonly) {
		pthread_mutex_unlock(&c->lock);
		return -EROFS;
	}
	seq = c->seq;
	pthread_mutex_unlock(&c->lock);

	/* (2) UNDO and DATA together, barrier, META + direct, barrier,
	 * VOLUME, barrier.  DATA buffers hold only copy-on-write space no
	 * committed state references (crash rule 3 of fs/), so they need
	 * not wait for the UNDO barrier: written alongside UNDO they cost
	 * no extra round trip, and the second barrier still makes them
	 * durable before the header that references them. */
	failed = BC_UNDO;
	ret = flush_types(c, 1u << BC_UNDO | 1u << BC_DATA, &failed);
	if (!ret)
		ret = raid_flush(c->rs);
	if (ret)
		return go_readonly(c, failed, ret);
	ret = flush_types(c, 1u << BC_META, &failed);
	if (ret)
		return go_readonly(c, BC_META, ret);
	ret = bc_wait_direct(c);
	if (!ret)
		ret = raid_flush(c->rs);
	if (ret)
		return go_readonly(c, BC_DATA, ret);
	if (c->hooks.commit) {
		ret = c->hooks.commit(c->hooks.priv, seq);
		if (ret)
			return ret;
	}
	ret = flush_types(c, 1u << BC_VOLUME, &failed);
	if (!ret)
		ret = raid_flush(c->rs);
	if (ret)
		return go_readonly(c, BC_VOLUME, ret);
	pthread_mutex_lock(&c->lock);
	c->seq++;
	c->st.flushes++;
	pthread_mutex_unlock(&c->lock);
	if (c->hooks.committed)
		c->hooks.committed(c->hooks.priv, seq);
	return 0;
}

int bc_flush_undo(struct bc *c)
{
	enum bc_type failed = BC_UNDO;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->readonly ? -EROFS : 0;
	pthread_mutex_unlock(&c->lock);
	if (ret)
		return ret;
	ret = flush_types(c, 1u << BC_UNDO, &failed);
	if (!ret)
		ret = raid_flush(c->rs);
	return ret ? go_readonly(c, BC_UNDO, ret) : 0;
}

int bc_peek(struct bc *c, uint64_t off, void *out, size_t len)
{
	uint64_t boff = off - off % BC_BUFSIZE;
	struct bcb *b;
	int ret = -ENOENT;

	if (len > BC_BUFSIZE - (off - boff))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	b = bcb_find(c, boff);
	if (b && b->b_state != BCB_LOADING && !(b->b_missing & sect_mask(off - boff, len))) {
		memcpy(out, b->pub.b_data + (off - boff), len);
		ret = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

uint64_t bc_seq(const struct bc *c) { return c->seq; }
int bc_readonly(const struct bc *c) { return c->readonly; }

int bc_idle(struct bc *c)
{
	int idle;

	pthread_mutex_lock(&c->lock);
	idle = c->dirty == 0 && c->direct_outstanding == 0 && c->direct_err == 0 &&
	       TAILQ_EMPTY(&c->running);
	pthread_mutex_unlock(&c->lock);
	return idle;
}

void bc_set_readonly(struct bc *c)
{
	pthread_mutex_lock(&c->lock);
	c->readonly = 1;
	pthread_mutex_unlock(&c->lock);
}
size_t bc_dirty_bytes(const struct bc *c) { return c->dirty; }
int bc_throttle(const struct bc *c) { return c->dirty > c->opts.dirty_limit; }
struct raid_set *bc_raid(struct bc *c) { return c->rs; }

void bc_get_stats(struct bc *c, struct bc_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->cached_bytes = c->cached;
	st->dirty_bytes = c->dirty;
	pthread_mutex_unlock(&c->lock);
}

void bc_test_set_write_trace(struct bc *c, void (*fn)(void *priv, enum bc_type t, uint64_t off),
			     void *priv)
{
	c->trace = fn;
	c->trace_priv = priv;
}
