/*
 * dir.h — directory entries (fs/dir.c) and xattrs (fs/xattr.c): internal to fs/.
 * All need fs->lock; names are NUL-terminated, 1..255 bytes.
 */
#ifndef HFS_DIR_H
#define HFS_DIR_H

#include "fs/hfs_int.h"

uint32_t hfs_name_hash(const char *name, size_t len);
/* Records keyed (obj, type, hash << 32 | iter) that carry a name: find the
 * one named name (0: record in buf, its key in *key) or -ENOENT; *free_iter
 * (if not NULL) gets the first unused collision index.  name_of extracts the
 * name from a record or returns -EUCLEAN. */
int hfs_name_scan(struct hfs_fs *fs, uint64_t obj, uint8_t type, const char *name, size_t len,
		  int (*name_of)(const uint8_t *v, size_t vlen, const uint8_t **nm, size_t *nl),
		  uint8_t *buf, size_t cap, size_t *vlen, uint64_t *key, uint32_t *free_iter);
int hfs_dir_lookup(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t *ino, uint8_t *type);
int hfs_dir_add(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t ino, uint8_t type);
int hfs_dir_remove(struct hfs_fs *fs, uint64_t dir, const char *name);
/* Point an existing entry at another inode (rename over a target). */
int hfs_dir_set(struct hfs_fs *fs, uint64_t dir, const char *name, uint64_t ino, uint8_t type);
int hfs_dir_empty(struct hfs_fs *fs, uint64_t dir);   /* 1 empty, 0 not, -errno */
/* First entry with key >= from_key: 0, -ENOENT at the end.  name >= 256 bytes. */
int hfs_dir_next(struct hfs_fs *fs, uint64_t dir, uint64_t from_key, uint64_t *key,
		 char *name, uint64_t *ino, uint8_t *type);

/* xattr.c: Linux semantics (flags XATTR_CREATE / XATTR_REPLACE). */
int hfs_xattr_set(struct hfs_fs *fs, uint64_t ino, const char *name, const void *val, size_t len, int flags);
/* size 0: return the length; else copy (-ERANGE if too small).  Returns length or -errno. */
int hfs_xattr_get(struct hfs_fs *fs, uint64_t ino, const char *name, void *val, size_t size);
int hfs_xattr_list(struct hfs_fs *fs, uint64_t ino, char *list, size_t size);
int hfs_xattr_remove(struct hfs_fs *fs, uint64_t ino, const char *name);

/* acl.c: POSIX ACLs kept consistent with the mode (see its top comment). */
struct hfs_acl_new {                 /* what a new inode inherits */
	uint8_t acc[HFS_XATTR_MAX], def[HFS_XATTR_MAX];
	size_t acc_len, def_len;         /* 0: nothing to store */
};
/* An access ACL value sets *mode's permission bits: 1 when the ACL says
 * nothing beyond the mode (need not be stored), 0 when it must be, -EINVAL. */
int hfs_acl_to_mode(const void *v, size_t size, uint32_t *mode);
/* chmod: rewrite the stored access ACL (if any) to match mode. */
int hfs_acl_chmod(struct hfs_fs *fs, uint64_t ino, uint32_t mode);
/* Create in dir: apply dir's default ACL (or the umask) to *mode (type
 * bits included) and fill *out with the ACLs the new inode gets. */
int hfs_acl_inherit(struct hfs_fs *fs, uint64_t dir, uint32_t *mode, uint32_t umask,
		    struct hfs_acl_new *out);
int hfs_acl_store_new(struct hfs_fs *fs, uint64_t ino, const struct hfs_acl_new *a);

/* namei.c: namespace changes (fs->lock held).  The open-count table is
 * process-wide (one mounted filesystem per daemon). */
static inline uint8_t hfs_dtype(uint32_t mode) { return (uint8_t)((mode & 0170000) >> 12); }
int  hfs_open_count(uint64_t ino);
void hfs_open_get(uint64_t ino);
int  hfs_open_put(uint64_t ino);                 /* opens left */
void hfs_open_seterr(uint64_t ino, int err);      /* remember a write error (-errno) */
int  hfs_open_takeerr(uint64_t ino);              /* and hand it out once */
/* Open descriptors that may write (an open's count must be taken first). */
void hfs_open_writer(uint64_t ino, int delta);
int  hfs_open_writers(uint64_t ino);
/* Data went to disk other than through the kernel's page cache, or a write
 * failed (so cached pages may hold bytes that are not what is stored): no
 * open keeps the file's cached pages (FOPEN_KEEP_CACHE, op_open) until one
 * that dropped them is released; the mark (nonzero) outlives the last
 * close.  unstale clears it if it is still the one given. */
void     hfs_open_stale(uint64_t ino);
unsigned hfs_open_stalemark(uint64_t ino);
void     hfs_open_unstale(uint64_t ino, unsigned mark);
/* An error for the writer's next write(2) only (nothing was lost): the
 * space left is down to the writeback reserve (fs/fuse_data.c). */
void hfs_open_setsoft(uint64_t ino, int err);
int  hfs_open_takesoft(uint64_t ino);
/* Opens of ino that write through the page cache (dirty.c). */
void hfs_open_cached(uint64_t ino, int delta);
/* The soft error for every inode open through the cache that has none:
 * all cached writers stop once the space is down to the reserve.  Returns
 * how many got it, their numbers in *inos (malloc'd, caller frees). */
size_t hfs_open_soft_cached(int err, uint64_t **inos);
int  hfs_dir_touch(struct hfs_fs *fs, uint64_t dir, int nlink_delta);
int  hfs_unref(struct hfs_fs *fs, struct hfs_inode *ip);   /* drop a link; destroy or orphan */
int  hfs_do_unlink(struct hfs_fs *fs, uint64_t parent, const char *name, int isdir);
int  hfs_do_rename(struct hfs_fs *fs, uint64_t sp, const char *sn, uint64_t dp, const char *dn,
		   unsigned flags);

#endif
