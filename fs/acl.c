/*
 * acl.c — POSIX ACLs, stored as the xattrs system.posix_acl_access and
 * system.posix_acl_default in the kernel's xattr form (version 2, then
 * 8-byte entries: tag u16, perm u16, id u32, little-endian).
 *
 * The kernel enforces ACLs (FUSE_CAP_POSIX_ACL: it reads them through
 * getxattr and checks them itself); the filesystem keeps them consistent
 * with the mode, as Linux filesystems do:
 *   (1) an access ACL written sets the mode's permission bits, and is not
 *       stored when the mode says everything (posix_acl_equiv_mode);
 *   (2) chmod rewrites the stored access ACL's owner, mask (or group) and
 *       other entries (posix_acl_chmod);
 *   (3) a new inode in a directory with a default ACL gets that ACL masked
 *       by the create mode as its access ACL, and directories also inherit
 *       the default ACL; without one the umask applies (posix_acl_create).
 * All with fs->lock held.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "fs/dir.h"

#define TAG_USER_OBJ  0x01
#define TAG_USER      0x02
#define TAG_GROUP_OBJ 0x04
#define TAG_GROUP     0x08
#define TAG_MASK      0x10
#define TAG_OTHER     0x20

static const char ACC[] = "system.posix_acl_access", DEF[] = "system.posix_acl_default";

static unsigned tag_of(const uint8_t *e) { return (unsigned)e[0] | (unsigned)e[1] << 8; }
static unsigned perm_of(const uint8_t *e) { return ((unsigned)e[2] | (unsigned)e[3] << 8) & 7; }
static void perm_set(uint8_t *e, unsigned p) { e[2] = (uint8_t)p; e[3] = 0; }

/* Entries of a well-formed ACL value, or -EINVAL. */
static int nentries(const void *v, size_t size)
{
	const uint8_t *b = v;

	if (size < 4 || (size - 4) % 8 || b[0] != 2 || b[1] || b[2] || b[3])
		return -EINVAL;
	return (int)((size - 4) / 8);
}

int hfs_acl_to_mode(const void *v, size_t size, uint32_t *mode)
{
	int user = -1, group = -1, mask = -1, other = -1, extra = 0, n = nentries(v, size), i;

	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)v + 4 + 8 * i;

		switch (tag_of(e)) {
		case TAG_USER_OBJ: user = (int)perm_of(e); break;
		case TAG_GROUP_OBJ: group = (int)perm_of(e); break;
		case TAG_MASK: mask = (int)perm_of(e); break;
		case TAG_OTHER: other = (int)perm_of(e); break;
		case TAG_USER: case TAG_GROUP: extra = 1; break;
		default: return -EINVAL;
		}
	}
	if (user < 0 || group < 0 || other < 0 || (extra && mask < 0))
		return -EINVAL;
	*mode = (*mode & ~0777u) | (unsigned)user << 6 | (unsigned)(mask >= 0 ? mask : group) << 3 |
		(unsigned)other;
	return !extra && mask < 0;
}

int hfs_acl_chmod(struct hfs_fs *fs, uint64_t ino, uint32_t mode)
{
	uint8_t v[HFS_XATTR_MAX];
	uint8_t *grp = NULL, *mask = NULL;
	int len = hfs_xattr_get(fs, ino, ACC, v, sizeof(v)), n, i;

	if (len == -ENODATA)
		return 0;   /* the mode is the whole ACL */
	if (len < 0)
		return len;
	n = nentries(v, (size_t)len);
	if (n < 0)
		return HFS_CORRUPT("inode %llu: malformed access ACL", (unsigned long long)ino);
	for (i = 0; i < n; i++) {
		uint8_t *e = v + 4 + 8 * i;

		switch (tag_of(e)) {
		case TAG_USER_OBJ: perm_set(e, (mode >> 6) & 7); break;
		case TAG_GROUP_OBJ: grp = e; break;
		case TAG_MASK: mask = e; break;
		case TAG_OTHER: perm_set(e, mode & 7); break;
		}
	}
	if (mask)
		perm_set(mask, (mode >> 3) & 7);
	else if (grp)
		perm_set(grp, (mode >> 3) & 7);
	return hfs_xattr_set(fs, ino, ACC, v, (size_t)len, 0);
}

int hfs_acl_inherit(struct hfs_fs *fs, uint64_t dir, uint32_t *mode, uint32_t umask,
		    struct hfs_acl_new *out)
{
	uint8_t *grp = NULL, *mask = NULL;
	int len, n, i, extra = 0;

	out->acc_len = out->def_len = 0;
	if (S_ISLNK(*mode))
		return 0;   /* symlinks: always 0777, no ACL */
	len = hfs_xattr_get(fs, dir, DEF, out->def, sizeof(out->def));
	if (len == -ENODATA) {
		*mode &= ~(umask & 0777);
		return 0;
	}
	if (len < 0)
		return len;
	n = nentries(out->def, (size_t)len);
	if (n < 0)
		return HFS_CORRUPT("inode %llu: malformed default ACL", (unsigned long long)dir);
	memcpy(out->acc, out->def, (size_t)len);
	for (i = 0; i < n; i++) {
		uint8_t *e = out->acc + 4 + 8 * i;
		unsigned p = perm_of(e);

		switch (tag_of(e)) {
		case TAG_USER_OBJ:
			p &= (*mode >> 6) & 7;
			perm_set(e, p);
			*mode &= (p << 6) | ~(unsigned)S_IRWXU;
			break;
		case TAG_OTHER:
			p &= *mode & 7;
			perm_set(e, p);
			*mode &= p | ~(unsigned)S_IRWXO;
			break;
		case TAG_GROUP_OBJ: grp = e; break;
		case TAG_MASK: mask = e; extra = 1; break;
		default: extra = 1; break;
		}
	}
	if (mask || grp) {
		uint8_t *g = mask ? mask : grp;
		unsigned p = perm_of(g) & ((*mode >> 3) & 7);

		perm_set(g, p);
		*mode &= (p << 3) | ~(unsigned)S_IRWXG;
	}
	out->acc_len = extra ? (size_t)len : 0;   /* the mode says it all otherwise */
	out->def_len = S_ISDIR(*mode) ? (size_t)len : 0;
	return 0;
}

int hfs_acl_store_new(struct hfs_fs *fs, uint64_t ino, const struct hfs_acl_new *a)
{
	int ret = 0;

	if (a->acc_len)
		ret = hfs_xattr_set(fs, ino, ACC, a->acc, a->acc_len, 0);
	if (!ret && a->def_len)
		ret = hfs_xattr_set(fs, ino, DEF, a->def, a->def_len, 0);
	return ret;
}
