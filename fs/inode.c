/*
 * inode.c — inode records (encode/decode/load/store/create/destroy) and
 * the orphan list that keeps unlinked-but-open files until their last
 * close, also across a crash (reaped at mount).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fs/hfs_int.h"

static void ts_dec(struct timespec *t, const struct hfs_timespec_ondisk *d)
{
	t->tv_sec = (time_t)hfs_le64(d->ts_sec);
	t->tv_nsec = (long)hfs_le32(d->ts_nsec);
}

static void ts_enc(struct hfs_timespec_ondisk *d, const struct timespec *t)
{
	d->ts_sec = hfs_tole64((uint64_t)t->tv_sec);
	d->ts_nsec = hfs_tole32((uint32_t)t->tv_nsec);
	d->ts_pad = 0;
}

void hfs_inode_decode(struct hfs_inode *ip, uint64_t ino, const struct hfs_inode_ondisk *d)
{
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = hfs_le32(d->i_mode);
	ip->uid = hfs_le32(d->i_uid);
	ip->gid = hfs_le32(d->i_gid);
	ip->nlink = hfs_le32(d->i_nlink);
	ip->size = hfs_le64(d->i_size);
	ip->blocks = hfs_le64(d->i_blocks);
	ts_dec(&ip->atime, &d->i_atime);
	ts_dec(&ip->mtime, &d->i_mtime);
	ts_dec(&ip->ctime, &d->i_ctime);
	ts_dec(&ip->btime, &d->i_btime);
	ip->rdev = hfs_le64(d->i_rdev);
	ip->flags = hfs_le32(d->i_flags);
	ip->generation = hfs_le32(d->i_generation);
	ip->parent = hfs_le64(d->i_parent);
}

void hfs_inode_encode(struct hfs_inode_ondisk *d, const struct hfs_inode *ip)
{
	memset(d, 0, sizeof(*d));
	d->i_mode = hfs_tole32(ip->mode);
	d->i_uid = hfs_tole32(ip->uid);
	d->i_gid = hfs_tole32(ip->gid);
	d->i_nlink = hfs_tole32(ip->nlink);
	d->i_size = hfs_tole64(ip->size);
	d->i_blocks = hfs_tole64(ip->blocks);
	ts_enc(&d->i_atime, &ip->atime);
	ts_enc(&d->i_mtime, &ip->mtime);
	ts_enc(&d->i_ctime, &ip->ctime);
	ts_enc(&d->i_btime, &ip->btime);
	d->i_rdev = hfs_tole64(ip->rdev);
	d->i_flags = hfs_tole32(ip->flags);
	d->i_generation = hfs_tole32(ip->generation);
	d->i_parent = hfs_tole64(ip->parent);
}

int hfs_inode_load(struct hfs_fs *fs, uint64_t ino, struct hfs_inode *ip)
{
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_INODE, 0);
	struct hfs_inode_ondisk d;
	size_t len;
	int ret = hfs_bt_lookup(fs, &k, &d, sizeof(d), &len);

	if (ret)
		return ret;
	if (len != sizeof(d))
		return HFS_CORRUPT("inode %llu record is %zu bytes", (unsigned long long)ino, len);
	hfs_inode_decode(ip, ino, &d);
	ip->held_blocks = fs->nheld ? hfs_held_blocks(fs, ino) : 0;
	return 0;
}

int hfs_inode_store(struct hfs_fs *fs, const struct hfs_inode *ip)
{
	struct hfs_key k = hfs_mkkey(ip->ino, HFS_REC_INODE, 0);
	struct hfs_inode_ondisk d;

	hfs_inode_encode(&d, ip);
	return hfs_bt_update(fs, &k, &d, sizeof(d));
}

int hfs_inode_step(struct hfs_fs *fs, struct hfs_inode *ip)
{
	int ret = hfs_inode_store(fs, ip), lret;

	if (ret)
		return ret;
	ret = hfs_op_begin(fs);
	/* also after a failed hfs_op_begin (which may have waited): the
	 * caller's failure path stores what it changed since, into a copy
	 * that must be current */
	lret = hfs_inode_load(fs, ip->ino, ip);
	return ret ? ret : lret;
}

int hfs_inode_store_changed(struct hfs_fs *fs, const struct hfs_inode *ip)
{
	struct hfs_inode cur;
	int ret = hfs_inode_load(fs, ip->ino, &cur);

	if (ret)
		return ret;
	return cur.blocks != ip->blocks || cur.size != ip->size ? hfs_inode_store(fs, ip) : 0;
}

