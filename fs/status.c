/*
 * status.c — the daemon's status file: /run/hfs/<mountpoint>.json, written
 * atomically (temp file + rename) at mount and after every periodic flush,
 * read by `hfsctl status`.  Reading it costs the daemon nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid.h>
#include "fs/hfs_int.h"
#include "fs/shutdown.h"

#define STATUS_DIR "/run/hfs"

int hfs_status_path(const char *mountpoint, char *out, size_t cap)
{
	char real[4096], *p;

	if (!realpath(mountpoint, real))
		return -errno;
	for (p = real; *p; p++)
		if (*p == '/')
			*p = '_';
	return snprintf(out, cap, "%s/%s.json", STATUS_DIR, real) >= (int)cap ? -ENAMETOOLONG : 0;
}

/* The status JSON (the status file and the control socket's "status").
 * fs->lock held. */
void hfs_status_write(struct hfs_fs *fs, FILE *f)
{
	struct raid_comp_status cs[RAID_MAX_COMP];
	struct raid_fault_counts fc;
	struct bc_stats bs;
	char label[HFS_LABEL_MAX + 1], u[37];
	unsigned per_q = 0;
	unsigned long long ring_reqs = 0;
	int n, i, nq = hfs_fuse_ring_info(&per_q, &ring_reqs);

	n = raid_status(fs->rs, cs, RAID_MAX_COMP);
	bc_get_stats(fs->bc, &bs);
	memcpy(label, fs->vh.vh_label, HFS_LABEL_MAX);
	label[HFS_LABEL_MAX] = 0;
	for (i = 0; label[i]; i++)
		if (label[i] == '"' || label[i] == '\\' || (unsigned char)label[i] < 32)
			label[i] = '_';
	uuid_unparse(fs->vh.vh_uuid, u);
	fprintf(f, "{\n  \"pid\": %d,\n  \"mountpoint\": \"%s\",\n  \"uuid\": \"%s\",\n  \"label\": \"%s\",\n"
		   "  \"layout\": \"%s\",\n  \"engine\": \"%s\",\n  \"state\": \"%s\",\n"
		   "  \"set_state\": \"%s\",\n"
		   "  \"commit_seq\": %llu,\n  \"size_bytes\": %llu,\n  \"free_bytes\": %llu,\n"
		   "  \"inodes\": %llu,\n  \"flushes\": %llu,\n  \"redo_fsyncs\": %llu,\n"
		   "  \"killpriv_v2\": %s,\n  \"getxattr_requests\": %llu,\n  \"read_requests\": %llu,\n"
		   "  \"forgets\": %llu,\n"
		   "  \"fuse_transport\": \"%s\",\n  \"fuse_uring_queues\": %d,\n"
		   "  \"fuse_uring_threads_per_queue\": %u,\n  \"fuse_uring_requests\": %llu,\n"
		   "  \"cache_bytes\": %zu,\n"
		   "  \"dirty_bytes\": %zu,\n  \"crc_retries\": %llu,\n"
		   "  \"cache_hits\": %llu,\n  \"cache_misses\": %llu,\n"
		   "  \"cache_partial\": %llu,\n  \"cache_fills\": %llu,\n"
		   "  \"cache_readahead_windows\": %llu,\n  \"cache_readahead_failed\": %llu,\n"
		   "  \"direct_reads\": %llu,\n  \"direct_writes\": %llu,\n  \"devices\": [\n",
		(int)getpid(), fs->mountpoint, u, label, raid_layout_name(raid_layout_of(fs->rs)),
		raid_engine_name(fs->rs), hfs_is_shut_down(fs) ? "shut down" : bc_readonly(fs->bc) ? "read-only (critical write error)" : fs->readonly ? "read-only" : "online", raid_set_state(fs->rs),
		(unsigned long long)hfs_le64(fs->vh.vh_seq), (unsigned long long)hfs_le64(fs->vh.vh_size),
		(unsigned long long)hfs_alloc_free_blocks(fs) * HFS_BLKSIZE,
		(unsigned long long)hfs_le64(fs->vh.vh_ninodes), (unsigned long long)bs.flushes,
		(unsigned long long)fs->redo_fsyncs, hfs_fuse_killpriv_v2() ? "true" : "false",
		(unsigned long long)__atomic_load_n(&fs->getxattr_reqs, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&fs->read_reqs, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&fs->forgets, __ATOMIC_RELAXED),
		nq ? "io_uring" : "/dev/fuse", nq, per_q, ring_reqs, bs.cached_bytes, bs.dirty_bytes, (unsigned long long)bs.crc_retries,
		(unsigned long long)bs.hits, (unsigned long long)bs.misses, (unsigned long long)bs.parts,
		(unsigned long long)bs.fills, (unsigned long long)bs.ra_windows,
		(unsigned long long)bs.ra_failed, (unsigned long long)bs.direct_reads,
		(unsigned long long)bs.direct_writes);
	for (i = 0; i < n; i++)
		fprintf(f, "    { \"path\": \"%s\", \"state\": \"%s\", \"read_errors\": %llu, "
			   "\"write_errors\": %llu, \"crc_errors\": %llu, \"repaired\": %llu }%s\n",
			cs[i].path, raid_comp_state_name(cs[i].state), (unsigned long long)cs[i].read_errs,
			(unsigned long long)cs[i].write_errs, (unsigned long long)cs[i].crc_errs,
			(unsigned long long)cs[i].repaired, i + 1 < n ? "," : "");
	fprintf(f, "  ],\n  \"scrub\": ");
	hfs_scrub_json(fs, f);
	fprintf(f, ",\n  \"rebuild\": ");
	hfs_rebuild_json(fs, f);
	if (raid_fault_counts(fs->rs, &fc) == 0)
		fprintf(f, ",\n  \"faults_injected\": { \"failed\": %llu, \"delayed\": %llu, "
			   "\"corrupted\": %llu, \"vanished\": %llu, \"reloads\": %llu }",
			(unsigned long long)fc.failed, (unsigned long long)fc.delayed,
			(unsigned long long)fc.corrupted, (unsigned long long)fc.vanished,
			(unsigned long long)fc.reloads);
	fprintf(f, "\n}\n");
}

/* fs->lock held. */
int hfs_status_publish(struct hfs_fs *fs)
{
	char tmp[4300];
	FILE *f;

	if (!fs->status_path[0])
		return 0;
	mkdir(STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fs->status_path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	hfs_status_write(fs, f);
	if (fclose(f) != 0 || rename(tmp, fs->status_path) != 0) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

void hfs_status_remove(struct hfs_fs *fs)
{
	hfs_ctl_stop(fs);   /* before fs->lock: a request may be waiting for it */
	/* under the lock, and forgetting the path, so the final flush of the
	 * unmount cannot publish the file again */
	pthread_mutex_lock(&fs->lock);
	if (fs->status_path[0])
		unlink(fs->status_path);
	fs->status_path[0] = 0;
	pthread_mutex_unlock(&fs->lock);
}

int hfs_status_start(struct hfs_fs *fs, const char *mountpoint)
{
	int ret = hfs_status_path(mountpoint, fs->status_path, sizeof(fs->status_path));

	if (ret) {
		fs->status_path[0] = 0;
		return ret;
	}
	if (!realpath(mountpoint, fs->mountpoint))
		snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", mountpoint);
	pthread_mutex_lock(&fs->lock);
	ret = hfs_status_publish(fs);
	pthread_mutex_unlock(&fs->lock);
	if (hfs_ctl_start(fs, mountpoint) != 0)
		HFS_WARN("no control socket for hfsctl (scrub/replace unavailable)");
	return ret;
}
