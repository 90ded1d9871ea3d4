/*
 * bench/nullfs.c — the "fuse-null" configuration of bench.sh: a FUSE
 * daemon that keeps no data.  Writes are answered at once and dropped,
 * reads return zeros; only names and sizes are kept, in memory.
 *
 * Why: it measures what the FUSE transport alone allows on this machine
 * (the kernel's page cache, request copies and thread wakeups), with the
 * same session settings hfs negotiates (writeback cache, 1 MiB requests,
 * 4 MiB readahead, 32 background requests).  hfs/fuse-null then says how
 * close hfs comes to that ceiling; hfs/ext4 alone cannot tell a slow
 * daemon from a slow transport.
 *
 * Usage: nullfs MOUNTPOINT [FUSE options]   (daemonizes; umount to stop)
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fuse_lowlevel.h>

#define NFILES 64
#define MAXREQ (1u << 20)

struct nfile {
	char name[256];
	off_t size;
	int used;
};

static struct nfile files[NFILES];            /* inode = index + 2 */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char zeros[MAXREQ];

static struct nfile *by_ino(fuse_ino_t ino)
{
	return ino >= 2 && ino < 2 + NFILES && files[ino - 2].used ? &files[ino - 2] : NULL;
}

static int fill_stat(fuse_ino_t ino, struct stat *st)
{
	struct nfile *f;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	f = by_ino(ino);
	if (!f)
		return -ENOENT;
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = f->size;
	st->st_blocks = (f->size + 511) / 512;
	st->st_blksize = 4096;
	return 0;
}

static void reply_ino(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = e.entry_timeout = 60.0;
	fill_stat(ino, &e.attr);
	if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

static void op_init(void *u, struct fuse_conn_info *c)
{
	(void)u;
	if (c->capable & FUSE_CAP_WRITEBACK_CACHE)
		c->want |= FUSE_CAP_WRITEBACK_CACHE;
	c->max_write = MAXREQ;
	c->max_readahead = 4u << 20;
	c->max_background = 32;
	c->congestion_threshold = 24;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < NFILES; i++)
		if (parent == FUSE_ROOT_ID && files[i].used && !strcmp(files[i].name, name))
			break;
	pthread_mutex_unlock(&mu);
	if (i == NFILES)
		fuse_reply_err(req, ENOENT);
	else
		reply_ino(req, (fuse_ino_t)i + 2, NULL);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int err;

	(void)fi;
	pthread_mutex_lock(&mu);
	err = fill_stat(ino, &st);
	pthread_mutex_unlock(&mu);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, 60.0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct nfile *f;

	(void)fi;
	pthread_mutex_lock(&mu);
	f = by_ino(ino);
	if (f && (to_set & FUSE_SET_ATTR_SIZE))
		f->size = attr->st_size;
	pthread_mutex_unlock(&mu);
	op_getattr(req, ino, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	int i, freei = -1;

	(void)mode;
	if (parent != FUSE_ROOT_ID || strlen(name) >= sizeof(files[0].name)) {
		fuse_reply_err(req, parent != FUSE_ROOT_ID ? EPERM : ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&mu);
	for (i = 0; i < NFILES; i++) {
		if (files[i].used && !strcmp(files[i].name, name))
			break;
		if (!files[i].used && freei < 0)
			freei = i;
	}
	if (i == NFILES && freei >= 0) {
		i = freei;
		files[i].used = 1;
		files[i].size = 0;
		strcpy(files[i].name, name);
	}
	pthread_mutex_unlock(&mu);
	if (i == NFILES)
		fuse_reply_err(req, ENOSPC);
	else
		reply_ino(req, (fuse_ino_t)i + 2, fi);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int i, err = ENOENT;

	pthread_mutex_lock(&mu);
	for (i = 0; i < NFILES; i++)
		if (parent == FUSE_ROOT_ID && files[i].used && !strcmp(files[i].name, name)) {
			files[i].used = 0;
			err = 0;
		}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, err);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct nfile *f;
	off_t end = 0;

	(void)fi;
	pthread_mutex_lock(&mu);
	f = by_ino(ino);
	if (f)
		end = f->size;
	pthread_mutex_unlock(&mu);
	if (off >= end)
		size = 0;
	else if ((off_t)size > end - off)
		size = (size_t)(end - off);
	fuse_reply_buf(req, zeros, size > MAXREQ ? MAXREQ : size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct nfile *f;

	(void)buf;
	(void)fi;
	pthread_mutex_lock(&mu);
	f = by_ino(ino);
	if (f && off + (off_t)size > f->size)
		f->size = off + (off_t)size;
	pthread_mutex_unlock(&mu);
	fuse_reply_write(req, size);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct nfile *f;

	(void)fi;
	pthread_mutex_lock(&mu);
	f = by_ino(ino);
	if (f && !mode && off + len > f->size)
		f->size = off + len;
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, mode ? EOPNOTSUPP : 0);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	op_ok(req, ino, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = sv.f_bfree = sv.f_bavail = 1ull << 30;   /* 4 TiB */
	sv.f_files = sv.f_ffree = NFILES;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init, .lookup = op_lookup, .getattr = op_getattr, .setattr = op_setattr,
	.create = op_create, .unlink = op_unlink, .open = op_open, .read = op_read,
	.write = op_write, .fallocate = op_fallocate, .flush = op_ok, .release = op_ok,
	.fsync = op_fsync, .statfs = op_statfs,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &o) != 0 || !o.mountpoint) {
		fprintf(stderr, "usage: nullfs MOUNTPOINT [-o options]\n");
		return 2;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_se;
	if (fuse_daemonize(o.foreground) != 0)
		goto out_mount;
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_mount;
	fuse_loop_cfg_set_max_threads(cfg, 8);   /* as hfs on 2 CPUs */
	ret = fuse_session_loop_mt(se, cfg) ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
out_mount:
	fuse_session_unmount(se);
out_se:
	fuse_session_destroy(se);
out:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
