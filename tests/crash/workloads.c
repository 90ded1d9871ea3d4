/*
 * workloads.c — the crash tool's scripted workloads.  Each is straight-line
 * code over ops.h; content and random choices come from the workload's
 * seed, so a seed replays a workload exactly.  Sync calls are where the
 * acceptable crash states are pinned down (model.h, DESIGN.md).
 */
#include <stdio.h>
#include <string.h>
#include "tests/crash/crash.h"

#define K 1024u
#define BLK (64u * K)   /* hfs file block: whole aligned blocks go the direct path */

static void name(char *b, size_t n, const char *fmt, int i)
{
	snprintf(b, n, fmt, i);
}

/* small files created, written and fsync'd one by one, with unsynced churn */
static void wl_create_fsync(struct wl *w)
{
	char p[64], q[64];
	int i;

	w_mkdir(w, "d");
	for (i = 0; i < 8; i++) {
		name(p, sizeof(p), "d/f%d", i);
		w_write(w, p, 0, 100 + wl_rand(w) % 20000, 0);
		w_fsync(w, p);
		name(q, sizeof(q), "c%d", i);
		w_write(w, q, 0, 1 + wl_rand(w) % 3000, 0);   /* never fsync'd */
	}
}

/* an append-only log, fdatasync'd every few appends */
static void wl_append_log(struct wl *w)
{
	int i;

	w_create(w, "log");
	for (i = 0; i < 24; i++) {
		w_append(w, "log", 1 + wl_rand(w) % 5000);
		if (i % 4 == 3)
			w_fdatasync(w, "log");
	}
}

/* small overwrites inside an existing file (read-modify-write of blocks) */
static void wl_overwrite_small(struct wl *w)
{
	int i;

	w_file(w, "f", 300 * K, 100 * K, 0);
	w_fsync(w, "f");
	for (i = 0; i < 20; i++) {
		w_write(w, "f", wl_rand(w) % (300 * K), 1 + wl_rand(w) % 9000, 0);
		if (i % 5 == 4)
			w_fsync(w, "f");
	}
}

/* large 64 KiB-aligned O_DIRECT writes, then aligned overwrites (COW) */
static void wl_direct_large(struct wl *w)
{
	int i;

	w_file(w, "big", 1024 * K, 128 * K, W_DIRECT);
	w_fsync(w, "big");
	for (i = 0; i < 10; i++) {
		w_write(w, "big", (wl_rand(w) % 16) * BLK, BLK * (1 + wl_rand(w) % 2), W_DIRECT);
		if (i % 3 == 2)
			w_fdatasync(w, "big");
	}
	w_write(w, "big2", 0, 128 * K, W_DIRECT);
}

/* large aligned buffered writes (the daemon still sees whole blocks) mixed with small */
static void wl_large_buffered(struct wl *w)
{
	int i;

	for (i = 0; i < 6; i++) {
		w_write(w, "a", (uint64_t)i * 2 * BLK, 2 * BLK, 0);
		w_write(w, "a", (uint64_t)i * 2 * BLK + 5000, 3000, 0);
		if (i % 2)
			w_fsync(w, "a");
	}
	w_write(w, "b", 3 * BLK, BLK, 0);   /* starts with a hole */
	w_fsync(w, "b");
}

/* truncate down, up, unaligned; the COW of a partial last block */
static void wl_truncate(struct wl *w)
{
	w_file(w, "t", 500 * K, 128 * K, 0);
	w_fsync(w, "t");
	w_truncate(w, "t", 300 * K + 123);
	w_truncate(w, "t", 100 * K);
	w_fsync(w, "t");
	w_truncate(w, "t", 700 * K);   /* grows with zeros */
	w_write(w, "t", 650 * K, 1000, 0);
	w_truncate(w, "t", 5);
	w_fdatasync(w, "t");
	w_truncate(w, "t", 0);
	w_append(w, "t", 7000);
}

/* punch holes: whole blocks, partial blocks, past the end */
static void wl_punch(struct wl *w)
{
	w_file(w, "p", 768 * K, 128 * K, W_DIRECT);
	w_fsync(w, "p");
	w_punch(w, "p", BLK, BLK);
	w_punch(w, "p", 3 * BLK + 100, 5000);
	w_fsync(w, "p");
	w_punch(w, "p", 5 * BLK - 4096, 2 * BLK + 8192);
	w_punch(w, "p", 700 * K, 200 * K);
	w_write(w, "p", BLK + 10, 100, 0);   /* into the hole */
	w_fdatasync(w, "p");
	w_punch(w, "p", 0, 768 * K);
}

