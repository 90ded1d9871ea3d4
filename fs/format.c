/*
 * format.c — mkfs: component labels (raid_create), the fixed regions, an
 * empty B-tree, both header copies; then a normal mount creates the root
 * directory through the B-tree code, and the unmount commits it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid.h>
#include "fs/hfs_int.h"


static uint64_t round_bb(uint64_t v)
{
	return (v + HFS_BIGBLOCK - 1) / HFS_BIGBLOCK * HFS_BIGBLOCK;
}

static int write_zero(struct raid_set *rs, uint64_t off, size_t len)
{
	void *z;
	int ret;

	if (posix_memalign(&z, 4096, len))
		return -ENOMEM;
	memset(z, 0, len);
	ret = raid_write(rs, off, z, len);
	free(z);
	return ret;
}

static int make_root(const char *const *paths, int n)
{
	struct hfs_fs *fs;
	struct hfs_inode_ondisk d;
	struct hfs_key k = hfs_mkkey(HFS_ROOT_INO, HFS_REC_INODE, 0);
	struct timespec now;
	int ret = hfs_open(paths, n, NULL, &fs);

	if (ret)
		return ret;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&d, 0, sizeof(d));
	d.i_mode = hfs_tole32(S_IFDIR | 0755);
	d.i_uid = hfs_tole32(getuid());
	d.i_gid = hfs_tole32(getgid());
	d.i_nlink = hfs_tole32(2);
	d.i_atime.ts_sec = d.i_mtime.ts_sec = d.i_ctime.ts_sec = d.i_btime.ts_sec =
		hfs_tole64((uint64_t)now.tv_sec);
	d.i_atime.ts_nsec = d.i_mtime.ts_nsec = d.i_ctime.ts_nsec = d.i_btime.ts_nsec =
		hfs_tole32((uint32_t)now.tv_nsec);
	d.i_parent = hfs_tole64(HFS_ROOT_INO);
	pthread_mutex_lock(&fs->lock);
	ret = hfs_op_begin(fs);
	if (!ret)
		ret = hfs_bt_insert(fs, &k, &d, sizeof(d));
	if (!ret)
		fs->vh.vh_ninodes = hfs_tole64(1);
	/* Commit twice (and once more at close): both header copies then
	 * describe a filesystem with its root, so one bad copy loses nothing. */
	if (!ret)
		ret = hfs_commit_locked(fs);
	if (!ret)
		ret = hfs_commit_locked(fs);
	pthread_mutex_unlock(&fs->lock);
	{
		int r2 = hfs_close(fs);

		return ret ? ret : r2;
	}
}

