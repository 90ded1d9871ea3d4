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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fs/hfs_int.h"

#define REC_SIZE(len) (((uint64_t)sizeof(struct hfs_undo_ondisk) + (len) + HFS_UNDO_ALIGN - 1) & \
		       ~((uint64_t)HFS_UNDO_ALIGN - 1))

static uint32_t undo_crc(const struct hfs_undo_ondisk *h, const void *payload, uint32_t len)
{
	struct hfs_undo_ondisk t = *h;
	uLong c;

	t.u_crc = 0;
	c = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&t, sizeof(t));
	if (len)
		c = crc32(c, payload, len);
	return (uint32_t)c;
}

uint64_t hfs_undo_headroom(const struct hfs_fs *fs)
{
	uint64_t size = hfs_le64(fs->vh.vh_undo_size);
	uint64_t used = fs->undo_group_bytes + HFS_BUFSIZE;   /* + worst-case PAD */

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
		if (fs->undo_group_bytes + pad + size >= fifo)
			return -ENOSPC;
		ret = fifo_put(fs, fs->undo_next, &h, sizeof(h));
		if (ret)
			return ret;
		fs->undo_group_bytes += pad;
		fs->undo_next = 0;
	}
	if (fs->undo_group_bytes + size >= fifo)
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

/* ---- recovery ------------------------------------------------------------------- */

struct undo_rec { uint64_t target; uint32_t len; uint8_t *data; };

/* Read [pos, pos+len) of the FIFO (len <= 2 buffers) into out. */
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

/* Scan the group after vh's commit; call fn for every pre-image (after the
 * whole group was read and checked).  fn NULL: count only. */
static int scan(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, hfs_undo_fn fn,
		void *priv, int *nrec)
{
	uint64_t base = hfs_raw(hfs_le64(vh->vh_undo_base));
	uint64_t fifo = hfs_le64(vh->vh_undo_size), vsize = hfs_le64(vh->vh_size);
	uint64_t pos = hfs_le64(vh->vh_undo_first), seen = 0;
	uint64_t want = hfs_le64(vh->vh_seq) + 1;
	struct undo_rec *recs = NULL;
	uint8_t *scratch, *payload;
	int n = 0, cap = 0, ret = 0, i;

	if (posix_memalign((void **)&scratch, 4096, 2 * HFS_BUFSIZE + 8192))
		return -ENOMEM;
	payload = malloc(HFS_BUFSIZE);
	if (!payload) {
		free(scratch);
		return -ENOMEM;
	}
	while (seen < fifo) {
		struct hfs_undo_ondisk h;
		uint32_t size, len;

		if (pos + sizeof(h) > fifo)
			break;
		ret = fifo_get(rs, base, pos, &h, sizeof(h), scratch);
		if (ret)
			goto out;
		if (hfs_le32(h.u_magic) != HFS_UNDO_MAGIC || hfs_le64(h.u_seq) != want)
			break;   /* (U4) end of the group */
		size = hfs_le32(h.u_size);
		len = hfs_le32(h.u_len);
		if (size % HFS_UNDO_ALIGN || size < sizeof(h) || pos + size > fifo)
			break;
		if (hfs_le16(h.u_type) == HFS_UNDO_PAD) {
			if (undo_crc(&h, NULL, 0) != hfs_le32(h.u_crc) || pos + size != fifo)
				break;
			seen += size;
			pos = 0;
			continue;
		}
		if (hfs_le16(h.u_type) != HFS_UNDO_PREIMAGE || len > HFS_BUFSIZE ||
		    len % HFS_BLKSIZE || REC_SIZE(len) != size)
			break;
		ret = fifo_get(rs, base, pos + sizeof(h), payload, len, scratch);
		if (ret)
			goto out;
		if (undo_crc(&h, payload, len) != hfs_le32(h.u_crc))
			break;   /* torn record: the META it protects was never written */
		{
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
	for (i = 0; fn && i < n && !ret; i++)
		ret = fn(priv, recs[i].target, recs[i].data, recs[i].len);
	*nrec = n;
out:
	for (i = 0; i < n; i++)
		free(recs[i].data);
	free(recs);
	free(payload);
	free(scratch);
	return ret;
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

int hfs_recover(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int *nrec)
{
	int ret = hfs_read_header(rs, vh);

	*nrec = 0;
	if (ret < 0)
		return ret;
	ret = scan(rs, vh, write_back, rs, nrec);
	if (!ret && *nrec)
		ret = raid_flush(rs);
	return ret < 0 ? ret : 0;
}

int hfs_undo_collect(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, hfs_undo_fn fn,
		     void *priv, int *nrec)
{
	*nrec = 0;
	return scan(rs, vh, fn, priv, nrec);
}

int hfs_undo_pending(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh)
{
	int n = 0;

	return scan(rs, vh, NULL, NULL, &n) == 0 && n > 0;
}