/* atomic replace: write a temp file, fsync it, rename it over the target */
static void wl_replace(struct wl *w)
{
	int i;

	w_write(w, "conf", 0, 2000, 0);
	w_fsync(w, "conf");
	for (i = 0; i < 6; i++) {
		w_write(w, "conf.tmp", 0, 500 + wl_rand(w) % 70000, 0);
		if (i % 2 == 0)
			w_fsync(w, "conf.tmp");
		w_rename(w, "conf.tmp", "conf");
		if (i % 3 == 1)
			w_fsync_dir(w, "");
	}
}

/* rename files over existing targets across directories, and back */
static void wl_rename_over(struct wl *w)
{
	w_mkdir(w, "a");
	w_mkdir(w, "b");
	w_write(w, "a/x", 0, 3000, 0);
	w_write(w, "b/y", 0, 5000, 0);
	w_write(w, "b/z", 0, 7000, 0);
	w_fsync(w, "a/x");
	w_rename(w, "a/x", "b/y");   /* over an existing file in another dir */
	w_rename(w, "b/z", "a/z");
	w_fsync_dir(w, "b");
	w_rename(w, "b/y", "b/z");
	w_rename(w, "a/z", "b/y");
	w_link(w, "b/y", "a/hard");
	w_rename(w, "b/z", "a/hard");   /* over a hard link of another file */
	w_fsync(w, "a/hard");
}

/* rename directories with content, over an empty directory, deeper and back */
static void wl_rename_dirs(struct wl *w)
{
	w_mkdir(w, "p");
	w_mkdir(w, "p/q");
	w_write(w, "p/q/f", 0, 4000, 0);
	w_mkdir(w, "p/q/r");
	w_write(w, "p/q/r/g", 0, 9000, 0);
	w_mkdir(w, "e");
	w_fsync_dir(w, "");
	w_rename(w, "p/q", "e2");
	w_rename(w, "e2", "e");   /* over an empty directory */
	w_fsync(w, "e/r/g");
	w_mkdir(w, "p/s");
	w_rename(w, "e", "p/s/e");
	w_rename(w, "p", "z");
	w_fsync_dir(w, "z");
	w_rename(w, "z/s/e/r", "r");
}

/* hard links: link, unlink one name, link counts, write through a link */
static void wl_links(struct wl *w)
{
	w_mkdir(w, "d");
	w_write(w, "d/f", 0, 6000, 0);
	w_link(w, "d/f", "g");
	w_link(w, "d/f", "d/h");
	w_fsync(w, "g");
	w_write(w, "d/h", 100, 200, 0);
	w_unlink(w, "d/f");
	w_fsync(w, "d/h");
	w_unlink(w, "g");
	w_link(w, "d/h", "d/f");
	w_unlink(w, "d/h");
	w_fsync(w, "d/f");
	w_unlink(w, "d/f");
}

/* a directory tree built and torn down */
static void wl_tree(struct wl *w)
{
	char p[64];
	int i, j;

	for (i = 0; i < 4; i++) {
		name(p, sizeof(p), "t%d", i);
		w_mkdir(w, p);
		for (j = 0; j < 3; j++) {
			char q[80];

			snprintf(q, sizeof(q), "%s/s%d", p, j);
			w_mkdir(w, q);
			snprintf(q, sizeof(q), "%s/s%d/f", p, j);
			w_write(w, q, 0, 1 + wl_rand(w) % 8000, 0);
		}
		if (i % 2)
			w_fsync_dir(w, p);
	}
	w_unlink(w, "t1/s0/f");
	w_rmdir(w, "t1/s0");
	w_fsync_dir(w, "t1");
	for (j = 1; j < 3; j++) {
		char q[80];

		snprintf(q, sizeof(q), "t2/s%d/f", j);
		w_unlink(w, q);
		snprintf(q, sizeof(q), "t2/s%d", j);
		w_rmdir(w, q);
	}
	w_fsync_dir(w, "");
}