int hfs_inode_create(struct hfs_fs *fs, struct hfs_inode *ip)
{
	struct hfs_key k;
	struct hfs_inode_ondisk d;
	int ret;

	ip->ino = hfs_le64(fs->vh.vh_next_ino);
	/* Numbers are never reused while the header commits, but a crash
	 * hands out again the numbers of inodes created after the last
	 * commit: a random generation makes a file handle to such a lost
	 * inode stale instead of opening its successor (FORMAT.md). */
	ip->generation = arc4random();
	k = hfs_mkkey(ip->ino, HFS_REC_INODE, 0);
	hfs_inode_encode(&d, ip);
	ret = hfs_bt_insert(fs, &k, &d, sizeof(d));
	if (ret)
		return ret;
	fs->vh.vh_next_ino = hfs_tole64(ip->ino + 1);
	fs->vh.vh_ninodes = hfs_tole64(hfs_le64(fs->vh.vh_ninodes) + 1);
	return 0;
}

/* Delete every record of type t owned by ino (bounded per call by the caller's
 * hfs_op_begin: at most 64 per step). */
static int drop_all(struct hfs_fs *fs, uint64_t ino, uint8_t t)
{
	struct hfs_key from = hfs_mkkey(ino, t, 0), to = hfs_mkkey(ino, t, UINT64_MAX), k;
	int ret, n = 0;

	while ((ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL)) == 0) {
		ret = hfs_bt_delete(fs, &k);
		if (ret)
			return ret;
		if (++n % 32 == 0) {
			ret = hfs_op_begin(fs);
			if (ret)
				return ret;
		}
		from = k;
	}
	return ret == -ENOENT ? 0 : ret;
}

int hfs_inode_destroy(struct hfs_fs *fs, uint64_t ino)
{
	struct hfs_inode ip;
	struct hfs_key k = hfs_mkkey(ino, HFS_REC_INODE, 0);
	int ret = hfs_inode_load(fs, ino, &ip);

	if (ret)
		return ret;
	if (S_ISREG(ip.mode)) {
		ret = hfs_file_truncate(fs, &ip, 0);
		if (ret) {
			hfs_inode_store_changed(fs, &ip);   /* count what is gone */
			return ret;
		}
	}
	ret = drop_all(fs, ino, HFS_REC_XATTR);
	if (!ret)
		ret = drop_all(fs, ino, HFS_REC_XVAL);
	if (!ret)
		ret = drop_all(fs, ino, HFS_REC_SYMLINK);
	if (!ret)
		ret = hfs_bt_delete(fs, &k);
	if (!ret)
		fs->vh.vh_ninodes = hfs_tole64(hfs_le64(fs->vh.vh_ninodes) - 1);
	return ret;
}

int hfs_orphan_add(struct hfs_fs *fs, uint64_t ino)
{
	struct hfs_key k = hfs_mkkey(HFS_ORPHAN_INO, HFS_REC_ORPHAN, ino);
	int ret = hfs_bt_insert(fs, &k, NULL, 0);

	return ret == -EEXIST ? 0 : ret;
}

int hfs_orphan_del(struct hfs_fs *fs, uint64_t ino)
{
	struct hfs_key k = hfs_mkkey(HFS_ORPHAN_INO, HFS_REC_ORPHAN, ino);
	int ret = hfs_bt_delete(fs, &k);

	return ret == -ENOENT ? 0 : ret;
}

int hfs_orphans_reap(struct hfs_fs *fs)
{
	struct hfs_key from = hfs_mkkey(HFS_ORPHAN_INO, HFS_REC_ORPHAN, 0);
	struct hfs_key to = hfs_mkkey(HFS_ORPHAN_INO, HFS_REC_ORPHAN, UINT64_MAX), k;
	int ret, n = 0;

	pthread_mutex_lock(&fs->lock);
	while ((ret = hfs_bt_next(fs, &from, &to, &k, NULL, 0, NULL)) == 0) {
		ret = hfs_op_begin(fs);
		if (!ret) {
			struct hfs_inode ip;

			/* only an unlinked inode: a record left for a linked one
			 * (a failed unlink) must not destroy a live file */
			ret = hfs_inode_load(fs, k.key, &ip);
			if (!ret && ip.nlink == 0)
				ret = hfs_inode_destroy(fs, k.key);
			if (ret == -ENOENT)
				ret = 0;
		}
		if (!ret)
			ret = hfs_orphan_del(fs, k.key);
		if (ret)
			break;
		n++;
		from = k;
	}
	pthread_mutex_unlock(&fs->lock);
	if (n)
		HFS_INFO("reclaimed %d orphaned inode%s", n, n > 1 ? "s" : "");
	return ret == -ENOENT ? 0 : ret;
}
