/*
 * undo.c — the UNDO FIFO: pre-images of META buffers appended before their
 * first change in a flush group (bufcache invariant 3), and their replay
 * at mount/fsck (crash protocol, docs/DESIGN.md).
 *
 * Invariants:
 *  (U1) A record of group s carries u_seq = s = committed seq + 1.
 *  (U2) Records of one group occupy [vh_undo_first, undo_next) of the
 *       FIFO, wrapping at most once through a PAD record; they never reach
 *       back to vh_undo_first (hfs_op_begin keeps headroom).
 *  (U3) A group writes at most one pre-image per META buffer, so replay
 *       order does not matter.
 *  (U4) The bytes after the group's last record are either zero or an
 *       older group's records (u_seq < s), so the scan stops there.
 *  (U5) REDO records (fs/redo.c) are appended in the order their operations
 *       completed; the scan takes every REDO record of the valid prefix, so
 *       a replay redoes a prefix of the operations.  Pre-images are all of
 *       the committed state, so their place among REDO records is free.
 *  (U6) A recovery that found REDO records writes a header naming them
 *       (vh_redo_*), and until a commit clears those fields again no group
 *       appends over them (fs->undo_hold).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

#define REC_SIZE(len) (((uint64_t)sizeof(struct hfs_undo_ondisk) + (len) + HFS_UNDO_ALIGN - 1) & \
		       ~((uint64_t)HFS_UNDO_ALIGN - 1))

/* hfs_crc32 (ISA-L): zlib's values, several times faster (every record of
 * a group: 16 KiB pre-images, REDO data) */
static uint32_t undo_crc(const struct hfs_undo_ondisk *h, const void *payload, uint32_t len)
{
	struct hfs_undo_ondisk t = *h;
	uint32_t c;

	t.u_crc = 0;
	c = hfs_crc32(0, &t, sizeof(t));
	if (len)
		c = hfs_crc32(c, payload, len);
	return c;
}

uint64_t hfs_undo_headroom(const struct hfs_fs *fs)
{
	uint64_t size = hfs_le64(fs->vh.vh_undo_size);
	uint64_t used = fs->undo_group_bytes + fs->undo_hold + HFS_BUFSIZE;   /* + worst-case PAD */

	return used >= size ? 0 : size - used;
}

/* Copy len bytes into the FIFO at offset pos through UNDO buffers. */
static int fifo_put(struct hfs_fs *fs, uint64_t pos, const void *src, uint64_t len)
{
	uint64_t base = hfs_raw(hfs_le64(fs->vh.vh_undo_base));
	const uint8_t *p = src;

	while (len) {
		uint64_t abs = base + pos, boff = abs - abs % HFS_BUFSIZE;
		uint64_t in = abs - boff, n = HFS_BUFSIZE - in;
		struct bc_buf *b;
		int ret;

		if (n > len)
			n = len;
		/* Starting a buffer at its first byte: its old content is dead. */
		ret = bc_get(fs->bc, BC_UNDO, boff, in == 0 ? BC_GET_NEW : 0, &b);
		if (ret)
			return ret;
		ret = bc_modify(b);
		if (!ret) {
			memcpy(b->b_data + in, p, n);
			if (in + n < HFS_BUFSIZE && in == 0)
				memset(b->b_data + n, 0, HFS_BUFSIZE - n);   /* (U4) */
			bc_modify_done(b);
		}
		bc_put(b);
		if (ret)
			return ret;
		p += n;
		pos += n;
		len -= n;
	}
	return 0;
}