/* symlinks: create, rename, replace, unlink */
static void wl_symlinks(struct wl *w)
{
	w_mkdir(w, "d");
	w_symlink(w, "target/that/does/not/exist", "d/l1");
	w_symlink(w, "../d", "l2");
	w_write(w, "f", 0, 100, 0);
	w_fsync_dir(w, "d");
	w_rename(w, "d/l1", "l3");
	w_symlink(w, "f", "l4");
	w_rename(w, "l4", "l2");   /* a symlink over a symlink */
	w_fsync_dir(w, "");
	w_unlink(w, "l3");
	w_symlink(w, "a-much-longer-target-name-for-a-symlink-record-0123456789", "d/long");
}

/* xattrs on files and directories: set, replace, remove, large values */
static void wl_xattrs(struct wl *w)
{
	w_mkdir(w, "d");
	w_write(w, "d/f", 0, 1000, 0);
	w_setxattr(w, "d/f", "user.a", 10);
	w_setxattr(w, "d", "user.dir", 300);
	w_fsync(w, "d/f");
	w_setxattr(w, "d/f", "user.a", 4000);   /* replace with a large value */
	w_setxattr(w, "d/f", "user.b", 1);
	w_fsync(w, "d/f");
	w_removexattr(w, "d/f", "user.a");
	w_setxattr(w, "d/f", "user.c", 2048);
	w_removexattr(w, "d", "user.dir");
	w_fsync_dir(w, "d");
	w_setxattr(w, "d/f", "user.b", 3000);
}

/* many entries in one directory: B-tree splits, then half removed */
static void wl_many_files(struct wl *w)
{
	char p[64];
	int i;

	w_mkdir(w, "m");
	for (i = 0; i < 150; i++) {
		name(p, sizeof(p), "m/file-with-a-longish-name-%03d", i);
		w_write(w, p, 0, 1 + wl_rand(w) % 600, 0);
		if (i % 50 == 49)
			w_fsync_dir(w, "m");
	}
	for (i = 0; i < 150; i += 2) {
		name(p, sizeof(p), "m/file-with-a-longish-name-%03d", i);
		w_unlink(w, p);
	}
	w_fsync_dir(w, "m");
}

/* metadata-heavy with a one-big-block UNDO FIFO: a tree of ~400 leaves is
 * committed, then every leaf is changed without fsync, so one group needs
 * more pre-images than the FIFO holds and hfs must commit on its own
 * (min_forced), with the FIFO wrapping */
static void wl_undo_full(struct wl *w)
{
	char q[64];
	int i;

	for (i = 0; i < 8; i++) {
		name(q, sizeof(q), "d%d", i);
		w_mkdir(w, q);
	}
	for (i = 0; i < 480; i++) {
		snprintf(q, sizeof(q), "d%d/x%03d", i % 8, i);
		w_create(w, q);
		w_setxattr(w, q, "user.big1", 4000);
		w_setxattr(w, q, "user.big2", 4000);
		w_setxattr(w, q, "user.big3", 4000);
	}
	w_fsync_dir(w, "");
	for (i = 0; i < 480; i++) {
		snprintf(q, sizeof(q), "d%d/x%03d", i % 8, i);
		w_removexattr(w, q, "user.big1");
	}
	for (i = 1; i < 480; i += 3) {
		snprintf(q, sizeof(q), "d%d/x%03d", i % 8, i);
		w_unlink(w, q);
	}
}

/* fsync of directories only: names durable, contents written before */
static void wl_fsync_dir(struct wl *w)
{
	int i;

	w_mkdir(w, "d");
	for (i = 0; i < 5; i++) {
		char p[32];

		name(p, sizeof(p), "d/n%d", i);
		w_write(w, p, 0, 2000 * (unsigned)(i + 1), 0);
		w_fsync_dir(w, "d");
	}
	w_rename(w, "d/n0", "n0");
	w_unlink(w, "d/n1");
	w_fsync_dir(w, "d");
}

/* sparse files: writes far apart, holes read as zeros, extend by truncate */
static void wl_sparse(struct wl *w)
{
	w_write(w, "s", 10 * BLK, BLK, W_DIRECT);
	w_write(w, "s", 3 * BLK + 17, 1000, 0);
	w_fsync(w, "s");
	w_write(w, "s", 40 * BLK, 2 * BLK, W_DIRECT);
	w_truncate(w, "s", 50 * BLK + 3);
	w_fdatasync(w, "s");
	w_write(w, "s", 0, 10, 0);
	w_truncate(w, "s", 11 * BLK);
}

