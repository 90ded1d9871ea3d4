/*
 * hfs.h — contract of the fs/ layer for the tools (mkfs.hfs, fsck.hfs,
 * hfsctl, the hfs daemon).  Internals are in fs/hfs_int.h and are not for
 * use outside fs/ (tests/unit may include them).
 *
 * All functions return 0 or -errno unless stated otherwise and print
 * nothing except where they say so.
 */
#ifndef HFS_HFS_H
#define HFS_HFS_H

#include <stdint.h>
#include <stdio.h>
#include "raid/raid.h"
#include "fs/ondisk.h"

struct hfs_fs;

struct hfs_format_params {
	const char *label;          /* NULL = "" ; at most HFS_LABEL_MAX-1 bytes */
	enum raid_layout layout;    /* 0 = single for 1 device, mirror for more */
	uint32_t stripe_unit;       /* 0 = default */
	uint64_t undo_size;         /* 0 = size/64 clamped to [16 MiB, 512 MiB]; else >= 8 MiB */
	uint64_t size;              /* filesystem bytes, 0 = the whole volume;
	                             * at most the volume, rounded down to a big-block */
	int force;                  /* overwrite an existing filesystem/label */
	int quiet;
};

/* mkfs: raid_create + an empty filesystem (root directory, free map,
 * UNDO FIFO, both header copies).  Prints a summary to 'out' unless quiet.
 * -EEXIST (something is there, no force), -ENOSPC (too small), -EINVAL. */
int hfs_format(const char *const *paths, int n, const struct hfs_format_params *p, FILE *out);

/* Mount options understood by the hfs daemon (-o, comma separated), parsed
 * in fs/main.c; everything else is passed to libfuse:
 *   ro                    read-only
 *   norecovery            with ro: do not recover (no UNDO replay on disk,
 *                         nothing written): the last commit as it is, an
 *                         interrupted flush rolled back in memory only
 *   degraded              assemble a mirror with a leg missing
 *   engine=uring|pool     force an I/O engine (default: io_uring, else pool)
 *   cache_size=N[KMG]     bufcache memory limit (default 256M)
 *   flush_interval=SEC    periodic flush cycle (default 5)
 *   nodirect              never open components O_DIRECT (testing)
 *   pieces                testing: store every copy-on-write block as 4 KiB
 *                         pieces, as when free space is too fragmented for a
 *                         64 KiB extent (the crash tool's `pieces` workload)
 *   nohold                store a large write's part block at once instead
 *                         of holding it for the write that completes it
 *                         (fs/held.c; A/B measurements)
 *   write_log=FILE        test device: log every completed write and flush
 *                         (raid_wlog_replay rebuilds crash images from it)
 *   noatime|relatime|strictatime  when reads and listings move atime
 *                         (default relatime; the kernel leaves atime to us;
 *                         noatime is also passed on to the kernel mount)
 *   nodiratime|diratime   listings of directories do not (do) move their
 *                         atime (libfuse 3.14 does not know the flag)
 *   fault=FILE            test device: fail, delay, corrupt or unplug chosen
 *                         component requests by the rules in FILE (format in
 *                         raid/fault.c and README.md); re-read when it changes
 * Defaults added when mounted by root: allow_other, default_permissions. */
struct hfs_mount_opts {
	struct raid_opts raid;
	size_t   cache_size;        /* bufcache mem_limit, 0 = default 256 MiB */
	unsigned flush_interval_ms; /* periodic flush, 0 = default 5000 */
	int      readonly;
	int      atime;             /* HFS_ATIME_*, 0 = relatime */
	int      nodiratime;        /* directories keep their atime */
	int      no_writeback;      /* no kernel writeback cache: every write(2)
				     * reaches the daemon before it returns (crash tests) */
	int      force_pieces;      /* "pieces": never a contiguous extent for a
				     * copy-on-write block (testing) */
	int      redo_off;          /* -o noredo: every fsync commits (no REDO records) */
	int      no_hold;           /* -o nohold: no held part blocks (fs/held.c) */
	int      no_fuse_uring;     /* -o nofuse_uring: /dev/fuse even where the
				     * kernel offers FUSE over io_uring */
	int      norecovery;        /* with readonly: no recovery, nothing written;
				     * an interrupted flush is rolled back in memory */
};
enum { HFS_ATIME_RELATIME = 0, HFS_ATIME_NOATIME = 1, HFS_ATIME_STRICT = 2 };