static int append(struct hfs_fs *fs, uint16_t type, uint64_t target, const void *payload, uint32_t len)
{
	uint64_t fifo = hfs_le64(fs->vh.vh_undo_size);
	uint64_t size = REC_SIZE(len);
	struct hfs_undo_ondisk h;
	int ret;

	if (fs->undo_next + size > fifo) {
		/* (U2) pad to the end and wrap */
		uint64_t pad = fifo - fs->undo_next;

		memset(&h, 0, sizeof(h));
		h.u_magic = hfs_tole32(HFS_UNDO_MAGIC);
		h.u_seq = hfs_tole64(bc_seq(fs->bc));
		h.u_type = hfs_tole16(HFS_UNDO_PAD);
		h.u_size = hfs_tole32((uint32_t)pad);
		h.u_crc = hfs_tole32(undo_crc(&h, NULL, 0));
		if (fs->undo_group_bytes + fs->undo_hold + pad + size >= fifo)
			return -ENOSPC;
		ret = fifo_put(fs, fs->undo_next, &h, sizeof(h));
		if (ret)
			return ret;
		fs->undo_group_bytes += pad;
		fs->undo_next = 0;
	}
	if (fs->undo_group_bytes + fs->undo_hold + size >= fifo)
		return -ENOSPC;   /* hfs_op_begin should have flushed first */
	memset(&h, 0, sizeof(h));
	h.u_magic = hfs_tole32(HFS_UNDO_MAGIC);
	h.u_seq = hfs_tole64(bc_seq(fs->bc));
	h.u_target = hfs_tole64(target);
	h.u_len = hfs_tole32(len);
	h.u_type = hfs_tole16(type);
	h.u_size = hfs_tole32((uint32_t)size);
	h.u_crc = hfs_tole32(undo_crc(&h, payload, len));
	ret = fifo_put(fs, fs->undo_next, &h, sizeof(h));
	if (!ret)
		ret = fifo_put(fs, fs->undo_next + sizeof(h), payload, len);
	if (ret)
		return ret;
	fs->undo_next = (fs->undo_next + size) % fifo;
	fs->undo_group_bytes += size;
	return 0;
}

int hfs_undo_hook(void *priv, struct bc_buf *b)
{
	struct hfs_fs *fs = priv;
	const struct hfs_blkhdr_ondisk *h = (const void *)b->b_data;
	enum hfs_zone z = hfs_le32(h->bh_magic) == HFS_FREEMAP_MAGIC ? HFS_ZONE_FREEMAP : HFS_ZONE_BTREE;

	return append(fs, HFS_UNDO_PREIMAGE, hfs_zaddr(z, b->b_off), b->b_data, HFS_BUFSIZE);
}

int hfs_undo_append_redo(struct hfs_fs *fs, const void *payload, uint32_t len)
{
	if (len < sizeof(struct hfs_redo_ondisk) + sizeof(struct hfs_inode_ondisk) ||
	    len > HFS_REDO_MAXLEN)
		return -EINVAL;
	return append(fs, HFS_UNDO_REDO, 0, payload, len);
}

/* ---- recovery ------------------------------------------------------------------- */

struct undo_rec { uint64_t target; uint32_t len; uint8_t *data; };

/* Read [pos, pos+len) of the FIFO into out (scratch: len + 8 KiB). */
static int fifo_get(struct raid_set *rs, uint64_t base, uint64_t pos, void *out, uint32_t len,
		    uint8_t *scratch)
{
	uint64_t abs = base + pos, start = abs - abs % 4096;
	uint64_t span = ((abs + len + 4095) & ~4095ull) - start;
	int ret = raid_read(rs, start, scratch, span);

	if (!ret)
		memcpy(out, scratch + (abs - start), len);
	return ret;
}

static int redo_keep(struct hfs_redo_set *set, const uint8_t *payload, uint32_t len)
{
	if (set->n == set->cap) {
		int cap = set->cap ? set->cap * 2 : 64;
		void *nr = realloc(set->r, (size_t)cap * sizeof(*set->r));

		if (!nr)
			return -ENOMEM;
		set->r = nr;
		set->cap = cap;
	}
	set->r[set->n].p = malloc(len);
	if (!set->r[set->n].p)
		return -ENOMEM;
	memcpy(set->r[set->n].p, payload, len);
	set->r[set->n].len = len;
	set->n++;
	return 0;
}

void hfs_redo_set_free(struct hfs_redo_set *set)
{
	int i;

	for (i = 0; i < set->n; i++)
		free(set->r[i].p);
	free(set->r);
	memset(set, 0, sizeof(*set));
}

/* Scan the records of group 'want' from FIFO offset pos.  stop == UINT64_MAX:
 * the group after a commit, ended by the first record that is not valid
 * (U4); else the records must reach exactly FIFO offset stop (a REDO region a
 * header names: those were durable before that header, so a gap is damage).
 * Pre-images go to fn (after the whole group was read and checked; fn NULL:
 * count only); REDO records to set (NULL: counted as pre-images are not).
 * *npre = pre-images, *endpos = offset after the last valid record,
 * *redo_end = offset after the last REDO record. */
static int scan(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, uint64_t pos,
		uint64_t want, uint64_t stop, hfs_undo_fn fn, void *priv, int *npre,
		struct hfs_redo_set *set, int *nredo, uint64_t *endpos, uint64_t *redo_end)
{
	uint64_t base = hfs_raw(hfs_le64(vh->vh_undo_base));
	uint64_t fifo = hfs_le64(vh->vh_undo_size), vsize = hfs_le64(vh->vh_size);
	uint64_t seen = 0;
	struct undo_rec *recs = NULL;
	uint8_t *scratch, *payload;
	int n = 0, cap = 0, ret = 0, i, nall = 0, base0 = set ? set->n : 0;