int hfs_format(const char *const *paths, int n, const struct hfs_format_params *p, FILE *out)
{
	struct raid_create_params cp = { 0 };
	struct raid_opts ro = { 0 };
	struct raid_set *rs;
	struct hfs_volhdr_ondisk *vh;
	uint64_t size, undo, nbb, fmsize, fmbase, root;
	uint8_t uuid[16];
	uint32_t su;
	char ustr[37];
	int ret;

	if (n < 1 || (p->label && strlen(p->label) >= HFS_LABEL_MAX))
		return -EINVAL;
	cp.layout = p->layout ? p->layout : (n == 1 ? RAID_LAYOUT_SINGLE : RAID_LAYOUT_MIRROR);
	cp.stripe_unit = p->stripe_unit;
	cp.force = p->force;
	ret = raid_create(paths, n, &cp);
	if (ret)
		return ret;
	ret = raid_open(paths, n, &ro, &rs);
	if (ret)
		return ret;
	su = raid_stripe_unit(rs);
	size = raid_size(rs);
	if (p->size > size) {
		fprintf(stderr, "mkfs.hfs: requested size %llu MiB is larger than the volume (%llu MiB)\n",
			(unsigned long long)(p->size >> 20), (unsigned long long)(size >> 20));
		ret = -EINVAL;
		goto out_raid;
	}
	if (p->size)
		size = p->size;
	size = size / HFS_BIGBLOCK * HFS_BIGBLOCK;
	if (size < HFS_MIN_SIZE) {
		fprintf(stderr, "mkfs.hfs: volume too small: %llu MiB usable, need %llu MiB\n",
			(unsigned long long)(size >> 20), (unsigned long long)(HFS_MIN_SIZE >> 20));
		ret = -ENOSPC;
		goto out_raid;
	}
	undo = p->undo_size ? p->undo_size : size / 64;
	/* an explicit size may be one big-block (the crash tests fill it) */
	if (!p->undo_size && undo < (16u << 20))
		undo = 16u << 20;
	if (!p->undo_size && undo > (512u << 20))
		undo = 512u << 20;
	undo = round_bb(undo);
	nbb = size / HFS_BIGBLOCK;
	fmsize = (nbb + HFS_FM_PER_BLOCK - 1) / HFS_FM_PER_BLOCK * HFS_BUFSIZE;
	fmbase = HFS_BIGBLOCK + undo;
	root = fmbase + round_bb(fmsize);
	if (root + HFS_BIGBLOCK > size || undo > size / 2) {
		fprintf(stderr, "mkfs.hfs: volume too small for a %llu MiB UNDO area\n",
			(unsigned long long)(undo >> 20));
		ret = -ENOSPC;
		goto out_raid;
	}
	if (posix_memalign((void **)&vh, 4096, sizeof(*vh))) {
		ret = -ENOMEM;
		goto out_raid;
	}
	memset(vh, 0, sizeof(*vh));
	vh->vh_magic = hfs_tole64(HFS_VOL_MAGIC);
	vh->vh_major = hfs_tole16(HFS_VERSION_MAJOR);
	vh->vh_minor = hfs_tole16(HFS_VERSION_MINOR);
	vh->vh_seq = hfs_tole64(1);
	memcpy(vh->vh_uuid, raid_set_uuid(rs), 16);
	memcpy(uuid, vh->vh_uuid, 16);
	if (p->label)
		memcpy(vh->vh_label, p->label, strlen(p->label));
	vh->vh_size = hfs_tole64(size);
	vh->vh_blksize = hfs_tole32(HFS_BLKSIZE);
	vh->vh_bufsize = hfs_tole32(HFS_BUFSIZE);
	vh->vh_bigblock = hfs_tole32(HFS_BIGBLOCK);
	vh->vh_fblock = hfs_tole32(HFS_FBLOCK);
	vh->vh_undo_base = hfs_tole64(hfs_zaddr(HFS_ZONE_UNDO, HFS_BIGBLOCK));
	vh->vh_undo_size = hfs_tole64(undo);
	vh->vh_freemap_base = hfs_tole64(hfs_zaddr(HFS_ZONE_FREEMAP, fmbase));
	vh->vh_freemap_size = hfs_tole64(fmsize);
	vh->vh_btree_root = hfs_tole64(hfs_zaddr(HFS_ZONE_BTREE, root));
	vh->vh_btree_depth = hfs_tole32(1);
	vh->vh_next_ino = hfs_tole64(HFS_FIRST_INO);
	vh->vh_free_blocks = hfs_tole64((size - root) / HFS_BLKSIZE - HFS_BUFSIZE / HFS_BLKSIZE);
	vh->vh_ctime = vh->vh_mtime = hfs_tole64((uint64_t)time(NULL));
	/* an empty FIFO start: the recovery scan stops at the first bytes */
	ret = write_zero(rs, HFS_BIGBLOCK, HFS_BUFSIZE);
	if (!ret)
		ret = hfs_freemap_format(rs, vh);
	if (!ret)
		ret = hfs_bt_format_root(rs, hfs_le64(vh->vh_btree_root), 1);
	if (!ret)
		ret = write_zero(rs, 0, 2 * HFS_BUFSIZE);
	if (!ret)
		ret = raid_flush(rs);
	/* header copy 1 (seq 1) last: until it is durable nothing is mountable */
	if (!ret)
		ret = hfs_write_header_raw(rs, vh);
	free(vh);
out_raid:
	raid_close(rs);
	if (ret)
		return ret;
	ret = make_root(paths, n);
	if (ret) {
		fprintf(stderr, "mkfs.hfs: creating the root directory failed: %s\n", strerror(-ret));
		return ret;
	}
	if (!p->quiet && out) {
		int i;

		uuid_unparse(uuid, ustr);
		fprintf(out, "hfs: formatted %s set of %d device%s:", raid_layout_name(cp.layout), n,
			n > 1 ? "s" : "");
		for (i = 0; i < n; i++)
			fprintf(out, " %s", paths[i]);
		if (su)
			fprintf(out, "\n  stripe unit %u KiB", su >> 10);
		fprintf(out, "\n  size %llu MiB, UNDO %llu MiB, uuid %s, label \"%s\"\n",
			(unsigned long long)(size >> 20), (unsigned long long)(undo >> 20), ustr,
			p->label ? p->label : "");
	}
	return 0;
}