/* unlink of a file with a hard link left, chmod, recreate the same name */
static void wl_recreate(struct wl *w)
{
	int i;

	for (i = 0; i < 5; i++) {
		w_write(w, "same", 0, 1000 + (size_t)i * 3000, 0);
		w_chmod(w, "same", 0600 + (unsigned)i);
		if (i % 2 == 0)
			w_fsync(w, "same");
		w_unlink(w, "same");
	}
	w_mkdir(w, "same");
	w_fsync_dir(w, "");
	w_rmdir(w, "same");
	w_write(w, "same", 0, 100, 0);
}

/* random operations over a small namespace, fsync now and then */
static void wl_mixed(struct wl *w)
{
	static const char *const files[] = { "a", "b", "d1/c", "d1/d", "d2/e", "d2/f" };
	int i;

	w_mkdir(w, "d1");
	w_mkdir(w, "d2");
	for (i = 0; i < 60 && !w->err; i++) {
		const char *f = files[wl_rand(w) % 6], *g = files[wl_rand(w) % 6];
		int have = model_lookup(&w->m, f) >= 0, op = (int)(wl_rand(w) % 10);

		if (!have) {
			w_write(w, f, 0, 1 + wl_rand(w) % 100000, 0);
			continue;
		}
		switch (op) {
		case 0: w_write(w, f, wl_rand(w) % 200000, 1 + wl_rand(w) % 20000, 0); break;
		case 1: w_append(w, f, 1 + wl_rand(w) % 70000); break;
		case 2: w_truncate(w, f, wl_rand(w) % 150000); break;
		case 3: w_punch(w, f, wl_rand(w) % 100000, wl_rand(w) % 100000 + 1); break;
		case 4: if (strcmp(f, g)) w_rename(w, f, g); break;
		case 5: w_unlink(w, f); break;
		case 6: w_setxattr(w, f, wl_rand(w) % 2 ? "user.x" : "user.y", 1 + wl_rand(w) % 500); break;
		case 7: if (strcmp(f, g) && model_lookup(&w->m, g) < 0) w_link(w, f, g); break;
		case 8: w_fsync(w, f); break;
		default: w_write(w, f, (wl_rand(w) % 4) * BLK, BLK, W_DIRECT); break;
		}
	}
	w_fsync_dir(w, "");
}

/* write-heavy: several large files grown in turns, fsync'd in turns */
static void wl_write_heavy(struct wl *w)
{
	int i;

	for (i = 0; i < 24; i++) {
		char p[16];

		name(p, sizeof(p), "w%d", i % 4);
		w_write(w, p, (uint64_t)(i / 4) * 2 * BLK, 2 * BLK, i % 2 ? W_DIRECT : 0);
		w_write(w, p, wl_rand(w) % (6 * BLK), 1 + wl_rand(w) % 4000, 0);
		if (i % 5 == 4)
			w_fsync(w, p);
	}
}

/* an unlinked file that is still open keeps being written and fsync'd:
 * an orphan the mount after a crash must destroy */
static void wl_orphan(struct wl *w)
{
	w_write(w, "keep", 0, 5000, 0);
	w_fsync(w, "keep");
	w_write(w, "o", 0, 200 * K, 0);
	w_unlink_open(w, "o", 100 * K);
	w_write(w, "after", 0, 3000, 0);
	w_fsync(w, "after");
}

/* a large file truncated away: hfs frees its blocks in steps, and the
 * frees pending their commit (half the free space) force commits between
 * steps, so every step must leave a state the workload had */
static void wl_big_truncate(struct wl *w)
{
	w_file(w, "huge", 60u * K * K, 1024 * K, W_DIRECT);
	w_write(w, "small", 0, 5000, 0);
	w_fsync(w, "huge");
	w_truncate(w, "huge", 100 * K + 7);
	w_write(w, "small", 0, 100, 0);
	w_fsync(w, "small");
}

/* a large range punched out: hfs frees block by block, pending frees force
 * commits on the way */
static void wl_big_punch(struct wl *w)
{
	w_file(w, "huge", 60u * K * K, 1024 * K, W_DIRECT);
	w_fsync(w, "huge");
	w_punch(w, "huge", BLK + 100, 58u * K * K);
	w_write(w, "small", 0, 100, 0);
	w_fsync(w, "small");
}

/* 4 KiB-aligned overwrites of full 64 KiB blocks: overlay records
 * (fs/block.c), blocks driven past HFS_OVL_MAX (they become pieces
 * records, fs/pieces.c), an unaligned write over overlays (merge),
 * multi-piece writes, a truncate into and a punch over overlaid blocks, a
 * whole-block overwrite that replaces its overlays */