	*nredo = 0;
	if (posix_memalign((void **)&scratch, 4096, HFS_REDO_MAXLEN + 3 * 4096 + 8192))
		return -ENOMEM;
	payload = malloc(HFS_REDO_MAXLEN);
	if (!payload) {
		free(scratch);
		return -ENOMEM;
	}
	while (seen < fifo && pos != stop) {
		struct hfs_undo_ondisk h;
		uint32_t size, len, type;

		if (pos + sizeof(h) > fifo)
			break;
		ret = fifo_get(rs, base, pos, &h, sizeof(h), scratch);
		if (ret)
			goto out;
		if (hfs_le32(h.u_magic) != HFS_UNDO_MAGIC || hfs_le64(h.u_seq) != want)
			break;   /* (U4) end of the group */
		size = hfs_le32(h.u_size);
		len = hfs_le32(h.u_len);
		type = hfs_le16(h.u_type);
		if (size % HFS_UNDO_ALIGN || size < sizeof(h) || pos + size > fifo)
			break;
		if (type == HFS_UNDO_PAD) {
			if (undo_crc(&h, NULL, 0) != hfs_le32(h.u_crc) || pos + size != fifo)
				break;
			seen += size;
			pos = 0;
			continue;
		}
		if (type == HFS_UNDO_REDO) {
			if (len < sizeof(struct hfs_redo_ondisk) + sizeof(struct hfs_inode_ondisk) ||
			    len > HFS_REDO_MAXLEN || REC_SIZE(len) != size)
				break;
		} else if (type != HFS_UNDO_PREIMAGE || len > HFS_BUFSIZE || len % HFS_BLKSIZE ||
			   REC_SIZE(len) != size) {
			break;
		}
		ret = fifo_get(rs, base, pos + sizeof(h), payload, len, scratch);
		if (ret)
			goto out;
		if (undo_crc(&h, payload, len) != hfs_le32(h.u_crc))
			break;   /* torn record: the META it protects was never written */
		if (type == HFS_UNDO_REDO) {
			/* replayed up to the last record of an fsync (R5) */
			nall++;
			if (set && (ret = redo_keep(set, payload, len)) != 0)
				goto out;
			if (hfs_le16(((const struct hfs_redo_ondisk *)payload)->r_flags) & HFS_REDO_END) {
				*nredo = nall;
				*redo_end = (pos + size) % fifo;
			}
		} else if (stop == UINT64_MAX) {
			/* (a REDO region's pre-images were applied by the recovery
			 * that named it) */
			uint64_t t = hfs_le64(h.u_target);
			enum hfs_zone z = hfs_zone_of(t);

			if ((z != HFS_ZONE_BTREE && z != HFS_ZONE_FREEMAP) ||
			    hfs_raw(t) % HFS_BLKSIZE || hfs_raw(t) + len > vsize) {
				ret = HFS_CORRUPT("UNDO record at %llu targets %#llx",
						  (unsigned long long)pos, (unsigned long long)t);
				goto out;
			}
			if (n == cap) {
				struct undo_rec *nr;

				cap = cap ? cap * 2 : 64;
				nr = realloc(recs, (size_t)cap * sizeof(*recs));
				if (!nr) {
					ret = -ENOMEM;
					goto out;
				}
				recs = nr;
			}
			recs[n].target = hfs_raw(t);
			recs[n].len = len;
			recs[n].data = malloc(len);
			if (!recs[n].data) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(recs[n].data, payload, len);
			n++;
		}
		seen += size;
		pos = (pos + size) % fifo;
	}
	if (stop != UINT64_MAX && pos != stop) {
		ret = HFS_CORRUPT("REDO records end at FIFO offset %llu, the header says %llu",
				  (unsigned long long)pos, (unsigned long long)stop);
		goto out;
	}
	/* records after the last fsync's end are not replayed (R5) */
	while (set && set->n > base0 + *nredo) {
		set->n--;
		free(set->r[set->n].p);
	}
	for (i = 0; fn && i < n && !ret; i++)
		ret = fn(priv, recs[i].target, recs[i].data, recs[i].len);
	*npre = n;
	*endpos = pos;
out:
	for (i = 0; i < n; i++)
		free(recs[i].data);
	free(recs);
	free(payload);
	free(scratch);
	return ret;
}

