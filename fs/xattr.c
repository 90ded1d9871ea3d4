/*
 * xattr.c — extended attributes: key (ino, XATTR, hash << 32 | iter),
 * value = header + name + value, Linux semantics and errors.
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

int hfs_xattr_set(struct hfs_fs *fs, uint64_t ino, const char *name, const void *val, size_t len, int flags)
{
	uint8_t buf[XBUF] __attribute__((aligned(8)));
	struct hfs_xattr_ondisk *x = (void *)buf;
	size_t nlen = strlen(name), vlen;
	uint64_t key;
	uint32_t iter;
	struct hfs_key k;
	int ret;

	if (nlen == 0 || nlen > 255)
		return -ERANGE;
	if (len > HFS_XATTR_MAX)
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
	memset(x, 0, sizeof(*x));
	x->x_namelen = (uint8_t)nlen;
	x->x_vallen = hfs_tole16((uint16_t)len);
	memcpy(buf + sizeof(*x), name, nlen);
	if (len)
		memcpy(buf + sizeof(*x) + nlen, val, len);
	k = hfs_mkkey(ino, HFS_REC_XATTR, key);
	return ret == 0 ? hfs_bt_update(fs, &k, buf, sizeof(*x) + nlen + len)
			: hfs_bt_insert(fs, &k, buf, sizeof(*x) + nlen + len);
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
	return hfs_bt_delete(fs, &k);
}