static void wl_overlay(struct wl *w)
{
	int i;

	w_file(w, "f", 8 * BLK, BLK, 0);
	w_fsync(w, "f");
	for (i = 0; i < 24; i++) {
		/* blocks 1 and 2 get most of them: more than 8 pieces each */
		uint64_t blk = i % 3 == 0 ? wl_rand(w) % 8 : 1 + (uint64_t)(i % 2);

		w_write(w, "f", blk * BLK + (wl_rand(w) % 16) * 4096, 4096 * (1 + (i % 5 == 4)), 0);
		if (i % 6 == 5)
			w_fsync(w, "f");
	}
	for (i = 0; i < 9; i++)                       /* the ninth: pieces */
		w_write(w, "f", 6 * BLK + (uint64_t)i * 8192, 4096, 0);
	w_write(w, "f", 6 * BLK + 20000, 100, 0);     /* into the pieces block */
	w_write(w, "f", 7 * BLK + 4096, 4096, 0);
	w_write(w, "f", 7 * BLK + 5000, 3000, 0);     /* unaligned over an overlay: merge */
	w_write(w, "f", 3 * BLK + 1000, 3000, 0);     /* unaligned: read-modify-write */
	w_write(w, "f", 2 * BLK, BLK, 0);             /* whole block over overlays */
	w_fdatasync(w, "f");
	w_write(w, "f", 5 * BLK + 8192, 4096, 0);
	w_truncate(w, "f", 5 * BLK + 10000);          /* into an overlaid block */
	w_write(w, "f", 4 * BLK + 4096, 8192, 0);
	w_punch(w, "f", 4 * BLK, BLK + 100);          /* over an overlaid block */
	w_fsync(w, "f");
	w_write(w, "f", 1 * BLK + 12288, 4096, 0);
}

/* fsync'd random 4 KiB overwrites, small unaligned writes and appends:
 * the fsync of a group that only wrote is made durable by REDO records
 * (fs/redo.c) with one device flush; a write over 128 KiB, a create or a
 * truncate in the group makes the next fsync commit instead */
static void wl_redo(struct wl *w)
{
	int i;

	w_file(w, "f", 16 * BLK, 4 * BLK, 0);
	w_create(w, "log");
	w_fsync(w, "f");
	for (i = 0; i < 48; i++) {
		uint64_t r = wl_rand(w);

		if (i % 8 == 3)
			w_append(w, "log", 1 + r % 6000);
		else if (i % 8 == 5)   /* unaligned, may grow the file */
			w_write(w, "f", r % (16 * BLK + 8192), 1 + r % 9000, 0);
		else
			w_write(w, "f", (r % 256) * 4096, 4096, 0);
		if (i % 4 == 3) {
			if (i % 8 == 7)
				w_fdatasync(w, i % 3 ? "f" : "log");
			else
				w_fsync(w, i % 3 ? "log" : "f");
		}
		if (i == 20)
			w_write(w, "f", 3 * BLK, 3 * BLK, 0);   /* not logged: too large */
		if (i == 33)
			w_create(w, "g");                       /* not logged: metadata */
		if (i == 40)
			w_truncate(w, "log", 1000);             /* not logged */
	}
	w_append(w, "log", 2000);   /* never fsync'd */
}

/* REDO records through an 8 MiB FIFO: logged writes of up to 128 KiB fill
 * half of it, which ends logging for the group (the next fsync commits),
 * so records of later groups wrap around the end of the FIFO (PAD) */
static void wl_redo_wrap(struct wl *w)
{
	int i;

	w_file(w, "f", 32 * BLK, 8 * BLK, 0);
	w_fsync(w, "f");
	for (i = 0; i < 90; i++) {
		uint64_t r = wl_rand(w);

		w_write(w, "f", r % (32 * BLK), 60 * K + r % (68 * K), 0);
		if (i % 4 == 3)
			w_fsync(w, "f");
	}
	w_write(w, "f", (wl_rand(w) % 512) * 4096, 4096, 0);
}

/* 4 KiB punches inside full blocks: each converts its block to a pieces
 * record that keeps pointing into the old extent (and its overlays) and
 * frees the punched 4 KiB blocks (FORMAT.md pieces records) */
