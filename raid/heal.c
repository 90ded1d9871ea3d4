/*
 * heal.c — self-healing reads: a block whose copy fails the caller's
 * verification (CRC) is read from the other copies, the good bytes are
 * returned and the bad copies rewritten with them (as ZFS's vdev_mirror
 * io_done and btrfs's repair do).
 *
 * Invariants:
 *  (1) A copy is rewritten only if it was read and found bad (verify
 *      failed or the read failed) and another copy verified.
 *  (2) Nothing is rewritten when no copy verifies: the caller gets the
 *      error, the disks stay as they were (a rewrite could destroy the
 *      last copy some later repair might still use).
 *  (3) Granularity is the copy: copy k of a range is leg k of every
 *      column the range touches (raid.h).  On raid10 with a stripe unit
 *      smaller than the block, the rewrite of copy k also rewrites its
 *      good pieces, with the same verified bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "raid/raid_int.h"

enum { CP_UNREAD = 0, CP_GOOD, CP_BAD, CP_READ_ERR, CP_UNAVAILABLE };

int raid_read_verified(struct raid_set *s, uint64_t off, void *buf, size_t len,
		       raid_verify_fn verify, void *priv, unsigned flags, int *healed)
{
	int state[RAID_MAX_COMP] = {0}, ncopies = raid_ncopies(s), good = -1, k, ret = 0, first;
	void *tmp;

	if (healed)
		*healed = 0;
	if (!verify || (flags & ~RAID_RV_ALL))
		return -EINVAL;
	if (!(flags & RAID_RV_ALL) || ncopies == 1) {
		ret = raid_read(s, off, buf, len);
		if (ret == -ERANGE || ret == -EINVAL)
			return ret;
		if (!ret) {
			ret = verify(priv, buf, len);
			if (!ret)
				return 0;
			if (ncopies == 1)
				raid_note_crc_error(s, 0, off, len);
		}
		if (ncopies == 1)
			return ret;
	}
	first = ret;
	if (posix_memalign(&tmp, RAID_SECTOR, len))
		return -ENOMEM;
	for (k = 0; k < ncopies; k++) {
		if (raid_copy_usable(s, k, off, len) != 1) {
			state[k] = CP_UNAVAILABLE;
			continue;
		}
		if (raid_read_copy(s, k, off, tmp, len)) {
			state[k] = CP_READ_ERR;
			continue;
		}
		if (verify(priv, tmp, len)) {
			state[k] = CP_BAD;
			raid_note_crc_error(s, k, off, len);
			continue;
		}
		state[k] = CP_GOOD;
		if (good < 0) {
			good = k;
			memcpy(buf, tmp, len);
		}
	}
	free(tmp);
	if (good < 0) {
		RAID_ERR("[%llu, +%zu): no copy verifies; nothing rewritten",
			 (unsigned long long)off, len);
		if (first)
			return first;
		for (k = 0; k < ncopies; k++)
			if (state[k] == CP_BAD)
				return -EBADMSG;
		return -EIO;
	}
	for (k = 0; k < ncopies; k++) {
		if (state[k] != CP_BAD && state[k] != CP_READ_ERR)
			continue;   /* (1): good, or never read */
		ret = raid_write_copy(s, k, off, buf, len);
		if (ret) {
			RAID_ERR("[%llu, +%zu): rewriting bad copy %d failed (%d)",
				 (unsigned long long)off, len, k, ret);
			continue;
		}
		if (healed)   /* raid_write_copy counted it as repaired */
			(*healed)++;
		RAID_WARN("[%llu, +%zu): copy %d was %s; rewritten from copy %d",
			  (unsigned long long)off, len, k,
			  state[k] == CP_BAD ? "corrupt" : "unreadable", good);
	}
	return 0;
}
