/*
 * btree.c — the one B+tree (format in fs/ondisk.h, docs/FORMAT.md).
 *
 * Invariants (checked by bt_node_check on every node read, and by fsck):
 *  (B1) keys inside a node are strictly ascending;
 *  (B2) inner item i's key is <= every key under child i, and every key
 *       under child i is < item i+1's key (item 0's key is the node's
 *       lower fence: an insert below it lowers it on the way down);
 *  (B3) all leaves are at level 0; a child is exactly one level below;
 *  (B4) leaf values lie in [bh_data_start, HFS_BUFSIZE), above the slots.
 *
 * Nodes are changed only between bc_modify/bc_modify_done, so UNDO and the
 * delayed CRC follow from bufcache.  No parent pointers: operations carry
 * the root-to-leaf path.  Each operation touches O(depth) nodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

#define MAXDEPTH 32
#define INNER_MIN ((int)HFS_BT_INNER_MAX / 4)
#define LEAF_MIN  (HFS_BT_LEAF_SPACE / 4)

struct path {
	int depth;
	uint64_t za[MAXDEPTH];   /* [0] = root */
	int idx[MAXDEPTH];       /* item index taken at each inner level / slot in the leaf */
};

static struct hfs_blkhdr_ondisk *hdr(uint8_t *d) { return (struct hfs_blkhdr_ondisk *)d; }
static struct hfs_bt_inner_ondisk *inner(uint8_t *d, int i)
{ return (struct hfs_bt_inner_ondisk *)(d + 64 + 32 * i); }
static struct hfs_bt_slot_ondisk *slot(uint8_t *d, int i)
{ return (struct hfs_bt_slot_ondisk *)(d + 64 + 32 * i); }
static int nitems(uint8_t *d) { return hfs_le16(hdr(d)->bh_nitems); }

static struct hfs_key ikey(uint8_t *d, int i)
{
	struct hfs_key k;

	hfs_key_decode(&k, &inner(d, i)->bi_key);
	return k;
}

static struct hfs_key skey(uint8_t *d, int i)
{
	struct hfs_key k;

	hfs_key_decode(&k, &slot(d, i)->bs_key);
	return k;
}

/* ---- validation ---------------------------------------------------------------- */

static int bt_node_check(uint8_t *d, uint64_t za, int level)
{
	int n = nitems(d), i;

	if (hdr(d)->bh_level != level)
		return HFS_CORRUPT("node %#llx: level %u, expected %d", (unsigned long long)za,
				   hdr(d)->bh_level, level);
	if (level > 0) {
		if (n < 1 || n > (int)HFS_BT_INNER_MAX)
			return HFS_CORRUPT("node %#llx: %d items", (unsigned long long)za, n);
		for (i = 0; i < n; i++) {
			struct hfs_key a = ikey(d, i), b;
			uint64_t c = hfs_le64(inner(d, i)->bi_child);

			if (hfs_zone_of(c) != HFS_ZONE_BTREE || hfs_raw(c) % HFS_BUFSIZE)
				return HFS_CORRUPT("node %#llx: child %d address %#llx",
						   (unsigned long long)za, i, (unsigned long long)c);
			if (i + 1 < n) {
				b = ikey(d, i + 1);
				if (hfs_key_cmp(&a, &b) >= 0)
					return HFS_CORRUPT("node %#llx: keys out of order at %d",
							   (unsigned long long)za, i);
			}
		}
		return 0;
	}
	{
		unsigned ds = hfs_le16(hdr(d)->bh_data_start);

		if (64u + 32u * (unsigned)n > ds || ds > HFS_BUFSIZE)
			return HFS_CORRUPT("leaf %#llx: %d slots, data start %u", (unsigned long long)za, n, ds);
		for (i = 0; i < n; i++) {
			unsigned off = hfs_le16(slot(d, i)->bs_off), len = hfs_le16(slot(d, i)->bs_len);

			if (off < ds || off + len > HFS_BUFSIZE || len > HFS_MAX_VALUE)
				return HFS_CORRUPT("leaf %#llx: slot %d value [%u,+%u)", (unsigned long long)za,
						   i, off, len);
			if (i + 1 < n) {
				struct hfs_key a = skey(d, i), b = skey(d, i + 1);

				if (hfs_key_cmp(&a, &b) >= 0)
					return HFS_CORRUPT("leaf %#llx: keys out of order at %d",
							   (unsigned long long)za, i);
			}
		}
	}
	return 0;
}

#define BT_CHECKED 0x1   /* b_user: bt_node_check passed since the bytes were loaded */

