/*
 * redo.c — fsync without a commit: REDO records of the operations of the
 * current flush group, made durable with one UNDO write and one device
 * flush, and their replay at mount (docs/DESIGN.md "fsync: REDO records").
 *
 * A commit costs three device flushes and a 16 KiB pre-image for every
 * B-tree leaf the group changed.  When every change of the group since the
 * last commit came from an operation that logs itself (a write of at most
 * HFS_REDO_MAXDATA bytes, a setattr of times or owner only), an fsync
 * appends those operations' records (data and inode after-image) to the
 * UNDO FIFO behind the group's pre-images and makes the FIFO durable;
 * the next regular commit makes them obsolete (a new vh_seq).  Recovery
 * rolls the group back with its pre-images and replays the records on
 * the committed state, which gives the state after a prefix of the
 * group's operations (the one the last fsync saw, or later).
 *
 * Invariants:
 *  (R1) The group is *logged* (fs->redo_off false) only while every META
 *       change since the last commit was made by a logged operation
 *       (modify hook below: a change on a thread outside one sets
 *       redo_off), and each such operation that completed has its record
 *       in fs->redo_list or in the FIFO, in completion order (appended in
 *       the same fs->lock hold as the operation's last change).
 *  (R2) An fsync of a logged group returns after the FIFO up to its last
 *       REDO record is durable; otherwise it commits (hfs_flush_locked).
 *  (R3) Replayed operations are idempotent on the content (a write puts
 *       the same bytes, the size only grows, times are set), so a replay
 *       interrupted by a crash may run again from its first record.
 *  (R4) REDO records cover at most half the FIFO (with the group's
 *       pre-images before them), so a replay always has room for its own
 *       group while the records it replays are held (U6, undo.c).
 *  (R5) The last record an fsync appends carries HFS_REDO_END, and a
 *       recovery replays records only up to the last such one: the state
 *       of a returned fsync or of one whose records all landed, never part
 *       of one (the kernel splits a write(2) at page boundaries into
 *       several requests, and half of it is no state the caller had).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

/* records of one group kept in memory at most (copied until an fsync) */
#define REDO_MEM_MAX (32u << 20)
/* usable space below which writes are not logged: a replay must not run
 * out of space where the operation did not (it allocates as much, but the
 * allocator may place it differently), so twice the logged bytes and
 * 16 MiB more must be free */
#define REDO_SPACE_MIN_BLOCKS 4096u

struct hfs_redo_rec {
	struct hfs_redo_rec *next;
	uint64_t len;
	uint8_t payload[];   /* struct hfs_redo_ondisk, inode, data (8-aligned) */
};

static __thread int redo_thread_logged;

void hfs_redo_op(int on)
{
	redo_thread_logged = on;
}

static void list_free(struct hfs_fs *fs)
{
	struct hfs_redo_rec *r = fs->redo_list;

	while (r) {
		struct hfs_redo_rec *n = r->next;

		free(r);
		r = n;
	}
	fs->redo_list = NULL;
	fs->redo_tail = &fs->redo_list;
	fs->redo_mem = 0;
}

void hfs_redo_init(struct hfs_fs *fs)
{
	fs->redo_list = NULL;
	fs->redo_tail = &fs->redo_list;
	fs->redo_mem = 0;
	fs->redo_off = false;
	fs->redo_enabled = hfs_le16(fs->vh.vh_minor) >= HFS_MINOR_REDO && !fs->opts.redo_off;
}

void hfs_redo_fini(struct hfs_fs *fs)
{
	list_free(fs);
}

void hfs_redo_fail(struct hfs_fs *fs)
{
	__atomic_store_n(&fs->redo_off, true, __ATOMIC_RELAXED);
	list_free(fs);
}

/* bufcache modify hook (R1): fs->lock is held by every thread changing
 * metadata, but the store is atomic anyway (cheap, and the hook's
 * contract does not promise the lock). */
void hfs_redo_modify_hook(void *priv, struct bc_buf *b)
{
	struct hfs_fs *fs = priv;

	(void)b;
	if (!redo_thread_logged)
		__atomic_store_n(&fs->redo_off, true, __ATOMIC_RELAXED);
}

void hfs_redo_committed(struct hfs_fs *fs)
{
	list_free(fs);
	fs->redo_off = false;
	fs->redo_logged = 0;
	if (!fs->vh.vh_redo_seq)
		fs->undo_hold = 0;   /* (U6) the replayed records are obsolete now */
}

static int add(struct hfs_fs *fs, uint16_t op, const struct hfs_inode *ip, uint64_t off,
	       const void *data, uint32_t len)
{
	uint32_t plen = (uint32_t)(sizeof(struct hfs_redo_ondisk) + sizeof(struct hfs_inode_ondisk)) + len;
	struct hfs_redo_ondisk *h;
	struct hfs_redo_rec *r;
	uint64_t pend = hfs_alloc_pending_blocks(fs), free = hfs_alloc_free_blocks(fs);

	if (!fs->redo_enabled || fs->redo_off)
		return 0;
	if (len > HFS_REDO_MAXDATA || fs->redo_mem + plen > REDO_MEM_MAX ||
	    free < pend + REDO_SPACE_MIN_BLOCKS + 2 * (fs->redo_logged + plen) / HFS_BLKSIZE) {
		hfs_redo_fail(fs);   /* the next fsync commits */
		return 0;
	}
	r = malloc(sizeof(*r) + plen);
	if (!r) {
		hfs_redo_fail(fs);
		return 0;
	}
	r->next = NULL;
	r->len = plen;
	h = (struct hfs_redo_ondisk *)r->payload;
	memset(h, 0, sizeof(*h));
	h->r_op = hfs_tole16(op);
	h->r_len = hfs_tole32(len);
	h->r_ino = hfs_tole64(ip->ino);
	h->r_off = hfs_tole64(off);
	hfs_inode_encode((struct hfs_inode_ondisk *)(r->payload + sizeof(*h)), ip);
	if (len)
		memcpy(r->payload + sizeof(*h) + sizeof(struct hfs_inode_ondisk), data, len);
	*fs->redo_tail = r;
	fs->redo_tail = &r->next;
	fs->redo_mem += plen;
	fs->redo_logged += plen;
	return 0;
}

