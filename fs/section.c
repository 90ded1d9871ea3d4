/*
 * section.c — data sections: how file I/O runs with fs->lock dropped
 * while the device works, and how a flush waits for it (rules D1-D6).
 */
#include <stdlib.h>
#include "fs/block.h"

/* ---- data sections: file data I/O without fs->lock ------------------------------
 *
 * Reads and writes take fs->lock to look records up and allocate (phase
 * A), drop it while the device works and CRCs are computed (phase B), and
 * take it again to point records at the new extents (phase C).  Between A
 * and C the operation holds a data section open (fs->data_inflight):
 *  (D1) a flush waits in hfs_data_drain until no section is open, so a
 *       commit never contains space allocated but not yet referenced, and
 *       space freed while a reader reads it is not handed out again;
 *  (D2) a new section waits while a flush waits (no starvation);
 *  (D3) new data becomes visible only in phase C, when its write has
 *       completed: readers in the meantime see the old record, which stays
 *       valid by (D1) and crash rule 3 — nothing has to wait for a
 *       direct-in-progress mark;
 *  (D4) phase C looks every record up again: a read-modify-write whose
 *       block changed meanwhile (another write to the same 64 KiB block,
 *       a truncate) is redone with fs->lock held, so no update is lost;
 *  (D5) a thread inside a section never flushes (it would wait for itself).
 *  (D6) every operation works on its own copy of the inode, so a copy
 *       held where fs->lock was released (phase B, a wait in data_enter,
 *       a flush or hfs_op_begin, which wait for open sections) is loaded
 *       again before it changes or is stored: concurrent writes of one
 *       inode (the kernel's writeback sends many at once) would otherwise
 *       store each other's old i_blocks and size back (hfs_inode_step).
 */
static __thread int in_data_section;

/* 1 when it waited, with fs->lock released: the caller's copy of the
 * inode may be stale then (others wrote or truncated meanwhile). */
int data_enter(struct hfs_fs *fs)
{
	int waited = 0;

	while (fs->flush_waiters) {                     /* (D2) */
		pthread_cond_wait(&fs->data_cv, &fs->lock);
		waited = 1;
	}
	fs->data_inflight++;
	in_data_section = 1;
	return waited;
}

void data_leave(struct hfs_fs *fs)
{
	in_data_section = 0;
	if (--fs->data_inflight == 0 && fs->flush_waiters)
		pthread_cond_broadcast(&fs->data_cv);
}

void hfs_data_drain(struct hfs_fs *fs)
{
	if (in_data_section)
		abort();                                     /* (D5): a deadlock otherwise */
	if (!fs->data_inflight)
		return;
	fs->flush_waiters++;
	while (fs->data_inflight)                       /* (D1) */
		pthread_cond_wait(&fs->data_cv, &fs->lock);
	fs->flush_waiters--;
	pthread_cond_broadcast(&fs->data_cv);           /* sections waiting in (D2) */
}