static void wl_punch_pieces(struct wl *w)
{
	w_file(w, "f", 6 * BLK, BLK, W_DIRECT);
	w_write(w, "f", 2 * BLK + 8192, 4096, 0);          /* an overlay */
	w_fsync(w, "f");
	w_punch(w, "f", 4096, 8192);                       /* two pieces of block 0 */
	w_punch(w, "f", 2 * BLK + 4096, 12288);            /* over the overlay */
	w_fdatasync(w, "f");
	w_punch(w, "f", 0, 4096);                          /* a pieces block again */
	w_punch(w, "f", 3 * BLK + 60 * K, 8192);           /* across two blocks */
	w_write(w, "f", 12288, 100, 0);                    /* into a pieces block */
	w_write(w, "f", 2 * BLK + 4096, 4096, 0);          /* into its hole */
	w_fsync(w, "f");
	w_truncate(w, "f", 3 * BLK + 6000);                /* into a pieces block */
	w_write(w, "f", 2 * BLK, BLK, 0);                  /* whole block over pieces */
	w_fsync(w, "f");
}

/* every copy-on-write block stored as 4 KiB pieces (mount option pieces,
 * as on fragmented free space): writes, overwrites, punches, truncates */
static void wl_pieces(struct wl *w)
{
	w_file(w, "f", 6 * BLK, BLK, 0);
	w_fsync(w, "f");
	w_write(w, "f", BLK + 4096, 8192, 0);              /* whole pieces of a pieces block */
	w_write(w, "f", 2 * BLK + 1000, 3000, 0);          /* part of a piece */
	w_punch(w, "f", 3 * BLK + 8192, 12288);
	w_fdatasync(w, "f");
	w_write(w, "f", 4 * BLK, BLK, W_DIRECT);           /* a whole block */
	w_write(w, "f", 3 * BLK + 8192, 4096, 0);          /* into a punched hole */
	w_truncate(w, "f", 5 * BLK + 5000);                /* into a pieces block */
	w_write(w, "g", 0, 3 * BLK + 777, 0);
	w_fsync(w, "g");
	w_punch(w, "g", 4096, 2 * BLK);                    /* pieces and a whole block */
	w_write(w, "g", 6 * BLK + 300, 5000, 0);           /* past a hole */
	w_fsync(w, "g");
	w_unlink(w, "f");
	w_fsync_dir(w, "");
}

/* preallocated blocks (unwritten records) filled in place (D7): whole
 * blocks direct and buffered (CRC4K records), a part block merged with
 * zeros, overlays on a filled block, space kept past the end and reached
 * by a truncate */
static void wl_prealloc(struct wl *w)
{
	w_create(w, "f");
	w_falloc(w, "f", 0, 8 * BLK, 0);
	w_fsync(w, "f");
	w_write(w, "f", 0, 2 * BLK, W_DIRECT);
	w_write(w, "f", 2 * BLK, BLK, 0);
	w_write(w, "f", 3 * BLK + 4096, 8192, 0);
	w_fdatasync(w, "f");
	w_falloc(w, "f", 10 * BLK, 2 * BLK, 1);
	w_write(w, "f", 4 * BLK + 4096, 4096, 0);
	w_write(w, "f", 4096, 4096, 0);                    /* an overlay on a filled block */
	w_fsync(w, "f");
	w_truncate(w, "f", 11 * BLK);
	w_write(w, "f", 10 * BLK, BLK, W_DIRECT);
	w_write(w, "f", 5 * BLK + 100, 200, 0);
	w_fsync(w, "f");
}

/* large writes that end inside a block (held part blocks, fs/held.c):
 * sequential over a hole and over fallocated space, each completed by the
 * next write; fsync'd, read back live, cut by a truncate, and unsynced at
 * the end */
static void wl_held(struct wl *w)
{
	uint64_t i;

	w_create(w, "s");
	for (i = 0; i < 6; i++)
		w_write(w, "s", i * 100 * K, 100 * K, 0);
	w_fsync(w, "s");
	w_create(w, "p");
	w_falloc(w, "p", 0, 10 * BLK, 0);
	w_fsync(w, "p");
	for (i = 0; i < 6; i++)
		w_write(w, "p", 3000 + i * 100 * K, 100 * K, 0);
	w_fdatasync(w, "p");
	w_write(w, "s", 600 * K, 90 * K, 0);
	w_truncate(w, "s", 640 * K + 1000);
	w_write(w, "s", 700 * K, 70 * K, 0);
	w_fsync(w, "s");
	w_write(w, "p", 20 * BLK + 5, 130 * K, 0);
	w_write(w, "s", 770 * K, 200 * K, 0);
}