/* Assemble the set, select the newest valid header, replay UNDO back to
 * it, open the cache, load the allocator.  Logs to stderr why it refuses.
 * Read-only (o->readonly): a filesystem that needs recovery (an interrupted
 * flush, or not unmounted cleanly: HFS_VOLF_MOUNTED) is recovered on disk
 * when its devices are writable; on a write-protected device the open
 * fails with -EROFS and prints nothing (the caller says why), unless
 * o->norecovery.  -EINVAL: norecovery without readonly. */
/* A daemon: informational log lines (recovery, reclaimed orphans) go to
 * syslog (opened by the caller), not to the mount command's terminal. */
extern int hfs_log_info_to_syslog;

int  hfs_open(const char *const *paths, int n, const struct hfs_mount_opts *o,
	      struct hfs_fs **out);
/* Flush everything, mark clean, close.  Returns the last flush error. */
int  hfs_close(struct hfs_fs *fs);
/* One full flush cycle (everything so far durable). */
int  hfs_sync(struct hfs_fs *fs);

/* Run the FUSE session on 'mountpoint' (blocks until unmounted).
 * fuse_argv are extra libfuse arguments (e.g. "-o", "allow_other"). */
int  hfs_fuse_run(struct hfs_fs *fs, const char *mountpoint, int foreground,
		  int fuse_argc, char **fuse_argv);
/* Called by hfs_fuse_run once the kernel mount exists (the daemon tells its
 * waiting parent that mounting worked). */
extern void (*hfs_fuse_on_mounted)(void);
/* "\040" and friends of /proc/self/mountinfo, decoded in place. */
void hfs_mountinfo_unescape(char *s);
/* The bdi name ("MAJ:MIN") of the FUSE mount on canon (the mount point's
 * realpath, taken before mounting: resolving it after would ask this
 * daemon): 0, or -ENOENT. */
int  hfs_mount_bdi(const char *canon, char *out, size_t cap);
/* Readahead window of that bdi (read_ahead_kb), whose default of 128 KiB
 * cuts sequential reads into 128 KiB requests.  0 or -errno (not root). */
int  hfs_bdi_set_readahead(const char *bdi, unsigned kib);
/* One decimal number from or to a sysfs/procfs file: 0 or -errno. */
int  hfs_knob_read(const char *path, uint64_t *v);
int  hfs_knob_write(const char *path, uint64_t v);
/* Status file for hfsctl: /run/hfs/<mountpoint with / as _>.json. */
int  hfs_status_path(const char *mountpoint, char *out, size_t cap);
int  hfs_status_start(struct hfs_fs *fs, const char *mountpoint);
void hfs_status_remove(struct hfs_fs *fs);
/* Control socket (hfsctl scrub/replace/status), served by a thread of the
 * daemon from hfs_status_start until hfs_status_remove:
 *   path:     hfs_ctl_path(): /run/hfs/<mountpoint with / as _>.sock (a hash
 *             of the mount point when that is too long for sun_path),
 *             a unix stream socket, mode 0600; peers other than root and
 *             the daemon's own user are refused (SO_PEERCRED).
 *   request:  one line per connection, "VERB[ ARG...]\n", at most 4096 bytes.
 *   response: body lines, then one verdict line: "ok" or
 *             "error <errno> <message>"; the daemon then closes.
 *   verbs:    ping
 *             status        body: the status JSON (as the status file, live)
 *             scrub         start a scrub, or resume an interrupted one;
 *                           body: { "resumed": true|false }; EBUSY if running
 *             scrub-pause   stop the running scrub after its step (cursor kept)
 *             remount ro|rw [noatime|relatime|strictatime]
 *                           commit and stop writing / write again
 *             trim [MINLEN] FITRIM of the whole filesystem (runs of at least
 *                           MINLEN bytes); body: { "trimmed": BYTES }
 *             replace OLD NEW [force]  rebuild onto device NEW in place of
 *                           component OLD (index or path), online; progress
 *                           in status "rebuild"; force: NEW may hold data
 * hfs_ctl_request sends req (without the newline) to the daemon of
 * mountpoint, copies the body to out (may be NULL), and returns 0 for "ok",
 * the daemon's -errno (message in err) or a local -errno (-ENOENT,
 * -ECONNREFUSED: no daemon). */