/* The whole check once per load (it decodes every key: a fifth of the CPU
 * of small random writes when it ran on every visit); the nodes this code
 * changes stay valid by construction.  The level is checked on every visit,
 * since it depends on the path (a parent's pointer). */
static int get_node(struct hfs_fs *fs, uint64_t za, int level, struct bc_buf **out)
{
	int ret = hfs_meta_get(fs, za, 0, out);

	if (ret)
		return ret;
	if ((*out)->b_user & BT_CHECKED)
		ret = hdr((*out)->b_data)->bh_level != level ?
		      HFS_CORRUPT("node %#llx: level %u, expected %d", (unsigned long long)za,
				  hdr((*out)->b_data)->bh_level, level) : 0;
	else
		ret = bt_node_check((*out)->b_data, za, level);
	if (ret)
		bc_put(*out);
	else
		(*out)->b_user |= BT_CHECKED;
	return ret;
}

/* Node addresses allocated before a split starts, so that a split either
 * has every node it needs or fails with nothing changed: an ENOSPC between
 * building the new leaf and linking it into the parent would lose the
 * records moved into it. */
struct spare { int n; uint64_t za[MAXDEPTH + 1]; };

static void spare_put(struct hfs_fs *fs, struct spare *sp)
{
	while (sp->n > 0)
		hfs_free(fs, sp->za[--sp->n], HFS_BUFSIZE);
}

static int spare_get(struct hfs_fs *fs, struct spare *sp, int need)
{
	if (need > MAXDEPTH + 1)
		return HFS_CORRUPT("B-tree split needs %d nodes", need);
	while (sp->n < need) {
		int ret = hfs_alloc(fs, HFS_ZONE_BTREE, HFS_BUFSIZE, &sp->za[sp->n]);

		if (ret) {
			spare_put(fs, sp);
			return ret;
		}
		sp->n++;
	}
	return 0;
}

/* A fresh node at a spare address (or a new allocation without spares). */
static int new_node(struct hfs_fs *fs, struct spare *sp, int level, struct bc_buf **out,
		    uint64_t *za)
{
	int ret = 0;

	if (sp && sp->n > 0)
		*za = sp->za[--sp->n];
	else
		ret = hfs_alloc(fs, HFS_ZONE_BTREE, HFS_BUFSIZE, za);

	if (ret)
		return ret;
	ret = hfs_meta_get(fs, *za, BC_GET_NEW, out);
	if (ret)
		goto err;
	ret = bc_modify(*out);
	if (ret) {
		bc_put(*out);
		goto err;
	}
	memset((*out)->b_data, 0, HFS_BUFSIZE);
	hdr((*out)->b_data)->bh_magic = hfs_tole32(HFS_BTREE_MAGIC);
	hdr((*out)->b_data)->bh_self = hfs_tole64(*za);
	hdr((*out)->b_data)->bh_level = (uint8_t)level;
	hdr((*out)->b_data)->bh_data_start = hfs_tole16(HFS_BUFSIZE);
	return 0;   /* caller ends with bc_modify_done + bc_put */
err:
	hfs_free(fs, *za, HFS_BUFSIZE);
	return ret;
}

/* ---- searching ---------------------------------------------------------------------- */