/* Both scans of a recovery: the group after vh's commit, and the REDO region
 * the header names (U6).  fn gets the group's pre-images. */
static int scan_all(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, hfs_undo_fn fn,
		    void *priv, int *npre, struct hfs_redo_set *set, int *nredo)
{
	uint64_t end = 0, rend = 0, gend = 0, rseq = hfs_le64(vh->vh_redo_seq);
	int n0 = 0, r0 = 0, ret;

	*npre = *nredo = 0;
	if (rseq) {
		ret = scan(rs, vh, hfs_le64(vh->vh_redo_first), rseq, hfs_le64(vh->vh_redo_end),
			   NULL, NULL, &n0, set, &r0, &end, &rend);
		if (ret)
			return ret;
		if (!r0)
			return HFS_CORRUPT("the header names a REDO region without REDO records");
	}
	ret = scan(rs, vh, hfs_le64(vh->vh_undo_first), hfs_le64(vh->vh_seq) + 1, UINT64_MAX,
		   fn, priv, npre, set, nredo, &end, &gend);
	if (ret)
		return ret;
	/* the group after a header naming REDO records is a replay, which
	 * logs nothing (fs/redo.c) */
	if (r0 && *nredo)
		return HFS_CORRUPT("REDO records both in the header's region and after it");
	if (set) {
		/* where the group after the recovery starts: after the REDO
		 * records it must keep (U6), over what the rolled-back group
		 * left (a new sequence tells its records from those) */
		if (r0) {
			set->seq = rseq;
			set->first = hfs_le64(vh->vh_redo_first);
			set->end = hfs_le64(vh->vh_redo_end);
			set->group_end = hfs_le64(vh->vh_undo_first);
		} else if (*nredo) {
			set->seq = hfs_le64(vh->vh_seq) + 1;
			set->first = hfs_le64(vh->vh_undo_first);
			set->end = gend;
			set->group_end = gend;
		}
	}
	*nredo += r0;
	return 0;
}

static int write_back(void *priv, uint64_t raw, const void *data, uint32_t len)
{
	struct raid_set *rs = priv;
	void *p;
	int ret;

	if (posix_memalign(&p, 4096, len))
		return -ENOMEM;
	memcpy(p, data, len);
	ret = raid_write(rs, raw, p, len);
	free(p);
	return ret;
}

int hfs_recover_redo(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int *nrec,
		     struct hfs_redo_set *set)
{
	int ret = hfs_read_header(rs, vh), nredo = 0;

	*nrec = 0;
	if (set)
		memset(set, 0, sizeof(*set));
	if (ret < 0)
		return ret;
	ret = scan_all(rs, vh, write_back, rs, nrec, set, &nredo);
	if (!ret && *nrec)
		ret = raid_flush(rs);
	if (ret && set)
		hfs_redo_set_free(set);
	return ret < 0 ? ret : 0;
}

int hfs_recover(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int *nrec)
{
	return hfs_recover_redo(rs, vh, nrec, NULL);
}

int hfs_recover_commit(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int nrec,
		       const struct hfs_redo_set *set)
{
	if (set && set->n) {
		/* (U6) the next group starts after everything scanned; the REDO
		 * records stay named until the replay commits */
		vh->vh_undo_first = hfs_tole64(set->group_end);
		vh->vh_redo_seq = hfs_tole64(set->seq);
		vh->vh_redo_first = hfs_tole64(set->first);
		vh->vh_redo_end = hfs_tole64(set->end);
	} else if (!nrec) {
		return 0;
	}
	/* a distinct sequence for the next group, so the rolled-back group's
	 * records (seq + 1) can never be taken for its records */
	vh->vh_seq = hfs_tole64(hfs_le64(vh->vh_seq) + 1);
	return hfs_write_header_raw(rs, vh);
}

int hfs_undo_collect(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, hfs_undo_fn fn,
		     void *priv, int *nrec)
{
	int nredo;

	*nrec = 0;
	return scan_all(rs, vh, fn, priv, nrec, NULL, &nredo);
}

int hfs_redo_collect(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh,
		     struct hfs_redo_set *set)
{
	int npre, nredo, ret;

	memset(set, 0, sizeof(*set));
	ret = scan_all(rs, vh, NULL, NULL, &npre, set, &nredo);
	if (ret)
		hfs_redo_set_free(set);
	return ret;
}

int hfs_undo_pending(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh)
{
	int n = 0, r = 0;

	return scan_all(rs, vh, NULL, NULL, &n, NULL, &r) == 0 && (n > 0 || r > 0);
}
