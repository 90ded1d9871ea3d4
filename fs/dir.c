/*
 * dir.c — directory entries: key (dir, DIRENT, hash << 32 | iter) with a
 * 31-bit crc32 name hash and a collision index, so a lookup reads only the
 * entries sharing the hash, and readdir cookies (key + 3) stay valid while
 * entries come and go.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include "fs/hfs_int.h"
#include "fs/dir.h"

uint32_t hfs_name_hash(const char *name, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)name, (uInt)len) & 0x7fffffffu;
}

int hfs_name_scan(struct hfs_fs *fs, uint64_t obj, uint8_t type, const char *name, size_t len,
		  int (*name_of)(const uint8_t *v, size_t vlen, const uint8_t **nm, size_t *nl),
		  uint8_t *buf, size_t cap, size_t *vlen, uint64_t *key, uint32_t *free_iter)
{
	uint64_t h = (uint64_t)hfs_name_hash(name, len) << 32;
	struct hfs_key from = hfs_mkkey(obj, type, h), to = hfs_mkkey(obj, type, h | 0xffffffffu), k;
	uint32_t expect = 0;
	int ret;

	if (free_iter)
		*free_iter = UINT32_MAX;
	while ((ret = hfs_bt_next(fs, &from, &to, &k, buf, cap, vlen)) == 0) {
		const uint8_t *nm;
		size_t nl;

		if (free_iter && *free_iter == UINT32_MAX && (uint32_t)k.key != expect)
			*free_iter = expect;
		expect = (uint32_t)k.key + 1;
		if (name_of(buf, *vlen, &nm, &nl))
			return HFS_CORRUPT("object %llu: malformed named record (type %u, %zu bytes)",
					   (unsigned long long)obj, type, *vlen);
		if (nl == len && !memcmp(nm, name, len)) {
			*key = k.key;
			return 0;
		}
		if (k.key == (h | 0xffffffffu))
			break;
		from = k;
		from.key++;
	}
	if (free_iter && *free_iter == UINT32_MAX)
		*free_iter = expect;
	return ret == 0 || ret == -ENOENT ? -ENOENT : ret;
}

static int dirent_name(const uint8_t *v, size_t vlen, const uint8_t **nm, size_t *nl)
{
	const struct hfs_dirent_ondisk *d = (const void *)v;

	if (vlen < sizeof(*d) || vlen != sizeof(*d) + d->d_namelen)
		return -EUCLEAN;
	*nm = v + sizeof(*d);
	*nl = d->d_namelen;
	return 0;
}

/* Find name in dir: 0 and its key, inode and type, or -ENOENT.  *free_iter gets
 * the first unused collision index (for an insert). */
static int find(struct hfs_fs *fs, uint64_t dir, const char *name, size_t len,
		uint64_t *key, uint64_t *ino, uint8_t *type, uint32_t *free_iter)
{
	uint8_t buf[sizeof(struct hfs_dirent_ondisk) + 256] __attribute__((aligned(8)));
	const struct hfs_dirent_ondisk *d = (const void *)buf;
	size_t vlen;
	int ret = hfs_name_scan(fs, dir, HFS_REC_DIRENT, name, len, dirent_name, buf, sizeof(buf),
				&vlen, key, free_iter);

	if (ret)
		return ret;
	*ino = hfs_le64(d->d_ino);
	*type = d->d_type;
	return 0;
}

int hfs_dir_lookup(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino, uint8_t *type)
{
	uint64_t key;
	size_t len = strlen(name);

	if (len > 255)
		return -ENAMETOOLONG;
	return find(fs, dir, name, len, &key, ino, type, NULL);
}