/* Largest i with key_i <= k, or 0. */
static int inner_find(uint8_t *d, const struct hfs_key *k)
{
	int lo = 0, hi = nitems(d) - 1;

	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		struct hfs_key m = ikey(d, mid);

		if (hfs_key_cmp(&m, k) <= 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* First slot with key >= k; *found if equal. */
static int leaf_find(uint8_t *d, const struct hfs_key *k, int *found)
{
	int lo = 0, hi = nitems(d);

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		struct hfs_key m = skey(d, mid);

		if (hfs_key_cmp(&m, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (found) {
		struct hfs_key m;

		*found = 0;
		if (lo < nitems(d)) {
			m = skey(d, lo);
			*found = hfs_key_cmp(&m, k) == 0;
		}
	}
	return lo;
}

/* Descend to the leaf for k, filling p.  If lower_fence, lower item 0's
 * key on the way when k is below it (B2 for inserts).  Returns the leaf
 * buffer referenced. */
static int descend(struct hfs_fs *fs, const struct hfs_key *k, struct path *p, int lower_fence,
		   struct bc_buf **leaf)
{
	int depth = (int)hfs_le32(fs->vh.vh_btree_depth), lvl, ret;
	uint64_t za = hfs_le64(fs->vh.vh_btree_root);

	if (depth < 1 || depth > MAXDEPTH)
		return HFS_CORRUPT("B-tree depth %d", depth);
	p->depth = depth;
	for (lvl = depth - 1; lvl > 0; lvl--) {
		struct bc_buf *b;
		int i, d = depth - 1 - lvl;

		ret = get_node(fs, za, lvl, &b);
		if (ret)
			return ret;
		i = inner_find(b->b_data, k);
		if (lower_fence && i == 0) {
			struct hfs_key f = ikey(b->b_data, 0);

			if (hfs_key_cmp(k, &f) < 0) {
				ret = bc_modify(b);
				if (ret) {
					bc_put(b);
					return ret;
				}
				hfs_key_encode(&inner(b->b_data, 0)->bi_key, k);
				bc_modify_done(b);
			}
		}
		p->za[d] = za;
		p->idx[d] = i;
		za = hfs_le64(inner(b->b_data, i)->bi_child);
		bc_put(b);
	}
	p->za[depth - 1] = za;
	ret = get_node(fs, za, 0, leaf);
	if (ret)
		return ret;
	p->idx[depth - 1] = leaf_find((*leaf)->b_data, k, NULL);
	return 0;
}

/* ---- leaf editing --------------------------------------------------------------------- */

struct rec { struct hfs_key k; const uint8_t *v; uint16_t len; };

static unsigned leaf_used(uint8_t *d)
{
	unsigned u = 0;
	int i;

	for (i = 0; i < nitems(d); i++)
		u += 32u + hfs_le16(slot(d, i)->bs_len);
	return u;
}

/* Rewrite leaf d (modify held) to hold exactly recs[0..n), packed. */
static void leaf_build(uint8_t *d, const struct rec *r, int n)
{
	uint8_t *tmp = malloc(HFS_BUFSIZE);
	unsigned top = HFS_BUFSIZE;
	int i;

	if (!tmp)
		abort();   /* 16 KiB scratch: out of memory is fatal here */
	memcpy(tmp, d, 64);
	memset(tmp + 64, 0, HFS_BUFSIZE - 64);
	for (i = 0; i < n; i++) {
		top -= r[i].len;
		if (r[i].len)   /* empty values (orphan records) may have no pointer */
			memcpy(tmp + top, r[i].v, r[i].len);
		hfs_key_encode(&slot(tmp, i)->bs_key, &r[i].k);
		slot(tmp, i)->bs_off = hfs_tole16((uint16_t)top);
		slot(tmp, i)->bs_len = hfs_tole16(r[i].len);
	}
	hdr(tmp)->bh_nitems = hfs_tole16((uint16_t)n);
	hdr(tmp)->bh_data_start = hfs_tole16((uint16_t)top);
	memcpy(d, tmp, HFS_BUFSIZE);
	free(tmp);
}

/* Snapshot a leaf's records (values copied into one arena). */
static int leaf_records(uint8_t *d, struct rec **out, uint8_t **arena)
{
	int n = nitems(d), i;
	struct rec *r = calloc((size_t)n + 1, sizeof(*r));
	uint8_t *a = malloc(HFS_BUFSIZE + HFS_MAX_VALUE), *p;

	if (!r || !a) {
		free(r);
		free(a);
		return -ENOMEM;
	}
	for (i = 0, p = a; i < n; i++) {
		unsigned len = hfs_le16(slot(d, i)->bs_len);

		memcpy(p, d + hfs_le16(slot(d, i)->bs_off), len);
		r[i].k = skey(d, i);
		r[i].v = p;
		r[i].len = (uint16_t)len;
		p += len;
	}
	*out = r;
	*arena = a;
	return n;
}

/* Insert into the leaf when it fits (compacting if needed): 1 done, 0 no room. */
static int leaf_try_insert(uint8_t *d, int at, const struct hfs_key *k, const void *v, unsigned len)
{
	int n = nitems(d);
	unsigned ds = hfs_le16(hdr(d)->bh_data_start), freebytes = ds - 64 - 32u * (unsigned)n;

	if (leaf_used(d) + 32 + len > HFS_BT_LEAF_SPACE)
		return 0;
	if (freebytes < 32 + len) {
		struct rec *r;
		uint8_t *a;
		int m = leaf_records(d, &r, &a);

		if (m < 0)
			return m;
		leaf_build(d, r, m);
		free(r);
		free(a);
		ds = hfs_le16(hdr(d)->bh_data_start);
	}
	memmove(slot(d, at + 1), slot(d, at), 32u * (unsigned)(n - at));
	ds -= len;
	if (len)
		memcpy(d + ds, v, len);
	hfs_key_encode(&slot(d, at)->bs_key, k);
	slot(d, at)->bs_off = hfs_tole16((uint16_t)ds);
	slot(d, at)->bs_len = hfs_tole16((uint16_t)len);
	slot(d, at)->bs_pad = 0;
	hdr(d)->bh_nitems = hfs_tole16((uint16_t)(n + 1));
	hdr(d)->bh_data_start = hfs_tole16((uint16_t)ds);
	return 1;
}

/* ---- inner editing ---------------------------------------------------------------------- */

static void inner_insert_at(uint8_t *d, int at, const struct hfs_key *k, uint64_t child)
{
	int n = nitems(d);

	memmove(inner(d, at + 1), inner(d, at), 32u * (unsigned)(n - at));
	hfs_key_encode(&inner(d, at)->bi_key, k);
	inner(d, at)->bi_child = hfs_tole64(child);
	hdr(d)->bh_nitems = hfs_tole16((uint16_t)(n + 1));
}

static void inner_remove_at(uint8_t *d, int at)
{
	int n = nitems(d);

	memmove(inner(d, at), inner(d, at + 1), 32u * (unsigned)(n - at - 1));
	memset(inner(d, n - 1), 0, 32);
	hdr(d)->bh_nitems = hfs_tole16((uint16_t)(n - 1));
}

/* Insert separator (k -> child) after path position at level index d
 * (d = index into p, 0 = root).  Splits upward as needed. */
static int parent_insert(struct hfs_fs *fs, struct spare *sp, struct path *p, int d,
			 const struct hfs_key *k, uint64_t child)
{
	struct bc_buf *b, *nb;
	uint64_t nza;
	int ret, at, lvl;

	if (d < 0) {
		/* the root split: grow a new root above it */
		uint64_t old = hfs_le64(fs->vh.vh_btree_root);
		int depth = (int)hfs_le32(fs->vh.vh_btree_depth);
		struct bc_buf *ob;
		struct hfs_key f;

		if (depth >= MAXDEPTH)
			return HFS_CORRUPT("B-tree too deep");
		ret = hfs_meta_get(fs, old, 0, &ob);
		if (ret)
			return ret;
		f = depth - 1 > 0 ? ikey(ob->b_data, 0) :
		    (nitems(ob->b_data) ? skey(ob->b_data, 0) : *k);
		bc_put(ob);
		ret = new_node(fs, sp, depth, &nb, &nza);
		if (ret)
			return ret;
		inner_insert_at(nb->b_data, 0, &f, old);
		inner_insert_at(nb->b_data, 1, k, child);
		bc_modify_done(nb);
		bc_put(nb);
		fs->vh.vh_btree_root = hfs_tole64(nza);
		fs->vh.vh_btree_depth = hfs_tole32((uint32_t)depth + 1);
		return 0;
	}
	lvl = p->depth - 1 - d;
	ret = get_node(fs, p->za[d], lvl, &b);
	if (ret)
		return ret;
	ret = bc_modify(b);
	if (ret) {
		bc_put(b);
		return ret;
	}
	at = p->idx[d] + 1;
	if (nitems(b->b_data) < (int)HFS_BT_INNER_MAX) {
		inner_insert_at(b->b_data, at, k, child);
		bc_modify_done(b);
		bc_put(b);
		return 0;
	}
	/* split the inner node in half, then place the new item */
	ret = new_node(fs, sp, lvl, &nb, &nza);
	if (ret) {
		bc_modify_done(b);
		bc_put(b);
		return ret;
	}
	{
		int n = nitems(b->b_data), half = n / 2;
		struct hfs_key sep = ikey(b->b_data, half);

		memcpy(inner(nb->b_data, 0), inner(b->b_data, half), 32u * (unsigned)(n - half));
		hdr(nb->b_data)->bh_nitems = hfs_tole16((uint16_t)(n - half));
		memset(inner(b->b_data, half), 0, 32u * (unsigned)(n - half));
		hdr(b->b_data)->bh_nitems = hfs_tole16((uint16_t)half);
		if (at <= half)
			inner_insert_at(b->b_data, at, k, child);
		else
			inner_insert_at(nb->b_data, at - half, k, child);
		bc_modify_done(nb);
		bc_put(nb);
		bc_modify_done(b);
		bc_put(b);
		return parent_insert(fs, sp, p, d - 1, &sep, nza);
	}
}

/* Descend to k's leaf and find k in it: 0 with the leaf referenced and
 * *at its slot, or -ENOENT / -errno with nothing held. */
static int find_exact(struct hfs_fs *fs, const struct hfs_key *k, struct path *p,
		      struct bc_buf **leaf, int *at)
{
	int found, ret = descend(fs, k, p, 0, leaf);

	if (ret)
		return ret;
	*at = leaf_find((*leaf)->b_data, k, &found);
	if (!found) {
		bc_put(*leaf);
		return -ENOENT;
	}
	return 0;
}

/* ---- public ------------------------------------------------------------------------------- */

int hfs_bt_lookup(struct hfs_fs *fs, const struct hfs_key *k, void *val, size_t cap, size_t *len)
{
	struct path p;
	struct bc_buf *leaf;
	int i, ret = find_exact(fs, k, &p, &leaf, &i);

	if (ret)
		return ret;
	{
		unsigned l = hfs_le16(slot(leaf->b_data, i)->bs_len);

		if (len)
			*len = l;
		if (val)
			memcpy(val, leaf->b_data + hfs_le16(slot(leaf->b_data, i)->bs_off), l < cap ? l : cap);
	}
	bc_put(leaf);
	return 0;
}

/* Nodes a split of p's leaf takes: the new leaf, one per full inner node
 * above it, and a new root when every level splits. */
static int split_need(struct hfs_fs *fs, const struct path *p, int *need)
{
	int d, ret, full;

	*need = 1;
	for (d = p->depth - 2; d >= 0; d--) {
		struct bc_buf *b;

		ret = get_node(fs, p->za[d], p->depth - 1 - d, &b);
		if (ret)
			return ret;
		full = nitems(b->b_data) >= (int)HFS_BT_INNER_MAX;
		bc_put(b);
		if (!full)
			return 0;
		(*need)++;
	}
	(*need)++;
	return 0;
}

/* Insert with the nodes of a split from sp (NULL: reserve them here). */
static int insert_impl(struct hfs_fs *fs, struct spare *sp, const struct hfs_key *k,
		       const void *val, size_t len)
{
	struct path p;
	struct bc_buf *leaf, *nb;
	struct rec *r;
	uint8_t *arena;
	uint64_t nza;
	int found, at, n, ret, i, split, need;
	unsigned total, acc;
	struct spare local = { 0 };

	if (len > HFS_MAX_VALUE)
		return -E2BIG;
	ret = descend(fs, k, &p, 1, &leaf);
	if (ret)
		return ret;
	at = leaf_find(leaf->b_data, k, &found);
	if (found) {
		bc_put(leaf);
		return -EEXIST;
	}
	ret = bc_modify(leaf);
	if (ret) {
		bc_put(leaf);
		return ret;
	}
	ret = leaf_try_insert(leaf->b_data, at, k, val, (unsigned)len);
	if (ret != 0) {
		bc_modify_done(leaf);
		bc_put(leaf);
		return ret < 0 ? ret : 0;
	}
	/* split: every node it needs first (nothing changed if that fails) */
	if (!sp) {
		sp = &local;
		ret = split_need(fs, &p, &need);
		if (!ret)
			ret = spare_get(fs, sp, need);
		if (ret)
			goto out_leaf;
	}
	/* all records + the new one, cut by bytes */
	n = leaf_records(leaf->b_data, &r, &arena);
	if (n < 0) {
		ret = n;
		goto out_leaf;
	}
	memmove(&r[at + 1], &r[at], sizeof(*r) * (size_t)(n - at));
	r[at].k = *k;
	r[at].v = val;
	r[at].len = (uint16_t)len;
	n++;
	for (i = 0, total = 0; i < n; i++)
		total += 32u + r[i].len;
	for (split = 0, acc = 0; split < n - 1 && acc + 32u + r[split].len <= total / 2; split++)
		acc += 32u + r[split].len;
	if (split == 0)
		split = 1;
	ret = new_node(fs, sp, 0, &nb, &nza);
	if (ret)
		goto out_recs;
	leaf_build(leaf->b_data, r, split);
	leaf_build(nb->b_data, r + split, n - split);
	bc_modify_done(nb);
	bc_put(nb);
	bc_modify_done(leaf);
	bc_put(leaf);
	{
		struct hfs_key sep = r[split].k;

		free(r);
		free(arena);
		ret = parent_insert(fs, sp, &p, p.depth - 2, &sep, nza);
		spare_put(fs, &local);   /* none left: split_need counted exactly */
		return ret;
	}
out_recs:
	free(r);
	free(arena);
out_leaf:
	bc_modify_done(leaf);
	bc_put(leaf);
	spare_put(fs, &local);
	return ret;
}

int hfs_bt_insert(struct hfs_fs *fs, const struct hfs_key *k, const void *val, size_t len)
{
	return insert_impl(fs, NULL, k, val, len);
}

/* After a delete left node at path level d underfull, merge it with a
 * sibling when both fit in one node; recurse upward; collapse the root. */
static int rebalance(struct hfs_fs *fs, struct path *p, int d)
{
	struct bc_buf *par, *l, *r;
	int lvl = p->depth - 1 - d, li, ret, fits;

	if (d == 0) {
		/* root: an inner root with one child collapses */
		struct bc_buf *root;

		if (p->depth == 1)
			return 0;
		ret = get_node(fs, p->za[0], lvl, &root);
		if (ret)
			return ret;
		if (nitems(root->b_data) == 1) {
			uint64_t child = hfs_le64(inner(root->b_data, 0)->bi_child);

			bc_put(root);
			fs->vh.vh_btree_root = hfs_tole64(child);
			fs->vh.vh_btree_depth = hfs_tole32((uint32_t)p->depth - 1);
			return hfs_free(fs, p->za[0], HFS_BUFSIZE);
		}
		bc_put(root);
		return 0;
	}
	ret = get_node(fs, p->za[d - 1], lvl + 1, &par);
	if (ret)
		return ret;
	if (nitems(par->b_data) < 2) {
		bc_put(par);
		return 0;
	}
	li = p->idx[d - 1];
	if (li + 1 >= nitems(par->b_data))
		li--;   /* merge with the left sibling instead */
	ret = get_node(fs, hfs_le64(inner(par->b_data, li)->bi_child), lvl, &l);
	if (ret)
		goto out_par;
	ret = get_node(fs, hfs_le64(inner(par->b_data, li + 1)->bi_child), lvl, &r);
	if (ret)
		goto out_l;
	if (lvl == 0)
		fits = leaf_used(l->b_data) + leaf_used(r->b_data) <= HFS_BT_LEAF_SPACE;
	else
		fits = nitems(l->b_data) + nitems(r->b_data) <= (int)HFS_BT_INNER_MAX;
	if (!fits) {
		ret = 0;
		goto out_r;
	}
	ret = bc_modify(l);
	if (ret)
		goto out_r;
	if (lvl == 0) {
		struct rec *ra, *rb;
		uint8_t *aa, *ab;
		int na = leaf_records(l->b_data, &ra, &aa), nb;

		if (na < 0) {
			ret = na;
			goto out_mod;
		}
		nb = leaf_records(r->b_data, &rb, &ab);
		if (nb < 0) {
			free(ra);
			free(aa);
			ret = nb;
			goto out_mod;
		}
		{
			struct rec *all = realloc(ra, sizeof(*ra) * (size_t)(na + nb + 1));

			if (!all) {
				free(ra);
				free(aa);
				free(rb);
				free(ab);
				ret = -ENOMEM;
				goto out_mod;
			}
			memcpy(all + na, rb, sizeof(*rb) * (size_t)nb);
			leaf_build(l->b_data, all, na + nb);
			free(all);
			free(aa);
			free(rb);
			free(ab);
		}
	} else {
		int na = nitems(l->b_data), nb = nitems(r->b_data);

		memcpy(inner(l->b_data, na), inner(r->b_data, 0), 32u * (unsigned)nb);
		/* B2: the right node's first key may sit below its separator */
		inner(l->b_data, na)->bi_key = inner(par->b_data, li + 1)->bi_key;
		hdr(l->b_data)->bh_nitems = hfs_tole16((uint16_t)(na + nb));
	}
	bc_modify_done(l);
	{
		uint64_t rza = hfs_le64(inner(par->b_data, li + 1)->bi_child);

		bc_put(r);
		bc_put(l);
		ret = bc_modify(par);
		if (ret) {
			bc_put(par);
			return ret;
		}
		inner_remove_at(par->b_data, li + 1);
		bc_modify_done(par);
		{
			int pn = nitems(par->b_data);

			bc_put(par);
			ret = hfs_free(fs, rza, HFS_BUFSIZE);
			if (ret)
				return ret;
			if (d - 1 == 0 || pn < INNER_MIN)
				return rebalance(fs, p, d - 1);
		}
	}
	return 0;
out_mod:
	bc_modify_done(l);
out_r:
	bc_put(r);
out_l:
	bc_put(l);
out_par:
	bc_put(par);
	return ret;
}

int hfs_bt_delete(struct hfs_fs *fs, const struct hfs_key *k)
{
	struct path p;
	struct bc_buf *leaf;
	int at, n, ret = find_exact(fs, k, &p, &leaf, &at);
	unsigned used;

	if (ret)
		return ret;
	ret = bc_modify(leaf);
	if (ret) {
		bc_put(leaf);
		return ret;
	}
	n = nitems(leaf->b_data);
	memmove(slot(leaf->b_data, at), slot(leaf->b_data, at + 1), 32u * (unsigned)(n - at - 1));
	memset(slot(leaf->b_data, n - 1), 0, 32);
	hdr(leaf->b_data)->bh_nitems = hfs_tole16((uint16_t)(n - 1));
	bc_modify_done(leaf);
	used = leaf_used(leaf->b_data);
	bc_put(leaf);
	if (p.depth > 1 && used < LEAF_MIN)
		return rebalance(fs, &p, p.depth - 1);
	return 0;
}

int hfs_bt_update(struct hfs_fs *fs, const struct hfs_key *k, const void *val, size_t len)
{
	struct path p;
	struct bc_buf *leaf;
	int at, ret;

	if (len > HFS_MAX_VALUE)
		return -E2BIG;
	ret = find_exact(fs, k, &p, &leaf, &at);
	if (ret)
		return ret;
	if (len <= hfs_le16(slot(leaf->b_data, at)->bs_len)) {
		/* in place: the tail of the old value becomes dead space */
		ret = bc_modify(leaf);
		if (!ret) {
			if (len)
				memcpy(leaf->b_data + hfs_le16(slot(leaf->b_data, at)->bs_off), val, len);
			slot(leaf->b_data, at)->bs_len = hfs_tole16((uint16_t)len);
			bc_modify_done(leaf);
		}
		bc_put(leaf);
		return ret;
	}
	bc_put(leaf);
	/* a larger value: delete and insert again, with the nodes of a worst
	 * case split (every level and a new root) taken before the delete, so
	 * the old record is never lost to an ENOSPC */
	{
		struct spare sp = { 0 };

		ret = spare_get(fs, &sp, p.depth + 1);
		if (!ret)
			ret = hfs_bt_delete(fs, k);
		if (!ret)
			ret = insert_impl(fs, &sp, k, val, len);
		spare_put(fs, &sp);
		return ret;
	}
}

int hfs_bt_next(struct hfs_fs *fs, const struct hfs_key *from, const struct hfs_key *to,
		struct hfs_key *found, void *val, size_t cap, size_t *len)
{
	struct path p;
	struct bc_buf *b;
	int ret = descend(fs, from, &p, 0, &b), d, lvl;

	if (ret)
		return ret;
	for (;;) {
		int i = leaf_find(b->b_data, from, NULL);

		if (i < nitems(b->b_data)) {
			struct hfs_key k = skey(b->b_data, i);
			unsigned l = hfs_le16(slot(b->b_data, i)->bs_len);

			if (hfs_key_cmp(&k, to) > 0) {
				bc_put(b);
				return -ENOENT;
			}
			if (found)
				*found = k;
			if (len)
				*len = l;
			if (val)
				memcpy(val, b->b_data + hfs_le16(slot(b->b_data, i)->bs_off), l < cap ? l : cap);
			bc_put(b);
			return 0;
		}
		bc_put(b);
		/* leaf exhausted: climb to the first ancestor with a next child */
		for (d = p.depth - 2; d >= 0; d--) {
			struct bc_buf *nb;

			ret = get_node(fs, p.za[d], p.depth - 1 - d, &nb);
			if (ret)
				return ret;
			if (p.idx[d] + 1 < nitems(nb->b_data)) {
				p.idx[d]++;
				p.za[d + 1] = hfs_le64(inner(nb->b_data, p.idx[d])->bi_child);
				bc_put(nb);
				break;
			}
			bc_put(nb);
		}
		if (d < 0)
			return -ENOENT;
		/* descend leftmost */
		for (lvl = p.depth - 2 - d, d = d + 1; lvl > 0; lvl--, d++) {
			struct bc_buf *nb;

			ret = get_node(fs, p.za[d], lvl, &nb);
			if (ret)
				return ret;
			p.idx[d] = 0;
			p.za[d + 1] = hfs_le64(inner(nb->b_data, 0)->bi_child);
			bc_put(nb);
		}
		ret = get_node(fs, p.za[p.depth - 1], 0, &b);
		if (ret)
			return ret;
	}
}

/* The key right after k in key order; 0, or 1 if k is the largest key. */
static int key_succ(struct hfs_key *k)
{
	if (k->key != UINT64_MAX) {
		k->key++;
		return 0;
	}
	k->key = 0;
	if (k->type != UINT8_MAX) {
		k->type++;
		return 0;
	}
	k->type = 0;
	return k->obj++ == UINT64_MAX;
}

int hfs_bt_range(struct hfs_fs *fs, const struct hfs_key *from, const struct hfs_key *to,
		 hfs_bt_rec_fn fn, void *priv)
{
	struct hfs_key at = *from, k;
	int ret;

	for (;;) {
		struct path p;
		struct bc_buf *b;
		int i, n, seen = 0;

		/* one descent per leaf, not one per record (hfs_bt_next): a
		 * block's overlays are read on every write into it */
		ret = descend(fs, &at, &p, 0, &b);
		if (ret)
			return ret;
		n = nitems(b->b_data);
		for (i = leaf_find(b->b_data, &at, NULL); i < n; i++) {
			k = skey(b->b_data, i);
			if (hfs_key_cmp(&k, to) > 0) {
				bc_put(b);
				return 0;
			}
			ret = fn(priv, &k, b->b_data + hfs_le16(slot(b->b_data, i)->bs_off),
				 hfs_le16(slot(b->b_data, i)->bs_len));
			if (ret) {
				bc_put(b);
				return ret;
			}
			at = k;
			seen = 1;
		}
		bc_put(b);
		/* the leaf ended below `to`: the rest is in the leaves after it */
		if (seen && key_succ(&at))
			return 0;
		ret = hfs_bt_next(fs, &at, to, &k, NULL, 0, NULL);
		if (ret)
			return ret == -ENOENT ? 0 : ret;
		at = k;
	}
}

int hfs_bt_scan_leaf(struct hfs_fs *fs, const struct hfs_key *k, hfs_bt_node_fn node_fn,
		     hfs_bt_rec_fn rec_fn, void *priv, struct hfs_key *next)
{
	int depth = (int)hfs_le32(fs->vh.vh_btree_depth), lvl, ret, i, have_next = 0;
	uint64_t za = hfs_le64(fs->vh.vh_btree_root);
	struct bc_buf *b;

	if (depth < 1 || depth > MAXDEPTH)
		return HFS_CORRUPT("B-tree depth %d", depth);
	for (lvl = depth - 1; lvl > 0; lvl--) {
		uint64_t here = za;

		ret = get_node(fs, za, lvl, &b);
		if (ret)
			return ret;
		i = inner_find(b->b_data, k);
		/* the tightest right fence is the next key of the deepest
		 * ancestor that has one */
		if (i + 1 < nitems(b->b_data)) {
			*next = ikey(b->b_data, i + 1);
			have_next = 1;
		}
		za = hfs_le64(inner(b->b_data, i)->bi_child);
		bc_put(b);
		/* an ascending walk enters each inner node once through item 0 */
		if (i == 0 && (ret = node_fn(priv, here, lvl)) != 0)
			return ret;
	}
	ret = get_node(fs, za, 0, &b);
	if (ret)
		return ret;
	ret = node_fn(priv, za, 0);
	for (i = leaf_find(b->b_data, k, NULL); !ret && i < nitems(b->b_data); i++) {
		struct hfs_key sk = skey(b->b_data, i);

		ret = rec_fn(priv, &sk, b->b_data + hfs_le16(slot(b->b_data, i)->bs_off),
			     hfs_le16(slot(b->b_data, i)->bs_len));
	}
	bc_put(b);
	if (ret)
		return ret;
	return have_next ? 0 : 1;
}

int hfs_bt_format_root(struct raid_set *rs, uint64_t zaddr, uint64_t seq)
{
	uint8_t *d;
	int ret;

	if (posix_memalign((void **)&d, 4096, HFS_BUFSIZE))
		return -ENOMEM;
	memset(d, 0, HFS_BUFSIZE);
	hdr(d)->bh_magic = hfs_tole32(HFS_BTREE_MAGIC);
	hdr(d)->bh_self = hfs_tole64(zaddr);
	hdr(d)->bh_seq = hfs_tole64(seq);
	hdr(d)->bh_data_start = hfs_tole16(HFS_BUFSIZE);
	hdr(d)->bh_crc = hfs_tole32(hfs_block_crc(d, HFS_BUFSIZE, 4));
	ret = raid_write(rs, hfs_raw(zaddr), d, HFS_BUFSIZE);
	free(d);
	return ret;
}
