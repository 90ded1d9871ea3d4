/*
 * xattr.c — extended attributes: key (ino, XATTR, hash << 32 | iter),
 * value = header + name + value, Linux semantics and errors.  Values over
 * HFS_XATTR_MAX (up to 64 KiB, the VFS's limit) go to XVAL chunk records
 * (ondisk.h); a rewrite inserts the new chunks under the other generation
 * before it touches the XATTR record, and deletes the old ones after, so
 * an ENOSPC on the way leaves the old value whole (deletes take no space).
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>
#include "fs/dir.h"

#define XBUF (sizeof(struct hfs_xattr_ondisk) + 255 + HFS_XATTR_MAX)

static int xattr_name(const uint8_t *v, size_t vlen, const uint8_t **nm, size_t *nl)
{
	const struct hfs_xattr_ondisk *x = (const void *)v;

	if (vlen < sizeof(*x) || vlen != sizeof(*x) + x->x_namelen + hfs_le16(x->x_vallen))
		return -EUCLEAN;
	*nm = v + sizeof(*x);
	*nl = x->x_namelen;
	return 0;
}

/* Find name: 0 with its key and the record in buf, or -ENODATA. */
static int xfind(struct hfs_fs *fs, uint64_t ino, const char *name, size_t nlen, uint64_t *key,
		 uint8_t *buf, size_t *vlen, uint32_t *free_iter)
{
	int ret = hfs_name_scan(fs, ino, HFS_REC_XATTR, name, nlen, xattr_name, buf, XBUF, vlen,
				key, free_iter);

	return ret == -ENOENT ? -ENODATA : ret;
}

static unsigned nchunks(size_t len) { return (unsigned)((len + HFS_XVAL_CHUNK - 1) / HFS_XVAL_CHUNK); }

/* Delete chunks [from, to) of generation gen of the xattr at xkey. */
static int chunks_drop(struct hfs_fs *fs, uint64_t ino, uint64_t xkey, unsigned gen,
		       unsigned from, unsigned to)
{
	int ret = 0;

	for (unsigned c = from; c < to; c++) {
		struct hfs_key k = hfs_mkkey(ino, HFS_REC_XVAL, hfs_xval_key(xkey, gen, c));
		int r = hfs_bt_delete(fs, &k);

		if (r && !ret)
			ret = r;
	}
	return ret;
}

/* The old chunks of a chunked record in buf (nothing for an inline one). */
static int old_chunks_drop(struct hfs_fs *fs, uint64_t ino, uint64_t xkey, const uint8_t *buf)
{
	const struct hfs_xattr_ondisk *x = (const void *)buf;

	if (!(x->x_flags & HFS_XATTRF_CHUNKED))
		return 0;
	return chunks_drop(fs, ino, xkey, !!(x->x_flags & HFS_XATTRF_GEN), 0,
			   nchunks(hfs_le32(x->x_size)));
}