int hfs_dir_add(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t ino, uint8_t type)
{
	size_t len = strlen(name);
	uint8_t buf[sizeof(struct hfs_dirent_ondisk) + 256] __attribute__((aligned(8)));
	struct hfs_dirent_ondisk *d = (void *)buf;
	uint64_t key, oino;
	uint8_t otype;
	uint32_t iter;
	struct hfs_key k;
	int ret;

	if (len == 0)
		return -EINVAL;
	if (len > 255)
		return -ENAMETOOLONG;
	ret = find(fs, dir, name, len, &key, &oino, &otype, &iter);
	if (ret == 0)
		return -EEXIST;
	if (ret != -ENOENT)
		return ret;
	if (iter == UINT32_MAX)
		return -ENOSPC;   /* 2^32 names with one hash */
	memset(d, 0, sizeof(*d));
	d->d_ino = hfs_tole64(ino);
	d->d_type = type;
	d->d_namelen = (uint8_t)len;
	memcpy(buf + sizeof(*d), name, len);
	k = hfs_mkkey(dir, HFS_REC_DIRENT, (uint64_t)hfs_name_hash(name, len) << 32 | iter);
	return hfs_bt_insert(fs, &k, buf, sizeof(*d) + len);
}

int hfs_dir_remove(struct hfs_fs *fs, uint64_t dir, const char *name)
{
	uint64_t key, ino;
	uint8_t type;
	struct hfs_key k;
	int ret = find(fs, dir, name, strlen(name), &key, &ino, &type, NULL);

	if (ret)
		return ret;
	k = hfs_mkkey(dir, HFS_REC_DIRENT, key);
	return hfs_bt_delete(fs, &k);
}

int hfs_dir_set(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t ino, uint8_t type)
{
	uint8_t buf[sizeof(struct hfs_dirent_ondisk) + 256] __attribute__((aligned(8)));
	struct hfs_dirent_ondisk *d = (void *)buf;
	size_t len = strlen(name);
	uint64_t key, oino;
	uint8_t otype;
	struct hfs_key k;
	int ret = find(fs, dir, name, len, &key, &oino, &otype, NULL);

	if (ret)
		return ret;
	memset(d, 0, sizeof(*d));
	d->d_ino = hfs_tole64(ino);
	d->d_type = type;
	d->d_namelen = (uint8_t)len;
	memcpy(buf + sizeof(*d), name, len);
	k = hfs_mkkey(dir, HFS_REC_DIRENT, key);
	return hfs_bt_update(fs, &k, buf, sizeof(*d) + len);
}

int hfs_dir_empty(struct hfs_fs *fs, uint64_t dir)
{
	struct hfs_key from = hfs_mkkey(dir, HFS_REC_DIRENT, 0);
	struct hfs_key to = hfs_mkkey(dir, HFS_REC_DIRENT, UINT64_MAX);
	int ret = hfs_bt_next(fs, &from, &to, NULL, NULL, 0, NULL);

	return ret == -ENOENT ? 1 : ret == 0 ? 0 : ret;
}

int hfs_dir_next(struct hfs_fs *fs, uint64_t dir, uint64_t from_key, uint64_t *key,
		 char *name, uint64_t *ino, uint8_t *type)
{
	struct hfs_key from = hfs_mkkey(dir, HFS_REC_DIRENT, from_key);
	struct hfs_key to = hfs_mkkey(dir, HFS_REC_DIRENT, UINT64_MAX), k;
	uint8_t buf[sizeof(struct hfs_dirent_ondisk) + 256] __attribute__((aligned(8)));
	const struct hfs_dirent_ondisk *d = (const void *)buf;
	size_t vlen;
	int ret = hfs_bt_next(fs, &from, &to, &k, buf, sizeof(buf), &vlen);

	if (ret)
		return ret;
	if (vlen < sizeof(*d) || vlen != sizeof(*d) + d->d_namelen || !d->d_namelen)
		return HFS_CORRUPT("dirent in %llu has length %zu", (unsigned long long)dir, vlen);
	memcpy(name, buf + sizeof(*d), d->d_namelen);
	name[d->d_namelen] = 0;
	*key = k.key;
	*ino = hfs_le64(d->d_ino);
	*type = d->d_type;
	return 0;
}