int  hfs_ctl_path(const char *mountpoint, char *out, size_t cap);
/* The mount helper's remount (remount.c): DIR's daemon and kernel mount
 * to the ro/rw and mount flags of opts; returns a mount(8) exit status. */
int  hfs_remount_main(const char *mountpoint, const char *opts);
/* A mount(8) flag option (ro, nosuid, noatime, ...) applied to *flags
 * (MS_*): 1 if tok is one, else 0 (remount.c). */
int  hfs_mount_flag(const char *tok, unsigned long *flags);
int  hfs_ctl_request(const char *mountpoint, const char *req, FILE *out, char *err, size_t cap);
/* Destroy orphans a crash left behind (call once after a read-write open). */
int  hfs_orphans_reap(struct hfs_fs *fs);

/* UNDO recovery on an assembled set (used by hfs_open and fsck.hfs):
 * reads both headers, picks the newest valid one into *vh, replays the
 * group after it.  *nrec = records applied.  Does not write the header. */
int  hfs_recover(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int *nrec);
/* REDO records (fsync'd operations not committed yet, FORMAT.md §7) a
 * recovery found, payloads in FIFO order, and where they lie. */
struct hfs_redo_set {
	int n, cap;
	struct { uint8_t *p; uint32_t len; } *r;
	uint64_t seq, first, end;   /* their group and FIFO range [first, end) */
	uint64_t group_end;         /* FIFO offset after the scanned group */
};
void hfs_redo_set_free(struct hfs_redo_set *set);
/* hfs_recover that also collects the REDO records into *set (which the
 * caller frees; NULL: ignored).  Does not write the header. */
int  hfs_recover_redo(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int *nrec,
		      struct hfs_redo_set *set);
/* After hfs_recover_redo: write the header that ends the recovery (seq + 1),
 * which names the REDO records of set so the next recovery still finds
 * them until a commit after their replay; nothing when there was nothing
 * to recover.  0 or -errno. */
int  hfs_recover_commit(struct raid_set *rs, struct hfs_volhdr_ondisk *vh, int nrec,
			const struct hfs_redo_set *set);
/* The REDO records a recovery of vh would replay (nothing written). */
int  hfs_redo_collect(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh,
		      struct hfs_redo_set *set);
/* The pre-images the group after vh's commit left in the UNDO FIFO, each
 * passed to fn (raw logical offset, bytes); nothing is written (fsck -n
 * overlays them in memory).  0 or -errno; *nrec = records. */
typedef int (*hfs_undo_fn)(void *priv, uint64_t raw, const void *data, uint32_t len);
int  hfs_undo_collect(struct raid_set *rs, const struct hfs_volhdr_ondisk *vh, hfs_undo_fn fn,
		      void *priv, int *nrec);
/* Write a header (CRC filled in) to slot seq & 1 straight through raid. */
int  hfs_write_header_raw(struct raid_set *rs, struct hfs_volhdr_ondisk *vh);
/* Read both header copies; return the index (0/1) of the newest valid one
 * and copy it to *vh, or -EUCLEAN/-EBADMSG if neither is valid. */
int  hfs_read_header(struct raid_set *rs, struct hfs_volhdr_ondisk *vh);
/* 0 if h is a structurally valid header of this format version. */
int  hfs_header_valid(const struct hfs_volhdr_ondisk *h, uint64_t raid_bytes);

/* crc32 (the zlib/gzip CRC, same values as zlib's crc32(crc, p, len)),
 * continuing from crc (0 to start). */
uint32_t hfs_crc32(uint32_t crc, const void *p, size_t len);
/* crc32 (zlib) of a block with the 4-byte field at crc_off taken as 0. */
uint32_t hfs_block_crc(const void *blk, size_t len, size_t crc_off);

/* avail_blocks: what file data can still get (free space inside the
 * B-tree's big-blocks holds only nodes), <= free_blocks. */
struct hfs_statfs { uint64_t total_blocks, free_blocks, avail_blocks, ninodes, max_inodes, free_inodes; };
void hfs_statfs_get(struct hfs_fs *fs, struct hfs_statfs *st);

#endif