int hfs_xattr_set(struct hfs_fs *fs, uint64_t ino, const char *name, const void *val, size_t len, int flags)
{
	uint8_t buf[XBUF] __attribute__((aligned(8)));
	struct hfs_xattr_ondisk *x = (void *)buf;
	size_t nlen = strlen(name), vlen;
	uint64_t key;
	uint32_t iter;
	struct hfs_key k;
	unsigned gen = 0, n = 0, c;
	int ret, found, old_flags = 0;

	if (nlen == 0 || nlen > 255)
		return -ERANGE;
	if (len > HFS_XATTR_SIZE_MAX)
		return -E2BIG;
	ret = xfind(fs, ino, name, nlen, &key, buf, &vlen, &iter);
	if (ret == 0 && (flags & XATTR_CREATE))
		return -EEXIST;
	if (ret == -ENODATA && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (ret && ret != -ENODATA)
		return ret;
	if (ret == -ENODATA) {
		if (iter == UINT32_MAX)
			return -ENOSPC;
		key = (uint64_t)hfs_name_hash(name, nlen) << 32 | iter;
	}
	found = ret == 0;
	if (found)
		old_flags = x->x_flags;
	if (len > HFS_XATTR_MAX) {
		/* the chunk keys hold 27 bits of the collision index */
		if ((key & 0xffffffffu) >= (1u << 27))
			return -ENOSPC;
		gen = (old_flags & HFS_XATTRF_CHUNKED) ? !(old_flags & HFS_XATTRF_GEN) : 0;
		n = nchunks(len);
		for (c = 0; c < n; c++) {
			size_t off = (size_t)c * HFS_XVAL_CHUNK;
			size_t cl = len - off < HFS_XVAL_CHUNK ? len - off : HFS_XVAL_CHUNK;

			k = hfs_mkkey(ino, HFS_REC_XVAL, hfs_xval_key(key, gen, c));
			ret = hfs_bt_insert(fs, &k, (const uint8_t *)val + off, cl);
			if (ret == -EEXIST)   /* a leftover of a crash: not ours to fail on */
				ret = hfs_bt_update(fs, &k, (const uint8_t *)val + off, cl);
			if (ret) {
				chunks_drop(fs, ino, key, gen, 0, c);
				return ret;
			}
		}
		ret = 0;
	}
	/* buf still holds the old record (if any): drop its chunks last */
	{
		uint8_t nb[sizeof(struct hfs_xattr_ondisk) + 255 + HFS_XATTR_MAX] __attribute__((aligned(8)));
		struct hfs_xattr_ondisk *nx = (void *)nb;
		size_t inl = len > HFS_XATTR_MAX ? 0 : len;
		int existed = found;

		memset(nx, 0, sizeof(*nx));
		nx->x_namelen = (uint8_t)nlen;
		nx->x_vallen = hfs_tole16((uint16_t)inl);
		if (len > HFS_XATTR_MAX) {
			nx->x_flags = (uint8_t)(HFS_XATTRF_CHUNKED | (gen ? HFS_XATTRF_GEN : 0));
			nx->x_size = hfs_tole32((uint32_t)len);
		}
		memcpy(nb + sizeof(*nx), name, nlen);
		if (inl)
			memcpy(nb + sizeof(*nx) + nlen, val, inl);
		k = hfs_mkkey(ino, HFS_REC_XATTR, key);
		ret = existed ? hfs_bt_update(fs, &k, nb, sizeof(*nx) + nlen + inl)
			      : hfs_bt_insert(fs, &k, nb, sizeof(*nx) + nlen + inl);
		if (ret) {
			if (n)
				chunks_drop(fs, ino, key, gen, 0, n);
			return ret;
		}
		return existed ? old_chunks_drop(fs, ino, key, buf) : 0;
	}
}

int hfs_xattr_get(struct hfs_fs *fs, uint64_t ino, const char *name, void *val, size_t size)
{
	uint8_t buf[XBUF] __attribute__((aligned(8)));
	const struct hfs_xattr_ondisk *x = (const void *)buf;
	size_t nlen = strlen(name), vlen;
	uint64_t key;
	int ret, n;

	if (nlen == 0 || nlen > 255)
		return -ERANGE;
	ret = xfind(fs, ino, name, nlen, &key, buf, &vlen, NULL);
	if (ret)
		return ret;
	if (x->x_flags & HFS_XATTRF_CHUNKED) {
		size_t len = hfs_le32(x->x_size);
		unsigned gen = !!(x->x_flags & HFS_XATTRF_GEN);

		if (len <= HFS_XATTR_MAX || len > HFS_XATTR_SIZE_MAX)
			return HFS_CORRUPT("inode %llu: xattr %s of %zu bytes", (unsigned long long)ino,
					   name, len);
		if (size == 0)
			return (int)len;
		if (len > size)
			return -ERANGE;
		for (unsigned c = 0; c < nchunks(len); c++) {
			size_t off = (size_t)c * HFS_XVAL_CHUNK, got;
			size_t cl = len - off < HFS_XVAL_CHUNK ? len - off : HFS_XVAL_CHUNK;
			struct hfs_key k = hfs_mkkey(ino, HFS_REC_XVAL, hfs_xval_key(key, gen, c));

			ret = hfs_bt_lookup(fs, &k, (uint8_t *)val + off, cl, &got);
			if (ret == -ENOENT || (!ret && got != cl))
				return HFS_CORRUPT("inode %llu: xattr %s: chunk %u missing or short",
						   (unsigned long long)ino, name, c);
			if (ret)
				return ret;
		}
		return (int)len;
	}
	n = hfs_le16(x->x_vallen);
	if (size == 0)
		return n;
	if ((size_t)n > size)
		return -ERANGE;
	memcpy(val, buf + sizeof(*x) + nlen, (size_t)n);
	return n;
}

int hfs_xattr_list(struct hfs_fs *fs, uint64_t ino, char *list, size_t size)
{
	struct hfs_key from = hfs_mkkey(ino, HFS_REC_XATTR, 0);
	struct hfs_key to = hfs_mkkey(ino, HFS_REC_XATTR, UINT64_MAX), k;
	uint8_t buf[XBUF] __attribute__((aligned(8)));
	const struct hfs_xattr_ondisk *x = (const void *)buf;
	size_t vlen, total = 0;
	int ret;

	while ((ret = hfs_bt_next(fs, &from, &to, &k, buf, sizeof(buf), &vlen)) == 0) {
		if (vlen < sizeof(*x) || vlen < sizeof(*x) + x->x_namelen)
			return HFS_CORRUPT("xattr of %llu has length %zu", (unsigned long long)ino, vlen);
		if (size) {
			if (total + x->x_namelen + 1 > size)
				return -ERANGE;
			memcpy(list + total, buf + sizeof(*x), x->x_namelen);
			list[total + x->x_namelen] = 0;
		}
		total += x->x_namelen + 1u;
		if (k.key == UINT64_MAX)
			break;
		from = k;
		from.key++;
	}
	if (ret && ret != -ENOENT)
		return ret;
	return (int)total;
}

int hfs_xattr_remove(struct hfs_fs *fs, uint64_t ino, const char *name)
{
	uint8_t buf[XBUF] __attribute__((aligned(8)));
	size_t vlen;
	uint64_t key;
	struct hfs_key k;
	int ret = xfind(fs, ino, name, strlen(name), &key, buf, &vlen, NULL);

	if (ret)
		return ret;
	k = hfs_mkkey(ino, HFS_REC_XATTR, key);
	ret = hfs_bt_delete(fs, &k);
	return ret ? ret : old_chunks_drop(fs, ino, key, buf);
}
