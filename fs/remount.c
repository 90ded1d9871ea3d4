/*
 * remount.c — `mount -o remount,ro|rw DIR` of a mounted hfs.
 *
 * The kernel tells a FUSE daemon nothing about a remount, and mount(8)
 * hands a remount of type fuse.hfs to the helper (/sbin/mount.fuse.hfs, this
 * program), so the helper does both halves: it asks the daemon through the
 * control socket to change its mode, and it remounts the kernel's mount
 * with mount(2), keeping the per-mount flags the options do not change.
 *
 * Order: to read-only, the kernel first (remounting syncs the dirty pages,
 * which the daemon still accepts, and refuses new writers; EBUSY with a
 * file open for writing), then the daemon commits and stops writing; to
 * read-write, the daemon first, then the kernel.
 *
 * A daemon started read-only (-o ro) reopens its devices read-write under
 * their exclusive locks (raid_make_writable), starts its flusher and reaps
 * the orphans a crash left; it refuses when a leg is missing or not
 * optimal (a writable assembly would have changed the labels) or another
 * read-only mount shares a device.  A shut-down or critically failed
 * filesystem stays read-only.
 */
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "fs/hfs_int.h"
#include "fs/shutdown.h"

/* ---- daemon side (control request "remount ro|rw") ---------------------- */

int hfs_remount(struct hfs_fs *fs, int ro, int atime)
{
	int ret = 0;

	if (hfs_is_shut_down(fs))
		return -EIO;
	if (atime >= 0) {
		pthread_mutex_lock(&fs->lock);
		fs->opts.atime = atime;
		pthread_mutex_unlock(&fs->lock);
	}
	if (ro) {
		/* scrub and resync write to the devices: stop them between
		 * steps (their cursors are durable), as an unmount does */
		hfs_scrub_pause(fs);
		hfs_rebuild_stop(fs);
		pthread_mutex_lock(&fs->lock);
		if (!fs->readonly) {
			/* read-only from here: clean, as after an unmount */
			fs->vh.vh_flags = hfs_tole32(hfs_le32(fs->vh.vh_flags) & ~HFS_VOLF_MOUNTED);
			ret = hfs_flush_locked(fs);
			if (!ret)
				fs->readonly = true;
			else
				fs->vh.vh_flags = hfs_tole32(hfs_le32(fs->vh.vh_flags) | HFS_VOLF_MOUNTED);
		}
		hfs_status_publish(fs);
		pthread_mutex_unlock(&fs->lock);
		return ret;
	}
	if (bc_readonly(fs->bc))
		return -EROFS;       /* critical write error: the last commit stays */
	if (fs->opts.norecovery)
		return -EINVAL;      /* its view is not on disk: writing would mix them */
	pthread_mutex_lock(&fs->lock);
	if (fs->opts.readonly) {
		/* started -o ro: the devices become writable in place (a mount
		 * -o ro found no UNDO to replay, so none is pending now) */
		ret = raid_make_writable(fs->rs);
		if (ret == -EROFS)
			ret = -EACCES;   /* a write-protected device, not a write error */
		if (!ret)
			ret = hfs_flusher_start(fs);
		if (ret) {
			pthread_mutex_unlock(&fs->lock);
			return ret;
		}
		fs->opts.readonly = 0;
		fs->opts.raid.readonly = 0;
	}
	fs->readonly = false;
	fs->vh.vh_flags = hfs_tole32(hfs_le32(fs->vh.vh_flags) | HFS_VOLF_MOUNTED);
	hfs_status_publish(fs);
	pthread_mutex_unlock(&fs->lock);
	ret = hfs_orphans_reap(fs);   /* a read-only mount could not reap them */
	if (ret)
		HFS_ERR("orphan cleanup after the remount failed: %s", strerror(-ret));
	ret = hfs_rebuild_kick(fs);   /* a resync the remount ro stopped */
	return ret == -ENOENT ? 0 : ret;
}

/* ---- helper side (hfs -o remount,... DEV DIR) ----------------------------- */

