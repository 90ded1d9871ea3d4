/*
 * replace.c — online replacement of a leg (`hfsctl replace`): a new device
 * takes the position of an old one, is labelled REBUILDING, takes every
 * write from then on, and a full resync (resync.c) copies every region
 * onto it from the other copies; when the resync finishes it becomes
 * OPTIMAL.  The old device is out of the set from the swap on.
 *
 *   OPTIMAL/FAILED/MISSING old leg
 *     --raid_replace: mark FAILED (no new I/O picks it), wait for its
 *       in-flight requests, install the new device REBUILDING, record a
 *       FULL resync of it in the bitmap, generation++, labels everywhere-->
 *   REBUILDING new leg --raid_resync_step ... finish()--> OPTIMAL
 *
 * Order for crashes (invariant P1): the bitmap records "full resync of
 * position comp" before any label names the new device REBUILDING at the
 * new generation; so a restart either still sees the old labels (the
 * replace is simply not done: mount without the new device) or resumes the
 * full resync at its checkpoint, never an incremental one onto an empty
 * device.
 *
 * Threads: raid_replace runs on the caller (the daemon's control thread);
 * the set keeps serving I/O.  Locks: takes set->lock, never held across
 * the wait for in-flight requests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "raid/raid_int.h"

/* Another readable leg holds every block comp holds (its column partner). */
static int has_partner(struct raid_set *s, int comp)
{
	int col = comp / s->geom.g_ncopies, k;

	for (k = 0; k < s->geom.g_ncopies; k++) {
		int c = raid_geom_comp(&s->geom, col, k);

		if (c != comp && raid_comp_readable(s, c))
			return 1;
	}
	return 0;
}

int raid_replace(struct raid_set *s, int comp, const char *path, int force, int no_direct)
{
	struct raid_label_ondisk l;
	struct raid_comp nc;
	char what[128];
	int ret, i, old_fd;

	if (!s->ops->redundant)
		return -EOPNOTSUPP;
	if (s->readonly)
		return -EROFS;
	if (comp < 0 || comp >= s->ncomp)
		return -EINVAL;
	if (!has_partner(s, comp)) {
		RAID_ERR("replace: component %d has no readable copy beside it to rebuild from", comp);
		return -ENODATA;
	}
	ret = raid_dev_open(&nc, path, 1, no_direct);
	if (ret) {
		RAID_ERR("replace: %s: %s", path, strerror(-ret));
		return ret;
	}
	if (nc.c_size < RAID_DATA_OFF + s->data_size) {
		RAID_ERR("replace: %s: too small (%llu MiB, the set needs %llu MiB)", path,
			 (unsigned long long)(nc.c_size >> 20),
			 (unsigned long long)((RAID_DATA_OFF + s->data_size) >> 20));
		raid_dev_close(&nc);
		return -ENOSPC;
	}
	if (raid_label_read(&nc, &l) == 0 && !memcmp(l.l_set_uuid, s->uuid, 16) &&
	    le64toh(l.l_generation) == s->generation) {
		RAID_ERR("replace: %s is already a member of this set", path);
		raid_dev_close(&nc);
		return -EEXIST;
	}
	if (!force && raid_probe_existing(&nc, what, sizeof(what))) {
		RAID_ERR("replace: %s already holds %s (force it to overwrite)", path, what);
		raid_dev_close(&nc);
		return -EEXIST;
	}
	/* 1: no new request picks the old leg; the resync of it (if any) stops */
	pthread_mutex_lock(&s->lock);
	if (s->comp[comp].c_state != RAID_COMP_MISSING)
		s->comp[comp].c_state = RAID_COMP_FAILED;
	pthread_mutex_unlock(&s->lock);
	raid_resync_abort_comp(s, comp);
	/* 2: requests already issued to it finish.  A DAG built just before
	 * the state change fires its nodes right after building (raid_submit),
	 * so a short grace lets those be counted in c_inflight too. */
	usleep(20000);
	for (i = 0; i < 10000 && atomic_load(&s->comp[comp].c_inflight); i++)
		usleep(1000);
	if (atomic_load(&s->comp[comp].c_inflight)) {
		RAID_ERR("replace: component %d does not finish its requests", comp);
		raid_dev_close(&nc);
		return -EBUSY;
	}
	/* 3: install the new device */
	pthread_mutex_lock(&s->lock);
	old_fd = s->comp[comp].c_fd;
	s->comp[comp].c_fd = nc.c_fd;
	snprintf(s->comp[comp].c_path, sizeof(s->comp[comp].c_path), "%s", nc.c_path);
	s->comp[comp].c_size = nc.c_size;
	s->comp[comp].c_sector = nc.c_sector;
	s->comp[comp].c_direct = nc.c_direct;
	s->comp[comp].c_read_errs = s->comp[comp].c_write_errs = 0;
	s->comp[comp].c_crc_errs = s->comp[comp].c_repaired = 0;
	s->comp[comp].c_fail_rd = s->comp[comp].c_fail_wr = 0;
	s->comp[comp].c_state = RAID_COMP_REBUILDING;
	pthread_mutex_unlock(&s->lock);
	if (old_fd >= 0)
		close(old_fd);
	/* 4 (P1): the full resync is recorded first, then the labels */
	ret = raid_resync_start(s, comp, 1);
	if (ret) {
		RAID_ERR("replace: the resync of component %d does not start: %s", comp,
			 strerror(-ret));
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	s->generation++;
	ret = raid_label_write_all(s);
	pthread_mutex_unlock(&s->lock);
	if (ret == 0 && (ret = raid_label_read(&s->comp[comp], &l)) == 0 &&
	    le64toh(l.l_generation) != s->generation)
		ret = -EIO;
	if (ret) {
		RAID_ERR("replace: cannot label %s: %s", path, strerror(-ret));
		raid_resync_abort_comp(s, comp);
		goto fail;
	}
	RAID_WARN("component %d is now %s (rebuilding)", comp, path);
	return 0;
fail:
	pthread_mutex_lock(&s->lock);
	s->comp[comp].c_state = RAID_COMP_FAILED;
	s->generation++;
	if (raid_label_write_all(s))
		RAID_ERR("replace: the failure is not recorded in the labels");
	pthread_mutex_unlock(&s->lock);
	return ret;
}
