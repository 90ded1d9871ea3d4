/*
 * rebuild.c — the daemon's resync thread: drives raid_resync_step until a
 * REBUILDING leg is in sync — a leg that came back (the dirty-region
 * bitmap says where it is stale) or a replacement (`hfsctl replace`: every
 * region).  Started at mount when raid_open resumed a resync, and after a
 * replace; stopped between two steps at unmount (the raid layer keeps the
 * cursor in the bitmap, so the next mount resumes).
 *
 * Threads: rb_main is the only caller of raid_resync_step (raid.h asks for
 * one thread); it takes no fs lock — the set serves I/O meanwhile.  Lock
 * order: fs->lock -> rb_lock (hfs_rebuild_json runs under fs->lock).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

struct hfs_rebuild {
	pthread_mutex_t rb_lock;    /* everything below */
	pthread_t rb_thread;
	bool rb_running;            /* thread exists (not yet joined) */
	bool rb_active;             /* thread still stepping */
	bool rb_stop;
	bool rb_seen;               /* a resync ran during this mount */
	bool rb_done;               /* the last one finished */
	int rb_err;                 /* how the last one ended: 0 or -errno */
	struct raid_resync_progress rb_last;   /* last progress seen */
	char rb_path[256];          /* the leg being rebuilt */
};

static void *rb_main(void *arg)
{
	struct hfs_fs *fs = arg;
	struct hfs_rebuild *rb = fs->rebuild;
	int ret = 0;

	for (;;) {
		struct raid_resync_progress p;
		bool stop;

		pthread_mutex_lock(&rb->rb_lock);
		stop = rb->rb_stop;
		pthread_mutex_unlock(&rb->rb_lock);
		if (stop)
			break;
		ret = raid_resync_step(fs->rs);
		pthread_mutex_lock(&rb->rb_lock);
		if (raid_resync_progress(fs->rs, &p) == 0) {
			struct raid_comp_status cs[RAID_MAX_COMP];

			if (raid_status(fs->rs, cs, RAID_MAX_COMP) > p.comp)
				snprintf(rb->rb_path, sizeof(rb->rb_path), "%s", cs[p.comp].path);
			rb->rb_last = p;
		} else if (ret == 0) {
			rb->rb_last.regions_done = rb->rb_last.regions_total;
		}
		pthread_mutex_unlock(&rb->rb_lock);
		if (ret != 1)
			break;
	}
	if (ret < 0 && ret != -ENOENT)
		HFS_ERR("resync stopped: %s", strerror(-ret));
	pthread_mutex_lock(&rb->rb_lock);
	rb->rb_err = ret == -ENOENT ? 0 : ret < 0 ? ret : 0;
	rb->rb_done = ret == 0 || ret == -ENOENT;
	rb->rb_active = false;
	pthread_mutex_unlock(&rb->rb_lock);
	return NULL;
}

static void reap(struct hfs_rebuild *rb, bool stop)
{
	pthread_t t;

	pthread_mutex_lock(&rb->rb_lock);
	if (!rb->rb_running || (!stop && rb->rb_active)) {
		pthread_mutex_unlock(&rb->rb_lock);
		return;
	}
	rb->rb_stop = true;
	t = rb->rb_thread;
	pthread_mutex_unlock(&rb->rb_lock);
	pthread_join(t, NULL);
	pthread_mutex_lock(&rb->rb_lock);
	rb->rb_running = false;
	pthread_mutex_unlock(&rb->rb_lock);
}

/* ---- public (hfs_int.h) ------------------------------------------------- */