static const struct { const char *name; unsigned long set, clear; } mflags[] = {
	{ "ro", MS_RDONLY, 0 },           { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },       { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },       { "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
	{ "nodiratime", MS_NODIRATIME, 0 }, { "diratime", 0, MS_NODIRATIME },
	{ "noatime", MS_NOATIME, MS_RELATIME | MS_STRICTATIME },
	{ "relatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME },
	{ "strictatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME },
	{ "atime", 0, MS_NOATIME },
	{ "lazytime", MS_LAZYTIME, 0 },   { "nolazytime", 0, MS_LAZYTIME },
};

int hfs_mount_flag(const char *tok, unsigned long *flags)
{
	size_t i;

	for (i = 0; i < sizeof(mflags) / sizeof(mflags[0]); i++)
		if (!strcmp(tok, mflags[i].name)) {
			*flags = (*flags & ~mflags[i].clear) | mflags[i].set;
			return 1;
		}
	return 0;
}

/* The daemon's socket is named after the mount point it was started on; a
 * second mount of the same hfs (a shared mount, main.c) finds it through
 * the other mounts of the same filesystem (same st_dev). */
static int ctl(const char *mnt, const char *req, char *err, size_t cap)
{
	int ret = hfs_ctl_request(mnt, req, NULL, err, cap);
	struct stat a, b;
	struct mntent *me;
	FILE *mt;

	if ((ret != -ENOENT && ret != -ECONNREFUSED) || stat(mnt, &a) != 0)
		return ret;
	mt = setmntent("/proc/mounts", "r");
	if (!mt)
		return ret;
	while ((me = getmntent(mt)) != NULL) {
		if (strcmp(me->mnt_type, "fuse.hfs") || !strcmp(me->mnt_dir, mnt) ||
		    stat(me->mnt_dir, &b) != 0 || b.st_dev != a.st_dev)
			continue;
		ret = hfs_ctl_request(me->mnt_dir, req, NULL, err, cap);
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			break;
	}
	endmntent(mt);
	return ret;
}

int hfs_remount_main(const char *mnt, const char *opts)
{
	char buf[2048], *save = NULL, *tok, err[256], req[64];
	unsigned long fl = MS_REMOUNT;
	struct statvfs sv;
	const char *atime = NULL;
	int ret;

	if (statvfs(mnt, &sv) != 0) {
		fprintf(stderr, "hfs: remount %s: %s\n", mnt, strerror(errno));
		return 32;
	}
	/* the flags the mount has now, which a remount would otherwise drop */
	fl |= (sv.f_flag & ST_RDONLY ? MS_RDONLY : 0) | (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) |
	      (sv.f_flag & ST_NODEV ? MS_NODEV : 0) | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) |
	      (sv.f_flag & ST_SYNCHRONOUS ? MS_SYNCHRONOUS : 0) |
	      (sv.f_flag & ST_NOATIME ? MS_NOATIME : 0) |
	      (sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0) |
	      (sv.f_flag & ST_RELATIME ? MS_RELATIME : 0);
	snprintf(buf, sizeof(buf), "%s", opts);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (hfs_mount_flag(tok, &fl) && strstr(tok, "atime") && strcmp(tok, "nodiratime") &&
		    strcmp(tok, "diratime"))
			atime = tok;
		/* anything else (remount, defaults, our mount-time options,
		 * libfuse's) cannot change on a live mount: ignored, as the
		 * kernel ignores unknown options of a legacy FUSE remount */
	}
	/* the daemon keeps atime itself (the kernel leaves it to FUSE) */
	snprintf(req, sizeof(req), "remount %s%s%s", fl & MS_RDONLY ? "ro" : "rw",
		 atime && strcmp(atime, "atime") ? " " : "", atime && strcmp(atime, "atime") ? atime : "");
	if (!(fl & MS_RDONLY)) {
		ret = ctl(mnt, req, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "hfs: remount %s read-write: %s\n", mnt,
				ret == -EUCLEAN ? "it was mounted read-only (-o ro) with a leg missing "
				"or not optimal; unmount it and mount it read-write" :
				ret == -EBUSY ? "another process holds one of its devices" : ret == -EROFS ? "a critical write error made it "
				"read-only; unmount, check (fsck.hfs) and mount it again" :
				ret == -EIO ? "it was shut down; unmount and mount it again" :
				ret == -EACCES ? "cannot remount it read-write: the device is write-protected" :
				ret == -EINVAL ? "it was mounted -o norecovery (an interrupted flush is rolled "
				"back in memory only); unmount it and mount it read-write, which recovers" :
				*err ? err : strerror(-ret));
			return 32;
		}
	}
	if (mount(mnt, mnt, NULL, fl, NULL) != 0) {
		fprintf(stderr, "hfs: remount %s: %s\n", mnt, errno == EBUSY ?
			"busy (a file is open for writing)" : strerror(errno));
		return 32;
	}
	if (fl & MS_RDONLY) {
		ret = ctl(mnt, req, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "hfs: remount %s read-only: the daemon did not commit: %s\n",
				mnt, *err ? err : strerror(-ret));
			return 32;
		}
	}
	return 0;
}
