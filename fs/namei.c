/*
 * namei.c — namespace changes shared by the FUSE operations: unlink and
 * rmdir, rename (plain, NOREPLACE, EXCHANGE), the parent-directory
 * bookkeeping, and the open-count table that turns an unlinked open file
 * into an orphan until its last close.  All with fs->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "fs/dir.h"

/* ---- open-count table ----------------------------------------------------- */
struct opened { uint64_t ino; unsigned count, writers, cached, stale; int err, soft; struct opened *next; };
#define OHASH 1024
static struct opened *otab[OHASH];

static struct opened **ofind(uint64_t ino)
{
	struct opened **pp = &otab[ino % OHASH];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* Stale marks are numbered so that the release of an open that dropped
 * the pages clears only the mark it saw, not a later one. */
static unsigned stale_seq;

static void mark_stale(struct opened *o)
{
	if (!(o->stale = ++stale_seq))
		o->stale = ++stale_seq;   /* 0 means clean */
}

/* A write error the writeback cache could not hand to the writer: kept
 * until the next fsync or close of the file reports it (as Linux keeps a
 * mapping's writeback error for fsync). */
void hfs_open_seterr(uint64_t ino, int err)
{
	struct opened *o = *ofind(ino);

	if (o && !o->err)
		o->err = err;
	if (o)
		mark_stale(o);   /* the kernel's pages hold what we did not store */
}

int hfs_open_takeerr(uint64_t ino)
{
	struct opened *o = *ofind(ino);
	int err = o ? o->err : 0;

	if (o)
		o->err = 0;
	return err;
}

void hfs_open_setsoft(uint64_t ino, int err)
{
	struct opened *o = *ofind(ino);

	if (o) {
		o->soft = err;
		mark_stale(o);
	}
}

int hfs_open_takesoft(uint64_t ino)
{
	struct opened *o = *ofind(ino);
	int err = o ? o->soft : 0;

	if (o)
		o->soft = 0;
	return err;
}

void hfs_open_cached(uint64_t ino, int delta)
{
	struct opened *o = *ofind(ino);

	if (o && (delta > 0 || o->cached))
		o->cached += delta;
}

size_t hfs_open_soft_cached(int err, uint64_t **inos)
{
	size_t n = 0, cap = 0, i;
	struct opened *o;

	*inos = NULL;
	for (i = 0; i < OHASH; i++)
		for (o = otab[i]; o; o = o->next) {
			if (!o->cached || o->soft)
				continue;
			o->soft = err;
			mark_stale(o);
			if (n == cap) {
				uint64_t *t = realloc(*inos, (cap ? cap * 2 : 16) * sizeof(*t));

				if (!t)
					continue;   /* set, not announced: the writer's next
						     * writeback announces it (op_write) */
				*inos = t;
				cap = cap ? cap * 2 : 16;
			}
			(*inos)[n++] = o->ino;
		}
	return n;
}

int hfs_open_count(uint64_t ino)
{
	struct opened *o = *ofind(ino);

	return o ? (int)o->count : 0;
}

void hfs_open_writer(uint64_t ino, int delta)
{
	struct opened *o = *ofind(ino);

	if (o && (delta > 0 || o->writers))
		o->writers += delta;
}

int hfs_open_writers(uint64_t ino)
{
	struct opened *o = *ofind(ino);

	return o ? (int)o->writers : 0;
}

void hfs_open_stale(uint64_t ino)
{
	struct opened *o = *ofind(ino);

	if (o)
		mark_stale(o);
}

unsigned hfs_open_stalemark(uint64_t ino)
{
	struct opened *o = *ofind(ino);

	return o ? o->stale : 0;
}

void hfs_open_unstale(uint64_t ino, unsigned mark)
{
	struct opened *o = *ofind(ino);

	if (o && o->stale == mark)
		o->stale = 0;
}

void hfs_open_get(uint64_t ino)
{
	struct opened **pp = ofind(ino);

	if (!*pp) {
		*pp = calloc(1, sizeof(**pp));
		if (!*pp)
			return;   /* an untracked open only loses the orphan delay */
		(*pp)->ino = ino;
	}
	(*pp)->count++;
}

int hfs_open_put(uint64_t ino)
{
	struct opened **pp = ofind(ino), *o = *pp;

	if (!o)
		return 0;
	if (--o->count)
		return (int)o->count;
	if (o->stale) {
		/* kept, closed, until an open that drops the pages is released;
		 * its errors went with the last close, as when it is freed */
		o->err = o->soft = 0;
		return 0;
	}
	*pp = o->next;
	free(o);
	return 0;
}

int hfs_dir_touch(struct hfs_fs *fs, uint64_t dir, int nlink_delta)
{
	struct hfs_inode d;
	int ret = hfs_inode_load(fs, dir, &d);

	if (ret)
		return ret;
	hfs_now(&d.mtime);
	d.ctime = d.mtime;
	d.nlink = (uint32_t)((int)d.nlink + nlink_delta);
	return hfs_inode_store(fs, &d);
}

/* Drop one link of ino; destroy it now, or make it an orphan while open. */
int hfs_unref(struct hfs_fs *fs, struct hfs_inode *ip)
{
	hfs_now(&ip->ctime);
	if (S_ISDIR(ip->mode))
		ip->nlink = 0;
	else if (ip->nlink)
		ip->nlink--;
	if (ip->nlink)
		return hfs_inode_store(fs, ip);
	if (hfs_open_count(ip->ino)) {
		int ret = hfs_inode_store(fs, ip);

		return ret ? ret : hfs_orphan_add(fs, ip->ino);
	}
	return hfs_inode_destroy(fs, ip->ino);
}

/* The orphan record of an inode this change will unlink while it is open
 * goes in first: it is the change's only insert, so an ENOSPC fails the
 * change with nothing done.  1 if it added the record (the caller removes
 * it again should a later step fail: a linked inode must not be reaped). */
static int orphan_first(struct hfs_fs *fs, const struct hfs_inode *ip)
{
	int ret;

	if ((!S_ISDIR(ip->mode) && ip->nlink > 1) || !hfs_open_count(ip->ino))
		return 0;
	ret = hfs_orphan_add(fs, ip->ino);
	return ret ? ret : 1;
}

int hfs_do_unlink(struct hfs_fs *fs, uint64_t parent, const char *name, int isdir)
{
	struct hfs_inode ip, d;
	uint64_t ino;
	uint8_t t;
	int orph, ret = hfs_op_begin(fs);

	if (!ret)
		ret = hfs_dir_lookup(fs, parent, name, &ino, &t);
	if (!ret)
		ret = hfs_inode_load(fs, ino, &ip);
	if (ret)
		return ret;
	if (isdir && !S_ISDIR(ip.mode))
		return -ENOTDIR;
	if (!isdir && S_ISDIR(ip.mode))
		return -EISDIR;
	/* the VFS's may_delete, which cannot see FUSE inodes' flags */
	ret = hfs_inode_load(fs, parent, &d);
	if (!ret)
		ret = hfs_iflags_fixed(&d);
	if (!ret)
		ret = hfs_iflags_fixed(&ip);
	if (ret)
		return ret;
	if (isdir) {
		ret = hfs_dir_empty(fs, ino);
		if (ret <= 0)
			return ret ? ret : -ENOTEMPTY;
	}
	orph = orphan_first(fs, &ip);
	if (orph < 0)
		return orph;
	ret = hfs_dir_remove(fs, parent, name);
	if (!ret)
		ret = hfs_dir_touch(fs, parent, isdir ? -1 : 0);
	if (!ret)
		ret = hfs_unref(fs, &ip);
	if (ret && orph)
		hfs_orphan_del(fs, ip.ino);
	return ret;
}

/* Update both parents' times and link counts (".." of moved directories);
 * one directory when source and target parent are the same. */
static int touch_parents(struct hfs_fs *fs, uint64_t sp, int sdelta, uint64_t dp, int ddelta)
{
	int ret;

	if (sp == dp)
		return hfs_dir_touch(fs, sp, sdelta + ddelta);
	ret = hfs_dir_touch(fs, sp, sdelta);
	return ret ? ret : hfs_dir_touch(fs, dp, ddelta);
}

/* Is 'anc' an ancestor of (or equal to) directory 'ino'? */
static int is_ancestor(struct hfs_fs *fs, uint64_t anc, uint64_t ino)
{
	/* no depth limit of its own (trees deeper than PATH_MAX are legal);
	 * a walk longer than the inode count can only be a cycle */
	uint64_t depth = 0, limit = hfs_le64(fs->vh.vh_ninodes) + 1;

	while (depth++ <= limit) {
		struct hfs_inode d;

		if (ino == anc)
			return 1;
		if (ino == HFS_ROOT_INO)
			return 0;
		if (hfs_inode_load(fs, ino, &d))
			return 0;
		ino = d.parent;
	}
	return 1;   /* a cycle: refuse the rename */
}

/* Inode flags (iflags.c), as the VFS's may_delete/may_create would check
 * them: the source entry goes away (its directory and inode must be
 * neither +i nor +a), an entry appears in dp (not +i), a replaced or
 * exchanged target goes away too. */
static int rename_flags_ok(struct hfs_fs *fs, uint64_t sp, const struct hfs_inode *src,
			   uint64_t dp, const struct hfs_inode *dst, unsigned flags)
{
	struct hfs_inode d;
	int ret = hfs_iflags_fixed(src);

	if (!ret && dst)
		ret = hfs_iflags_fixed(dst);
	if (!ret)
		ret = hfs_inode_load(fs, sp, &d);
	if (!ret)
		ret = hfs_iflags_fixed(&d);
	if (!ret && dp != sp)
		ret = hfs_inode_load(fs, dp, &d);
	if (!ret)
		ret = hfs_iflags_no_add(&d);
	if (!ret && (dst || (flags & RENAME_EXCHANGE)))
		ret = hfs_iflags_fixed(&d);
	return ret;
}

int hfs_do_rename(struct hfs_fs *fs, uint64_t sp, const char *sn, uint64_t dp,
		     const char *dn, unsigned flags)
{
	struct hfs_inode src, dst;
	uint64_t sino, dino;
	uint8_t st, dt;
	int ret, have_dst, orph;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (strlen(dn) > 255)
		return -ENAMETOOLONG;
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_dir_lookup(fs, sp, sn, &sino, &st);
	if (!ret)
		ret = hfs_inode_load(fs, sino, &src);
	if (ret)
		return ret;
	ret = hfs_dir_lookup(fs, dp, dn, &dino, &dt);
	if (ret && ret != -ENOENT)
		return ret;
	have_dst = ret == 0;
	if (have_dst && dino == sino)
		return 0;   /* hard links of one inode: nothing to do */
	if (have_dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (!have_dst && (flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (S_ISDIR(src.mode) && sp != dp && is_ancestor(fs, sino, dp))
		return -EINVAL;
	if (have_dst) {
		ret = hfs_inode_load(fs, dino, &dst);
		if (ret)
			return ret;
	}
	ret = rename_flags_ok(fs, sp, &src, dp, have_dst ? &dst : NULL, flags);
	if (ret)
		return ret;
	if (flags & RENAME_EXCHANGE) {
		if (S_ISDIR(dst.mode) && sp != dp && is_ancestor(fs, dino, sp))
			return -EINVAL;
		ret = hfs_dir_set(fs, sp, sn, dino, hfs_dtype(dst.mode));
		if (!ret)
			ret = hfs_dir_set(fs, dp, dn, sino, hfs_dtype(src.mode));
		if (ret)
			return ret;
		ret = touch_parents(fs, sp, !!S_ISDIR(dst.mode) - !!S_ISDIR(src.mode),
				    dp, !!S_ISDIR(src.mode) - !!S_ISDIR(dst.mode));
		if (ret)
			return ret;
		src.parent = S_ISDIR(src.mode) ? dp : 0;
		dst.parent = S_ISDIR(dst.mode) ? sp : 0;
		hfs_now(&src.ctime);
		dst.ctime = src.ctime;
		ret = hfs_inode_store(fs, &src);
		return ret ? ret : hfs_inode_store(fs, &dst);
	}
	if (have_dst) {
		if (S_ISDIR(src.mode) && !S_ISDIR(dst.mode))
			return -ENOTDIR;
		if (!S_ISDIR(src.mode) && S_ISDIR(dst.mode))
			return -EISDIR;
		if (S_ISDIR(dst.mode)) {
			ret = hfs_dir_empty(fs, dino);
			if (ret <= 0)
				return ret ? ret : -ENOTEMPTY;
		}
		orph = orphan_first(fs, &dst);
		if (orph < 0)
			return orph;
		ret = hfs_dir_set(fs, dp, dn, sino, hfs_dtype(src.mode));
		if (!ret && S_ISDIR(dst.mode))
			ret = hfs_dir_touch(fs, dp, -1);   /* the replaced dir's ".." */
		if (!ret)
			ret = hfs_unref(fs, &dst);
		if (ret && orph)
			hfs_orphan_del(fs, dst.ino);
	} else {
		ret = hfs_dir_add(fs, dp, dn, sino, hfs_dtype(src.mode));
	}
	if (!ret)
		ret = hfs_dir_remove(fs, sp, sn);
	if (ret)
		return ret;
	ret = touch_parents(fs, sp, -!!S_ISDIR(src.mode), dp, !!S_ISDIR(src.mode));
	if (ret)
		return ret;
	if (S_ISDIR(src.mode))
		src.parent = dp;
	hfs_now(&src.ctime);
	return hfs_inode_store(fs, &src);
}