int hfs_rebuild_kick(struct hfs_fs *fs)
{
	struct hfs_rebuild *rb = fs->rebuild;
	struct raid_resync_progress p;
	int ret;

	if (!rb)
		return -ENOTSUP;
	if (raid_resync_progress(fs->rs, &p) != 0)
		return -ENOENT;   /* nothing to resync */
	reap(rb, false);
	pthread_mutex_lock(&rb->rb_lock);
	if (rb->rb_running) {
		pthread_mutex_unlock(&rb->rb_lock);
		return 0;   /* the running thread picks the new work up */
	}
	rb->rb_stop = false;
	rb->rb_active = true;
	rb->rb_seen = true;
	rb->rb_err = 0;
	rb->rb_done = false;
	rb->rb_last = p;
	{
		struct raid_comp_status cs[RAID_MAX_COMP];

		if (raid_status(fs->rs, cs, RAID_MAX_COMP) > p.comp)
			snprintf(rb->rb_path, sizeof(rb->rb_path), "%s", cs[p.comp].path);
	}
	ret = -pthread_create(&rb->rb_thread, NULL, rb_main, fs);
	rb->rb_running = ret == 0;
	rb->rb_active = ret == 0;
	pthread_mutex_unlock(&rb->rb_lock);
	return ret;
}

int hfs_rebuild_init(struct hfs_fs *fs)
{
	struct hfs_rebuild *rb = calloc(1, sizeof(*rb));

	if (!rb)
		return -ENOMEM;
	pthread_mutex_init(&rb->rb_lock, NULL);
	fs->rebuild = rb;
	if (!fs->readonly)
		hfs_rebuild_kick(fs);   /* a resync raid_open resumed (-ENOENT: none) */
	return 0;
}

void hfs_rebuild_stop(struct hfs_fs *fs)
{
	if (fs->rebuild)
		reap(fs->rebuild, true);
}

void hfs_rebuild_fini(struct hfs_fs *fs)
{
	struct hfs_rebuild *rb = fs->rebuild;

	if (!rb)
		return;
	reap(rb, true);
	pthread_mutex_destroy(&rb->rb_lock);
	free(rb);
	fs->rebuild = NULL;
}

int hfs_replace(struct hfs_fs *fs, const char *old, const char *new, int force)
{
	struct raid_comp_status cs[RAID_MAX_COMP];
	int n = raid_status(fs->rs, cs, RAID_MAX_COMP), comp = -1, i, ret;
	char *end;
	long v;

	if (fs->readonly)
		return -EROFS;
	v = strtol(old, &end, 10);
	if (*old && !*end && v >= 0 && v < n)
		comp = (int)v;
	for (i = 0; comp < 0 && i < n; i++)
		if (!strcmp(cs[i].path, old))
			comp = i;
	if (comp < 0)
		return -ENODEV;
	ret = raid_replace(fs->rs, comp, new, force, fs->opts.raid.no_direct);
	if (ret)
		return ret;
	ret = hfs_rebuild_kick(fs);
	return ret == -ENOENT ? -EIO : ret;
}

void hfs_rebuild_json(struct hfs_fs *fs, FILE *f)
{
	struct hfs_rebuild *rb = fs->rebuild;
	struct raid_resync_progress p;
	bool active;
	int pct;

	if (!rb) {
		fprintf(f, "null");
		return;
	}
	pthread_mutex_lock(&rb->rb_lock);
	if (!rb->rb_seen) {
		pthread_mutex_unlock(&rb->rb_lock);
		fprintf(f, "null");
		return;
	}
	active = rb->rb_running && rb->rb_active;
	p = rb->rb_last;
	pct = p.regions_total ? (int)(p.regions_done * 100 / p.regions_total) : 100;
	if (active && pct > 99)
		pct = 99;
	fprintf(f, "{ \"state\": \"%s\", \"progress_pct\": %d, \"comp\": %d, \"device\": \"%s\", "
		   "\"full\": %s, \"regions_done\": %llu, \"regions_total\": %llu, "
		   "\"bytes_copied\": %llu, \"last_error\": \"%s\" }",
		active ? "running" : rb->rb_err ? "failed" : rb->rb_done ? "finished" : "paused",
		active || !rb->rb_err ? pct : 0,
		p.comp, rb->rb_path, p.full ? "true" : "false",
		(unsigned long long)p.regions_done, (unsigned long long)p.regions_total,
		(unsigned long long)p.bytes_copied, rb->rb_err ? strerror(-rb->rb_err) : "");
	pthread_mutex_unlock(&rb->rb_lock);
}
