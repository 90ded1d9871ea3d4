/*
 * fsck.c — fsck.hfs: check (and with -y repair) an hfs volume set.
 *
 * It reads the format itself (fs/ondisk.h) through raid/, not through the
 * B-tree code it checks.  Passes:
 *   1. assembly and both header copies;
 *   2. UNDO: replayed (default) or overlaid in memory (-n);
 *   3. the B-tree: every node's magic, CRC, self-address, level, key order
 *      and fences; every record's size; every address's zone;
 *   4. data: every extent's and piece's CRC on every copy;
 *   5. namespace: dirents to existing inodes of the right type, link
 *      counts, directory parents, unreachable inodes, inode counters;
 *   6. free map: owners, bitmaps and counts against the references.
 * Exit codes as e2fsck: 0 clean, 1 corrected, 4 left uncorrected,
 * 8 operational error, 16 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "fs/hfs.h"

struct inode_info {
	uint64_t ino;
	uint32_t mode, nlink;
	uint64_t size, blocks, parent;
	uint32_t refs, subdirs;
	uint64_t data_bytes;
	uint64_t leaf_raw;            /* where the record lives, for repairs */
	uint16_t val_off;
	int orphan, seen_parent;
};

struct ovl { uint64_t raw; uint8_t *data; struct ovl *next; };