const struct workload workloads[] = {
	{ "create_fsync", "small files written and fsync'd, unsynced churn", wl_create_fsync, NULL, 0, 1, 0, NULL },
	{ "append_log", "appends with fdatasync every fourth", wl_append_log, NULL, 0, 1, 0, NULL },
	{ "overwrite_small", "small overwrites in a 300 KiB file", wl_overwrite_small, NULL, 0, 0, 0, NULL },
	{ "overlay", "4 KiB overwrites of 64 KiB blocks, to pieces, merge, truncate, punch", wl_overlay, NULL, 0, 0, 0, NULL },
	{ "direct_large", "64 KiB-aligned O_DIRECT writes and overwrites", wl_direct_large, NULL, 0, 1, 0, NULL },
	{ "large_buffered", "aligned large buffered writes mixed with small", wl_large_buffered, NULL, 0, 0, 0, NULL },
	{ "truncate", "truncate down, up, unaligned, to zero", wl_truncate, NULL, 0, 0, 0, NULL },
	{ "punch", "punch holes: whole, partial, past the end", wl_punch, NULL, 0, 0, 0, NULL },
	{ "replace", "write temp, fsync, rename over the target", wl_replace, NULL, 0, 1, 0, NULL },
	{ "rename_over", "rename over existing targets across directories", wl_rename_over, NULL, 0, 0, 0, NULL },
	{ "rename_dirs", "rename directory trees, over an empty directory", wl_rename_dirs, NULL, 0, 0, 0, NULL },
	{ "links", "hard links, unlink one name, write through a link", wl_links, NULL, 0, 0, 0, NULL },
	{ "tree", "directory tree built and partly removed", wl_tree, NULL, 0, 1, 0, NULL },
	{ "symlinks", "symlinks created, renamed over, removed", wl_symlinks, NULL, 0, 0, 0, NULL },
	{ "xattrs", "xattrs set, replaced, removed, 4000-byte values", wl_xattrs, NULL, 0, 0, 0, NULL },
	{ "many_files", "150 entries in a directory, half removed", wl_many_files, NULL, 0, 1, 0, NULL },
	{ "undo_full", "8 MiB UNDO FIFO filled by metadata, no fsync", wl_undo_full, "8M", 1, 0, 40, NULL },
	{ "fsync_dir", "only directories fsync'd", wl_fsync_dir, NULL, 0, 0, 0, NULL },
	{ "sparse", "sparse file: far writes, holes, truncate", wl_sparse, NULL, 0, 0, 0, NULL },
	{ "recreate", "one name recreated as file and directory, chmod", wl_recreate, NULL, 0, 0, 0, NULL },
	{ "mixed", "60 random operations on six names", wl_mixed, NULL, 0, 1, 0, NULL },
	{ "write_heavy", "four large files grown in turns", wl_write_heavy, NULL, 0, 1, 0, NULL },
	{ "orphan", "an unlinked open file written and fsync'd", wl_orphan, NULL, 0, 0, 0, NULL },
	{ "big_truncate", "60 MiB file truncated to 100 KiB", wl_big_truncate, NULL, 0, 0, 40, NULL },
	{ "big_punch", "58 MiB punched out of a 60 MiB file", wl_big_punch, NULL, 0, 0, 40, NULL },
	{ "redo", "fsync'd 4 KiB overwrites and appends (REDO records), unlogged ops between", wl_redo, NULL, 0, 1, 0, NULL },
	{ "redo_wrap", "REDO records of 60-128 KiB writes around an 8 MiB FIFO", wl_redo_wrap, "8M", 0, 1, 40, NULL },
	{ "punch_pieces", "4 KiB punches inside blocks: pieces records", wl_punch_pieces, NULL, 0, 0, 0, NULL },
	{ "prealloc", "fallocated blocks filled in place, overlays on them, kept space past the end", wl_prealloc, NULL, 0, 0, 0, NULL },
	{ "held", "large writes ending inside blocks, over holes and fallocated space", wl_held, NULL, 0, 1, 0, NULL },
	{ "pieces", "every block stored as 4 KiB pieces (-o pieces)", wl_pieces, NULL, 0, 1, 0,
	  "pieces" },
	{ NULL, NULL, NULL, NULL, 0, 0, 0, NULL },
};