void hfs_redo_write(struct hfs_fs *fs, const struct hfs_inode *ip, uint64_t off, const void *data,
		    size_t len)
{
	add(fs, HFS_REDO_WRITE, ip, off, data, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
}

void hfs_redo_attr(struct hfs_fs *fs, const struct hfs_inode *ip)
{
	add(fs, HFS_REDO_ATTR, ip, 0, NULL, 0);
}

int hfs_fsync_locked(struct hfs_fs *fs)
{
	uint64_t fifo = hfs_le64(fs->vh.vh_undo_size);
	struct hfs_redo_rec *r;
	int ret;

	if (fs->readonly || !fs->redo_enabled || fs->redo_off)
		return hfs_flush_locked(fs);
	if (!fs->redo_list)
		return 0;   /* (R2) every logged record is durable already */
	/* (R4) */
	if (fs->undo_group_bytes + fs->undo_hold + fs->redo_mem + 64u * fs->redo_mem / 4096 + 4096 >
	    fifo / 2)
		return hfs_flush_locked(fs);
	for (r = fs->redo_list; r; r = r->next) {
		if (!r->next)   /* (R5) */
			((struct hfs_redo_ondisk *)r->payload)->r_flags = hfs_tole16(HFS_REDO_END);
		ret = hfs_undo_append_redo(fs, r->payload, (uint32_t)r->len);
		if (ret) {
			/* the records appended so far are harmless: the commit
			 * makes them obsolete */
			hfs_redo_fail(fs);
			return hfs_flush_locked(fs);
		}
	}
	list_free(fs);
	ret = bc_flush_undo(fs->bc);
	if (ret) {
		if (bc_readonly(fs->bc) && !fs->readonly) {
			fs->readonly = true;
			HFS_ERR("UNDO write failed: filesystem is read-only from now on");
		}
		return ret;
	}
	fs->redo_fsyncs++;
	return 0;
}

/* ---- replay at mount ---------------------------------------------------------------- */

static int replay_one(struct hfs_fs *fs, const uint8_t *p, uint32_t len)
{
	const struct hfs_redo_ondisk *h = (const void *)p;
	struct hfs_inode after, ip;
	uint32_t dlen;
	uint16_t op;
	ssize_t n;
	int ret;

	if (len < sizeof(*h) + sizeof(struct hfs_inode_ondisk))
		return HFS_CORRUPT("REDO record of %u bytes", len);
	op = hfs_le16(h->r_op);
	dlen = hfs_le32(h->r_len);
	if ((op != HFS_REDO_WRITE && op != HFS_REDO_ATTR) || dlen > HFS_REDO_MAXDATA ||
	    (op == HFS_REDO_ATTR && dlen) ||
	    len != sizeof(*h) + sizeof(struct hfs_inode_ondisk) + dlen)
		return HFS_CORRUPT("REDO record: op %u, %u data bytes in %u", op, dlen, len);
	hfs_inode_decode(&after, hfs_le64(h->r_ino), (const void *)(p + sizeof(*h)));
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_inode_load(fs, after.ino, &ip);
	if (ret == -ENOENT)
		return HFS_CORRUPT("REDO record for inode %llu, which does not exist",
				   (unsigned long long)after.ino);
	if (ret)
		return ret;
	if (!S_ISREG(ip.mode) && op == HFS_REDO_WRITE)
		return HFS_CORRUPT("REDO write to inode %llu, not a regular file",
				   (unsigned long long)after.ino);
	if (op == HFS_REDO_WRITE) {
		n = hfs_file_write(fs, &ip, p + sizeof(*h) + sizeof(struct hfs_inode_ondisk), dlen,
				   hfs_le64(h->r_off));
		if (n < 0)
			return (int)n;
		if ((uint32_t)n != dlen)
			return -ENOSPC;
		if (ip.size != after.size)
			HFS_WARN("REDO replay: inode %llu has size %llu, the log says %llu",
				 (unsigned long long)ip.ino, (unsigned long long)ip.size,
				 (unsigned long long)after.size);
	} else {
		ip.uid = after.uid;
		ip.gid = after.gid;
	}
	ip.atime = after.atime;
	ip.mtime = after.mtime;
	ip.ctime = after.ctime;
	return hfs_inode_store(fs, &ip);
}

int hfs_redo_replay(struct hfs_fs *fs, const struct hfs_redo_set *set)
{
	int i, ret = 0;

	for (i = 0; i < set->n && !ret; i++)
		ret = replay_one(fs, set->r[i].p, set->r[i].len);
	if (ret) {
		HFS_ERR("REDO replay failed at record %d of %d: %s", i, set->n, strerror(-ret));
		return ret;
	}
	/* (U6) the commit that clears the header's REDO fields */
	fs->vh.vh_redo_seq = 0;
	fs->vh.vh_redo_first = 0;
	fs->vh.vh_redo_end = 0;
	ret = hfs_commit_locked(fs);
	if (!ret)
		HFS_INFO("recovered: %d fsync'd operations replayed from REDO records", set->n);
	return ret;
}