struct fsck {
	struct raid_set *rs;
	struct hfs_volhdr_ondisk vh;
	int repair, verbose;
	int problems, fixed;
	uint64_t nblocks;
	uint8_t *refmap;              /* blocks referenced (1 bit per 4 KiB) */
	struct inode_info *ino;
	size_t nino, capino;
	struct ovl *ovl[1024];
	struct dent { uint64_t dir, ino; uint8_t type; } *dents;
	size_t ndents, capdents;
	uint64_t *orphans;
	size_t norphans, caporphans;
	uint64_t nnodes, nrecs, ndata, npieces, ncrc4k;
	/* full DATA blocks of inode bobj seen so far (in key order), so that
	 * each DATAOVL record (after them in key order) is checked to lie on one */
	uint64_t bobj, *bfbo;
	size_t nbfbo, capbfbo, bpos;
};

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->problems++;
	printf("PROBLEM: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int ovl_put(void *priv, uint64_t raw, const void *data, uint32_t len)
{
	struct fsck *f = priv;
	uint32_t off;

	for (off = 0; off < len; off += HFS_BLKSIZE) {
		struct ovl *o = calloc(1, sizeof(*o));

		if (!o || !(o->data = malloc(HFS_BLKSIZE)))
			return -ENOMEM;
		o->raw = raw + off;
		memcpy(o->data, (const uint8_t *)data + off, HFS_BLKSIZE);
		o->next = f->ovl[(o->raw / HFS_BLKSIZE) % 1024];
		f->ovl[(o->raw / HFS_BLKSIZE) % 1024] = o;
	}
	return 0;
}

/* Read through the UNDO overlay (fsck -n sees the replayed state). */
static int rd(struct fsck *f, uint64_t raw, void *buf, size_t len)
{
	int ret = raid_read(f->rs, raw, buf, len);
	uint64_t off;

	if (ret)
		return ret;
	for (off = 0; off < len; off += HFS_BLKSIZE) {
		struct ovl *o;

		for (o = f->ovl[((raw + off) / HFS_BLKSIZE) % 1024]; o; o = o->next)
			if (o->raw == raw + off)
				memcpy((uint8_t *)buf + off, o->data, HFS_BLKSIZE);
	}
	return 0;
}

static int bit(const uint8_t *m, uint64_t i) { return (m[i >> 3] >> (i & 7)) & 1; }

/* Mark [raw, raw+len) referenced; report overlaps. */
static void ref(struct fsck *f, uint64_t raw, uint64_t len, const char *what)
{
	uint64_t b;

	for (b = raw / HFS_BLKSIZE; b < (raw + len) / HFS_BLKSIZE; b++) {
		if (b >= f->nblocks) {
			problem(f, "%s at %llu lies beyond the volume", what, (unsigned long long)raw);
			return;
		}
		if (bit(f->refmap, b)) {
			problem(f, "block %llu referenced twice (again by %s)", (unsigned long long)b, what);
			return;
		}
		f->refmap[b >> 3] |= (uint8_t)(1u << (b & 7));
	}
}

static struct inode_info *find_ino(struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->nino;

	while (lo < hi) {   /* inodes arrive in key order: sorted */
		size_t mid = (lo + hi) / 2;

		if (f->ino[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nino && f->ino[lo].ino == ino ? &f->ino[lo] : NULL;
}

/* ---- pass 3: the B-tree --------------------------------------------------- */

struct key { uint64_t obj, key; uint8_t type; };

static int kcmp(const struct key *a, const struct key *b)
{
	if (a->obj != b->obj) return a->obj < b->obj ? -1 : 1;
	if (a->type != b->type) return a->type < b->type ? -1 : 1;
	if (a->key != b->key) return a->key < b->key ? -1 : 1;
	return 0;
}

static struct key kdec(const struct hfs_key_ondisk *d)
{
	struct key k = { hfs_le64(d->k_obj), hfs_le64(d->k_key), d->k_type };
	return k;
}

static void record(struct fsck *f, const struct key *k, const uint8_t *v, unsigned len,
		   uint64_t leaf, unsigned voff);

/* Walk the subtree at za; keys must lie in [lo, hi). */
static void walk(struct fsck *f, uint64_t za, int level, const struct key *lo, const struct key *hi,
		 int depth)
{
	uint8_t *d;
	const struct hfs_blkhdr_ondisk *h;
	uint64_t raw = hfs_raw(za);
	int n, i;

	if (depth > 40) {
		problem(f, "B-tree deeper than 40 levels (cycle?) at %#llx", (unsigned long long)za);
		return;
	}
	if (hfs_zone_of(za) != HFS_ZONE_BTREE || raw % HFS_BUFSIZE || raw + HFS_BUFSIZE > hfs_le64(f->vh.vh_size)) {
		problem(f, "B-tree node address %#llx is invalid", (unsigned long long)za);
		return;
	}
	if (posix_memalign((void **)&d, 4096, HFS_BUFSIZE))
		return;
	if (rd(f, raw, d, HFS_BUFSIZE)) {
		problem(f, "B-tree node %#llx unreadable", (unsigned long long)za);
		goto out;
	}
	h = (const void *)d;
	ref(f, raw, HFS_BUFSIZE, "a B-tree node");
	f->nnodes++;
	if (hfs_le32(h->bh_magic) != HFS_BTREE_MAGIC) {
		problem(f, "node %#llx: bad magic", (unsigned long long)za);
		goto out;
	}
	if (hfs_le32(h->bh_crc) != hfs_block_crc(d, HFS_BUFSIZE, 4)) {
		problem(f, "node %#llx: CRC mismatch", (unsigned long long)za);
		goto out;
	}
	if (hfs_le64(h->bh_self) != za) {
		problem(f, "node %#llx: claims to be %#llx (misdirected write)", (unsigned long long)za,
			(unsigned long long)hfs_le64(h->bh_self));
		goto out;
	}
	if (h->bh_level != level) {
		problem(f, "node %#llx: level %u, expected %d", (unsigned long long)za, h->bh_level, level);
		goto out;
	}
	n = hfs_le16(h->bh_nitems);
	if (level > 0) {
		if (n < 1 || n > (int)HFS_BT_INNER_MAX) {
			problem(f, "node %#llx: %d items", (unsigned long long)za, n);
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct hfs_bt_inner_ondisk *it = (const void *)(d + 64 + 32 * i);
			struct key k = kdec(&it->bi_key), nk;

			if ((i > 0 || depth > 0) && lo && kcmp(&k, lo) < 0)
				problem(f, "node %#llx: item %d below its fence", (unsigned long long)za, i);
			if (i + 1 < n) {
				nk = kdec(&((const struct hfs_bt_inner_ondisk *)(d + 64 + 32 * (i + 1)))->bi_key);
				if (kcmp(&k, &nk) >= 0) {
					problem(f, "node %#llx: keys out of order at %d", (unsigned long long)za, i);
					goto out;
				}
			} else if (hi && kcmp(&k, hi) >= 0) {
				problem(f, "node %#llx: last key beyond its fence", (unsigned long long)za);
			}
			walk(f, hfs_le64(it->bi_child), level - 1, &k, i + 1 < n ? &nk : hi, depth + 1);
		}
	} else {
		unsigned ds = hfs_le16(h->bh_data_start);

		if (64u + 32u * (unsigned)n > ds || ds > HFS_BUFSIZE) {
			problem(f, "leaf %#llx: %d slots, data start %u", (unsigned long long)za, n, ds);
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct hfs_bt_slot_ondisk *s = (const void *)(d + 64 + 32 * i);
			struct key k = kdec(&s->bs_key);
			unsigned off = hfs_le16(s->bs_off), len = hfs_le16(s->bs_len);

			if (off < ds || off + len > HFS_BUFSIZE || len > HFS_MAX_VALUE) {
				problem(f, "leaf %#llx: slot %d value out of bounds", (unsigned long long)za, i);
				continue;
			}
			if (lo && kcmp(&k, lo) < 0)
				problem(f, "leaf %#llx: key below its fence", (unsigned long long)za);
			if (hi && kcmp(&k, hi) >= 0)
				problem(f, "leaf %#llx: key beyond its fence", (unsigned long long)za);
			if (i + 1 < n) {
				struct key nk = kdec(&((const struct hfs_bt_slot_ondisk *)(d + 64 + 32 * (i + 1)))->bs_key);

				if (kcmp(&k, &nk) >= 0)
					problem(f, "leaf %#llx: keys out of order at %d", (unsigned long long)za, i);
			}
			f->nrecs++;
			record(f, &k, d + off, len, raw, off);
		}
	}
out:
	free(d);
}

/* Does copy c (or the only copy) of the 4 KiB-multiple range hold crc? */
static int data_crc_ok(struct fsck *f, int c, uint64_t raw, uint8_t *buf, uint32_t len, uint32_t crc,
		       int *skip)
{
	int copies = raid_ncopies(f->rs);
	int ret = copies > 1 ? raid_read_copy(f->rs, c, raw, buf, len) : raid_read(f->rs, raw, buf, len);

	*skip = ret == -EIO && copies > 1;   /* a failed/missing leg: reported by assembly */
	return *skip || (!ret && (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, len) == crc);
}

/* A DATA record (ovl 0) or a DATAOVL record (ovl 1: one 4 KiB SMALL piece
 * on a full DATA block of the same inode).  pcrc: a CRC4K record's piece
 * CRCs (minor 7), whose bytes are then checked piece by piece. */
static void check_data(struct fsck *f, const struct key *k, const struct hfs_data_ondisk *dd, int ovl,
		       const uint32_t *pcrc)
{
	uint64_t a = hfs_le64(dd->d_addr), raw = hfs_raw(a);
	uint32_t len = hfs_le32(dd->d_len), crc = hfs_le32(dd->d_crc);
	enum hfs_zone z = hfs_zone_of(a);
	uint8_t *buf;
	int c, copies = raid_ncopies(f->rs);

	f->ndata++;
	if (ovl ? k->key % HFS_BLKSIZE || len != HFS_BLKSIZE || z != HFS_ZONE_SMALL || raw % HFS_BLKSIZE ||
		  raw + len > hfs_le64(f->vh.vh_size) :
	    k->key % HFS_FBLOCK || !len || len > HFS_FBLOCK || len % HFS_BLKSIZE ||
	    (z != HFS_ZONE_SMALL && z != HFS_ZONE_LARGE) || raw % (z == HFS_ZONE_LARGE ? HFS_FBLOCK : HFS_BLKSIZE) ||
	    raw + len > hfs_le64(f->vh.vh_size)) {
		problem(f, "inode %llu: invalid %s record at offset %llu", (unsigned long long)k->obj,
			ovl ? "overlay" : "data", (unsigned long long)k->key);
		return;
	}
	if (!ovl && len == HFS_FBLOCK) {
		if (f->bobj != k->obj) {
			f->bobj = k->obj;
			f->nbfbo = f->bpos = 0;
		}
		if (f->nbfbo == f->capbfbo) {
			uint64_t *nb = realloc(f->bfbo, (f->capbfbo ? f->capbfbo * 2 : 1024) * sizeof(*nb));

			if (!nb)
				return;
			f->bfbo = nb;
			f->capbfbo = f->capbfbo ? f->capbfbo * 2 : 1024;
		}
		f->bfbo[f->nbfbo++] = k->key;
	}
	if (ovl) {
		uint64_t fbo = k->key - k->key % HFS_FBLOCK;

		while (f->bobj == k->obj && f->bpos < f->nbfbo && f->bfbo[f->bpos] < fbo)
			f->bpos++;
		if (f->bobj != k->obj || f->bpos >= f->nbfbo || f->bfbo[f->bpos] != fbo)
			problem(f, "inode %llu: overlay at offset %llu has no full data block under it",
				(unsigned long long)k->obj, (unsigned long long)k->key);
	}
	ref(f, raw, len, "a data extent");
	if (pcrc ? hfs_le32(dd->d_flags) != HFS_DATAF_CRC4K || len != HFS_FBLOCK :
	    hfs_le32(dd->d_flags) & ~HFS_DATAF_ZERO)
		problem(f, "inode %llu: %s record at offset %llu has flags 0x%x", (unsigned long long)k->obj,
			ovl ? "overlay" : "data", (unsigned long long)k->key, hfs_le32(dd->d_flags));
	if (hfs_le32(dd->d_flags) & HFS_DATAF_ZERO)
		return;   /* unwritten (fallocated): no bytes to check, reads as zeros */
	if (pcrc) {
		uLong whole = pcrc[0];
		unsigned p;

		f->ncrc4k++;
		if (hfs_le16(f->vh.vh_minor) < HFS_MINOR_CRC4K)
			problem(f, "inode %llu: CRC4K record at offset %llu on a volume of minor version %u",
				(unsigned long long)k->obj, (unsigned long long)k->key, hfs_le16(f->vh.vh_minor));
		for (p = 1; p < HFS_NPIECE; p++)
			whole = crc32_combine(whole, pcrc[p], HFS_BLKSIZE);
		if ((uint32_t)whole != crc)
			problem(f, "inode %llu: CRC4K record at offset %llu: piece CRCs do not make its CRC",
				(unsigned long long)k->obj, (unsigned long long)k->key);
	}
	if (posix_memalign((void **)&buf, 4096, len))
		return;
	for (c = 0; c < copies; c++) {
		int skip;
		unsigned p;

		if (data_crc_ok(f, c, raw, buf, len, crc, &skip))
			continue;   /* a CRC4K extent too: its pieces make d_crc (checked above) */
		if (!pcrc) {
			problem(f, "inode %llu offset %llu: data CRC mismatch%s%s",
				(unsigned long long)k->obj, (unsigned long long)k->key,
				copies > 1 ? " on copy " : "", copies > 1 ? (c ? "1+" : "0") : "");
			continue;
		}
		/* each piece of the bytes read against its own CRC: the
		 * report names the bad pieces */
		for (p = 0; p < HFS_NPIECE; p++)
			if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), buf + p * HFS_BLKSIZE, HFS_BLKSIZE) != pcrc[p])
				problem(f, "inode %llu offset %llu: data CRC mismatch in piece %u%s%s",
					(unsigned long long)k->obj,
					(unsigned long long)k->key + p * HFS_BLKSIZE, p,
					copies > 1 ? " on copy " : "", copies > 1 ? (c ? "1+" : "0") : "");
	}
	free(buf);
}

/* A pieces DATA record (minor 5): 16 pieces of 4 KiB, each a 4 KiB-aligned
 * block of SMALL or LARGE space or a hole.  Returns the bytes it holds. */
static uint64_t check_pieces(struct fsck *f, const struct key *k, const struct hfs_pieces_ondisk *pc)
{
	uint8_t *buf;
	uint64_t bytes = 0;
	unsigned p;
	int c, copies = raid_ncopies(f->rs), skip;

	f->ndata++;
	if (hfs_le16(f->vh.vh_minor) < HFS_MINOR_PIECES)
		problem(f, "inode %llu: pieces record at offset %llu on a volume of minor version %u",
			(unsigned long long)k->obj, (unsigned long long)k->key, hfs_le16(f->vh.vh_minor));
	if (k->key % HFS_FBLOCK || pc->pc_hdr.d_addr || hfs_le32(pc->pc_hdr.d_len) != HFS_FBLOCK ||
	    pc->pc_hdr.d_crc || hfs_le32(pc->pc_hdr.d_flags) != HFS_DATAF_PIECES || pc->pc_hdr.d_pad) {
		problem(f, "inode %llu: invalid pieces record at offset %llu", (unsigned long long)k->obj,
			(unsigned long long)k->key);
		return 0;
	}
	if (posix_memalign((void **)&buf, 4096, HFS_BLKSIZE))
		return 0;
	for (p = 0; p < HFS_NPIECE; p++) {
		const struct hfs_piece_ondisk *e = &pc->pc_piece[p];
		uint64_t a = hfs_le64(e->p_addr), raw = hfs_raw(a);
		enum hfs_zone z = hfs_zone_of(a);

		if (!a) {
			if (e->p_crc || e->p_pad)
				problem(f, "inode %llu: hole piece %u at offset %llu is not zero",
					(unsigned long long)k->obj, p, (unsigned long long)k->key);
			continue;
		}
		if ((z != HFS_ZONE_SMALL && z != HFS_ZONE_LARGE) || raw % HFS_BLKSIZE || e->p_pad ||
		    raw + HFS_BLKSIZE > hfs_le64(f->vh.vh_size)) {
			problem(f, "inode %llu: invalid piece %u at offset %llu", (unsigned long long)k->obj,
				p, (unsigned long long)k->key);
			continue;
		}
		bytes += HFS_BLKSIZE;
		f->npieces++;
		ref(f, raw, HFS_BLKSIZE, "a data piece");
		for (c = 0; c < copies; c++)
			if (!data_crc_ok(f, c, raw, buf, HFS_BLKSIZE, hfs_le32(e->p_crc), &skip))
				problem(f, "inode %llu offset %llu: data CRC mismatch%s%s",
					(unsigned long long)k->obj, (unsigned long long)k->key + p * HFS_BLKSIZE,
					copies > 1 ? " on copy " : "", copies > 1 ? (c ? "1+" : "0") : "");
	}
	free(buf);
	if (!bytes)
		problem(f, "inode %llu: pieces record at offset %llu holds no piece",
			(unsigned long long)k->obj, (unsigned long long)k->key);
	return bytes;
}

static void record(struct fsck *f, const struct key *k, const uint8_t *raw_v, unsigned len,
		   uint64_t leaf, unsigned voff)
{
	/* values sit at any byte offset in a leaf: decode from an aligned copy */
	uint64_t vbuf[(HFS_MAX_VALUE + 7) / 8];
	const uint8_t *v = (const uint8_t *)vbuf;

	memcpy(vbuf, raw_v, len <= sizeof(vbuf) ? len : sizeof(vbuf));
	switch (k->type) {
	case HFS_REC_INODE: {
		const struct hfs_inode_ondisk *d = (const void *)v;
		struct inode_info *ii;

		if (len != sizeof(*d) || k->key != 0) {
			problem(f, "inode %llu: record of %u bytes", (unsigned long long)k->obj, len);
			return;
		}
		if (f->nino == f->capino) {
			struct inode_info *ni = realloc(f->ino, (f->capino ? f->capino * 2 : 1024) * sizeof(*ni));

			if (!ni)
				return;
			f->ino = ni;
			f->capino = f->capino ? f->capino * 2 : 1024;
		}
		ii = &f->ino[f->nino++];
		memset(ii, 0, sizeof(*ii));
		ii->ino = k->obj;
		ii->mode = hfs_le32(d->i_mode);
		ii->nlink = hfs_le32(d->i_nlink);
		ii->size = hfs_le64(d->i_size);
		ii->blocks = hfs_le64(d->i_blocks);
		ii->parent = hfs_le64(d->i_parent);
		ii->leaf_raw = leaf;
		ii->val_off = (uint16_t)voff;
		/* i_flags: chattr bits hfs knows, on files and directories only */
		if ((hfs_le32(d->i_flags) & ~HFS_IFL_KNOWN) ||
		    (hfs_le32(d->i_flags) && !S_ISREG(ii->mode) && !S_ISDIR(ii->mode)))
			problem(f, "inode %llu: bad flags 0x%x", (unsigned long long)k->obj,
				hfs_le32(d->i_flags));
		if (k->obj >= hfs_le64(f->vh.vh_next_ino))
			problem(f, "inode %llu is not below next_ino %llu", (unsigned long long)k->obj,
				(unsigned long long)hfs_le64(f->vh.vh_next_ino));
		break;
	}
	case HFS_REC_DIRENT: {
		const struct hfs_dirent_ondisk *d = (const void *)v;

		if (len < sizeof(*d) || len != sizeof(*d) + d->d_namelen || !d->d_namelen ||
		    memchr(v + sizeof(*d), '/', d->d_namelen) || memchr(v + sizeof(*d), 0, d->d_namelen))
			problem(f, "directory %llu: malformed entry", (unsigned long long)k->obj);
		else if (f->ndents == f->capdents) {
			struct dent *nd = realloc(f->dents, (f->capdents ? f->capdents * 2 : 1024) * sizeof(*nd));

			if (!nd)
				return;
			f->dents = nd;
			f->capdents = f->capdents ? f->capdents * 2 : 1024;
		}
		if (f->ndents < f->capdents) {
			f->dents[f->ndents].dir = k->obj;
			f->dents[f->ndents].ino = hfs_le64(d->d_ino);
			f->dents[f->ndents].type = d->d_type;
			f->ndents++;
		}
		break;   /* resolved in pass 5: later inodes are not read yet */
	}
	case HFS_REC_DATA:
	case HFS_REC_DATAOVL:
		if (k->type == HFS_REC_DATA && len == sizeof(struct hfs_pieces_ondisk)) {
			struct inode_info *ii = find_ino(f, k->obj);
			uint64_t bytes = check_pieces(f, k, (const void *)v);

			if (!ii)
				problem(f, "data record of missing inode %llu", (unsigned long long)k->obj);
			else
				ii->data_bytes += bytes;
		} else if (len != sizeof(struct hfs_data_ondisk) &&
			   !(k->type == HFS_REC_DATA && len == sizeof(struct hfs_crc4k_ondisk)))
			problem(f, "inode %llu: data record of %u bytes", (unsigned long long)k->obj, len);
		else {
			struct inode_info *ii = find_ino(f, k->obj);
			uint32_t pcrc[HFS_NPIECE];
			unsigned p;

			if (len == sizeof(struct hfs_crc4k_ondisk))
				for (p = 0; p < HFS_NPIECE; p++)
					pcrc[p] = hfs_le32(((const struct hfs_crc4k_ondisk *)v)->c_crc[p]);
			check_data(f, k, (const void *)v, k->type == HFS_REC_DATAOVL,
				   len == sizeof(struct hfs_crc4k_ondisk) ? pcrc : NULL);
			if (!ii)
				problem(f, "data record of missing inode %llu", (unsigned long long)k->obj);
			else {
				/* records past i_size are legal: fallocate(KEEP_SIZE) preallocation */
				ii->data_bytes += hfs_le32(((const struct hfs_data_ondisk *)v)->d_len);
			}
		}
		break;
	case HFS_REC_XATTR: {
		const struct hfs_xattr_ondisk *x = (const void *)v;

		if (len < sizeof(*x) || len != sizeof(*x) + x->x_namelen + hfs_le16(x->x_vallen) ||
		    (x->x_flags & ~(HFS_XATTRF_CHUNKED | HFS_XATTRF_GEN)) ||
		    ((x->x_flags & HFS_XATTRF_CHUNKED) ?
		     x->x_vallen || hfs_le32(x->x_size) <= HFS_XATTR_MAX ||
		     hfs_le32(x->x_size) > HFS_XATTR_SIZE_MAX : x->x_size != 0))
			problem(f, "inode %llu: malformed xattr", (unsigned long long)k->obj);
		break;
	}
	case HFS_REC_XVAL:
		/* a chunk of a large xattr value (its XATTR record names the size) */
		if (len == 0 || len > HFS_XVAL_CHUNK)
			problem(f, "inode %llu: xattr chunk of %u bytes", (unsigned long long)k->obj, len);
		else if (!find_ino(f, k->obj))
			problem(f, "xattr chunk of missing inode %llu", (unsigned long long)k->obj);
		break;
	case HFS_REC_SYMLINK:
		if (len > HFS_SYMLINK_MAX)
			problem(f, "inode %llu: symlink of %u bytes", (unsigned long long)k->obj, len);
		break;
	case HFS_REC_ORPHAN:
		if (k->obj != HFS_ORPHAN_INO) {
			problem(f, "orphan record under object %llu", (unsigned long long)k->obj);
		} else if (f->norphans < 65536) {
			if (f->norphans == f->caporphans) {
				uint64_t *no = realloc(f->orphans, (f->caporphans + 256) * sizeof(*no));

				if (!no)
					return;
				f->orphans = no;
				f->caporphans += 256;
			}
			f->orphans[f->norphans++] = k->key;
		}
		break;
	default:
		problem(f, "object %llu: unknown record type %u", (unsigned long long)k->obj, k->type);
	}
}

/* ---- pass 5: namespace ------------------------------------------------------ */

/* Rewrite inode ii's nlink in its leaf (repair), recomputing the leaf CRC. */
static int fix_nlink(struct fsck *f, struct inode_info *ii, uint32_t nlink)
{
	uint8_t *d;
	int ret;

	if (posix_memalign((void **)&d, 4096, HFS_BUFSIZE))
		return -ENOMEM;
	ret = rd(f, ii->leaf_raw, d, HFS_BUFSIZE);
	if (!ret) {
		struct hfs_inode_ondisk tmp;

		memcpy(&tmp, d + ii->val_off, sizeof(tmp));
		tmp.i_nlink = hfs_tole32(nlink);
		memcpy(d + ii->val_off, &tmp, sizeof(tmp));
		((struct hfs_blkhdr_ondisk *)d)->bh_crc = hfs_tole32(hfs_block_crc(d, HFS_BUFSIZE, 4));
		ret = raid_write(f->rs, ii->leaf_raw, d, HFS_BUFSIZE);
	}
	free(d);
	return ret;
}

static void check_namespace(struct fsck *f)
{
	struct inode_info *root = find_ino(f, HFS_ROOT_INO);
	size_t i;

	if (!root || !S_ISDIR(root->mode)) {
		problem(f, "the root directory (inode 1) is missing or not a directory");
		return;
	}
	root->refs = 1;   /* its own ".." */
	for (i = 0; i < f->ndents; i++) {
		struct dent *e = &f->dents[i];
		struct inode_info *dir = find_ino(f, e->dir), *t = find_ino(f, e->ino);

		if (!dir || !S_ISDIR(dir->mode)) {
			problem(f, "entries under %llu, which is not a directory", (unsigned long long)e->dir);
			continue;
		}
		if (!t) {
			problem(f, "directory %llu: entry points to missing inode %llu",
				(unsigned long long)e->dir, (unsigned long long)e->ino);
			continue;
		}
		if (e->type != ((t->mode & S_IFMT) >> 12))
			problem(f, "directory %llu: entry for %llu has the wrong type",
				(unsigned long long)e->dir, (unsigned long long)e->ino);
		t->refs++;
		if (S_ISDIR(t->mode)) {
			dir->subdirs++;
			if (t->seen_parent++)
				problem(f, "directory %llu has more than one parent", (unsigned long long)t->ino);
			if (t->parent != e->dir)
				problem(f, "directory %llu: parent field %llu, but it lives in %llu",
					(unsigned long long)t->ino, (unsigned long long)t->parent,
					(unsigned long long)e->dir);
		}
	}
	for (i = 0; i < f->norphans; i++) {
		struct inode_info *t = find_ino(f, f->orphans[i]);

		if (t)
			t->orphan = 1;
	}
	for (i = 0; i < f->nino; i++) {
		struct inode_info *t = &f->ino[i];
		uint32_t want = S_ISDIR(t->mode) ? 2 + t->subdirs : t->refs;

		if (!t->refs && !t->orphan && t->ino != HFS_ROOT_INO) {
			problem(f, "inode %llu is not referenced by any directory", (unsigned long long)t->ino);
			continue;
		}
		if (t->orphan && !t->refs)
			continue;   /* reclaimed at the next mount */
		if (t->nlink != want) {
			problem(f, "inode %llu: link count %u, should be %u", (unsigned long long)t->ino,
				t->nlink, want);
			if (f->repair && fix_nlink(f, t, want) == 0) {
				printf("FIXED: inode %llu link count\n", (unsigned long long)t->ino);
				f->fixed++;
			}
		}
		if (t->blocks != t->data_bytes / 512)
			problem(f, "inode %llu: i_blocks %llu, data records hold %llu", (unsigned long long)t->ino,
				(unsigned long long)t->blocks, (unsigned long long)(t->data_bytes / 512));
	}
	if (hfs_le64(f->vh.vh_ninodes) != f->nino)
		problem(f, "header counts %llu inodes, the tree holds %zu",
			(unsigned long long)hfs_le64(f->vh.vh_ninodes), f->nino);
}

/* ---- pass 6: free map -------------------------------------------------------- */

static void check_freemap(struct fsck *f, int *fm_dirty_out)
{
	uint64_t size = hfs_le64(f->vh.vh_size), nbb = size / HFS_BIGBLOCK;
	uint64_t fmbase = hfs_raw(hfs_le64(f->vh.vh_freemap_base)), bbi, total_free = 0;
	uint64_t fmend = fmbase + hfs_le64(f->vh.vh_freemap_size);
	uint8_t *blk;
	int leaks = 0, lost = 0, fm_dirty = 0;

	if (posix_memalign((void **)&blk, 4096, HFS_BUFSIZE))
		return;
	/* the fixed regions are referenced by the format itself */
	ref(f, 0, HFS_BIGBLOCK, "the header big-block");
	ref(f, HFS_BIGBLOCK, hfs_le64(f->vh.vh_undo_size), "the UNDO FIFO");
	ref(f, fmbase, (fmend + HFS_BIGBLOCK - 1) / HFS_BIGBLOCK * HFS_BIGBLOCK - fmbase, "the free map");
	for (bbi = 0; bbi < nbb; bbi += HFS_FM_PER_BLOCK) {
		uint64_t raw = fmbase + bbi / HFS_FM_PER_BLOCK * HFS_BUFSIZE, k;
		const struct hfs_blkhdr_ondisk *h = (const void *)blk;
		int changed = 0;

		if (rd(f, raw, blk, HFS_BUFSIZE) || hfs_le32(h->bh_magic) != HFS_FREEMAP_MAGIC ||
		    hfs_le32(h->bh_crc) != hfs_block_crc(blk, HFS_BUFSIZE, 4) ||
		    hfs_le64(h->bh_self) != hfs_zaddr(HFS_ZONE_FREEMAP, raw)) {
			problem(f, "free-map block at %llu is damaged", (unsigned long long)raw);
			continue;
		}
		for (k = bbi; k < nbb && k < bbi + HFS_FM_PER_BLOCK; k++) {
			struct hfs_fm_entry_ondisk *e = (void *)(blk + 64 + (k % HFS_FM_PER_BLOCK) * 272);
			unsigned j, nfree = 0, used = 0;

			for (j = 0; j < HFS_BLKS_PER_BB; j++) {
				uint64_t b = k * HFS_BLKS_PER_BB + j;
				int inmap = (e->fm_bitmap[j >> 3] >> (j & 7)) & 1, isref = bit(f->refmap, b);

				if (inmap && !isref) {
					leaks++;
					if (f->repair) {
						e->fm_bitmap[j >> 3] &= (uint8_t)~(1u << (j & 7));
						changed = 1;
						inmap = 0;
					}
				} else if (!inmap && isref) {
					lost++;
					if (f->repair) {
						e->fm_bitmap[j >> 3] |= (uint8_t)(1u << (j & 7));
						changed = 1;
						inmap = 1;
					}
				}
				nfree += !inmap;
				used += inmap;
			}
			if (hfs_le32(e->fm_free) != nfree) {
				problem(f, "big-block %llu: free count %u, bitmap says %u", (unsigned long long)k,
					hfs_le32(e->fm_free), nfree);
				e->fm_free = hfs_tole32(nfree);
				changed = 1;
			}
			if (!used && e->fm_zone != HFS_ZONE_FREE && k * HFS_BIGBLOCK >= fmend) {
				e->fm_zone = HFS_ZONE_FREE;
				changed = 1;   /* an empty big-block returns to the pool */
			}
			total_free += nfree;
		}
		if (changed && f->repair) {
			((struct hfs_blkhdr_ondisk *)blk)->bh_crc = hfs_tole32(hfs_block_crc(blk, HFS_BUFSIZE, 4));
			if (raid_write(f->rs, raw, blk, HFS_BUFSIZE) == 0)
				fm_dirty = 1;
		}
	}
	free(blk);
	if (leaks) {
		problem(f, "%d blocks marked allocated but not referenced (leaked)", leaks);
		if (f->repair) {
			printf("FIXED: leaked blocks returned to the free map\n");
			f->fixed++;
		}
	}
	if (lost) {
		problem(f, "%d referenced blocks are marked free", lost);
		if (f->repair) {
			printf("FIXED: referenced blocks marked allocated\n");
			f->fixed++;
		}
	}
	if (hfs_le64(f->vh.vh_free_blocks) != total_free) {
		problem(f, "header free count %llu, free map says %llu",
			(unsigned long long)hfs_le64(f->vh.vh_free_blocks), (unsigned long long)total_free);
		f->vh.vh_free_blocks = hfs_tole64(total_free);
		fm_dirty = 1;
	}
	*fm_dirty_out = fm_dirty;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *o)
{
	fprintf(o, "usage: fsck.hfs [-n|-y|-p] [-f] [-v] [-o degraded] DEV...\n"
		   "  -n  check only, write nothing   -y/-p  repair what can be repaired\n"
		   "exit: 0 clean, 1 corrected, 4 errors left, 8 operational error, 16 usage\n");
}

int main(int argc, char **argv)
{
	struct fsck f;
	struct raid_opts ro = { 0 };
	int c, ret, nrec = 0, check_only = 0, fm_dirty = 0, hdr_bad = 0;
	struct hfs_redo_set redo = { 0 };
	struct hfs_volhdr_ondisk copies[2];

	memset(&f, 0, sizeof(f));
	while ((c = getopt(argc, argv, "nypfvo:h")) != -1) {
		switch (c) {
		case 'n': check_only = 1; break;
		case 'y': case 'p': f.repair = 1; break;
		case 'f': break;   /* always a full check */
		case 'v': f.verbose = 1; break;
		case 'o':
			if (!strcmp(optarg, "degraded"))
				ro.allow_degraded = 1;
			else {
				fprintf(stderr, "fsck.hfs: unknown -o %s\n", optarg);
				return 16;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 16;
		}
	}
	if (optind >= argc || (check_only && f.repair)) {
		usage(stderr);
		return 16;
	}
	ro.readonly = check_only;
	ret = raid_open((const char *const *)argv + optind, argc - optind, &ro, &f.rs);
	if (ret) {
		fprintf(stderr, "fsck.hfs: cannot assemble the volume set: %s\n", strerror(-ret));
		return 8;
	}
	/* pass 1: both header copies */
	for (c = 0; c < 2; c++) {
		uint8_t *p;

		if (posix_memalign((void **)&p, 4096, HFS_HDR_SIZE) == 0) {
			if (raid_read(f.rs, HFS_HDR_OFF(c), p, HFS_HDR_SIZE) == 0)
				memcpy(&copies[c], p, HFS_HDR_SIZE);
			free(p);
		}
		if (hfs_header_valid(&copies[c], raid_size(f.rs)) != 0) {
			problem(&f, "volume header copy %d is invalid", c);
			hdr_bad |= 1 << c;
		}
	}
	if (hdr_bad == 3) {
		fprintf(stderr, "fsck.hfs: no valid volume header: not an hfs filesystem, or both copies destroyed\n");
		raid_close(f.rs);
		return 8;
	}
	/* pass 2: UNDO */
	if (check_only) {
		ret = hfs_read_header(f.rs, &f.vh);
		if (ret >= 0)
			ret = hfs_undo_collect(f.rs, &f.vh, ovl_put, &f, &nrec);
		if (ret >= 0)
			ret = hfs_redo_collect(f.rs, &f.vh, &redo);
		if (nrec)
			printf("UNDO: %d records of an interrupted flush, checked as replayed (not written: -n)\n", nrec);
	} else {
		/* the REDO records stay for the mount to replay (it has the
		 * write path): the header written here keeps naming them */
		ret = hfs_recover_redo(f.rs, &f.vh, &nrec, &redo);
		if (!ret)
			ret = hfs_recover_commit(f.rs, &f.vh, nrec, &redo);
		if (!ret && nrec)
			printf("UNDO: replayed %d records of an interrupted flush\n", nrec);
	}
	if (ret >= 0 && redo.n)
		printf("REDO: %d fsync'd operations after the last commit; the next mount replays them\n",
		       redo.n);
	hfs_redo_set_free(&redo);
	if (ret < 0) {
		fprintf(stderr, "fsck.hfs: UNDO recovery failed: %s\n", strerror(-ret));
		raid_close(f.rs);
		return 8;
	}
	f.nblocks = hfs_le64(f.vh.vh_size) / HFS_BLKSIZE;
	f.refmap = calloc(1, f.nblocks / 8 + 1);
	if (!f.refmap) {
		raid_close(f.rs);
		return 8;
	}
	/* passes 3 + 4 */
	walk(&f, hfs_le64(f.vh.vh_btree_root), (int)hfs_le32(f.vh.vh_btree_depth) - 1, NULL, NULL, 0);
	/* pass 5 */
	check_namespace(&f);
	/* pass 6 */
	check_freemap(&f, &fm_dirty);
	if (f.repair && (hdr_bad || fm_dirty)) {
		/* both copies: a rewritten header must not leave an older one behind */
		ret = hfs_write_header_raw(f.rs, &f.vh);
		f.vh.vh_seq = hfs_tole64(hfs_le64(f.vh.vh_seq) + 1);
		if (!ret)
			ret = hfs_write_header_raw(f.rs, &f.vh);
		if (!ret) {
			printf("FIXED: volume header copies rewritten\n");
			f.fixed++;
		}
	}
	raid_flush(f.rs);
	printf("%s: %zu inodes, %llu B-tree nodes, %llu records, %llu data extents "
	       "(%llu with 4 KiB CRCs), %llu data pieces, %llu of %llu blocks free; %d problem%s, %d fixed\n",
	       argv[optind], f.nino, (unsigned long long)f.nnodes, (unsigned long long)f.nrecs,
	       (unsigned long long)f.ndata, (unsigned long long)f.ncrc4k, (unsigned long long)f.npieces,
	       (unsigned long long)hfs_le64(f.vh.vh_free_blocks),
	       (unsigned long long)f.nblocks, f.problems, f.problems == 1 ? "" : "s", f.fixed);
	raid_close(f.rs);
	for (c = 0; c < 1024; c++)
		while (f.ovl[c]) {
			struct ovl *o = f.ovl[c];

			f.ovl[c] = o->next;
			free(o->data);
			free(o);
		}
	free(f.refmap);
	free(f.ino);
	free(f.dents);
	free(f.orphans);
	free(f.bfbo);
	if (!f.problems)
		return 0;
	/* -y: 1 when something was corrected; problems it cannot fix leave 4
	 * (run fsck.hfs -n again to confirm a clean state) */
	return f.repair && f.fixed ? 1 : 4;
}
