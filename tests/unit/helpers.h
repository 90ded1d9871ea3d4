/*
 * helpers.h — shared helpers for the cmocka unit tests (tests/unit/).
 * Include after <setjmp.h>/<stdarg.h>/<stddef.h>/<cmocka.h>.
 */
#ifndef HFS_TEST_HELPERS_H
#define HFS_TEST_HELPERS_H

#include <stdint.h>
#include <stddef.h>
#include "tests/unit/fileops.h"

/* Create (or truncate) a sparse image file of 'size' bytes under
 * $TMPDIR (default /tmp); writes its path to 'path' (cap bytes).  Returns 0. */
int tu_mkimage(char *path, size_t cap, uint64_t size);
/* Remove an image made by tu_mkimage. */
void tu_rmimage(const char *path);
/* Two image files of one size and a fault-rules file (raid/fault.c), the
 * fixture of the tests that run a set over faulty legs. */
struct tu_legs {
	char img[2][256];
	const char *p[2];     /* img, as raid_create/raid_open take them */
	char rules[256];
};
/* cmocka setup/teardown of a struct tu_legs in *st; tag names the rules
 * file ($TMPDIR/hfs-<tag>-XXXXXX). */
int tu_legs_setup(void **st, uint64_t size, const char *tag);
int tu_legs_teardown(void **st);
/* Replace the rules file (a new inode, so the fault device's 50 ms check
 * sees the change even within one mtime tick). */
void tu_legs_rules(struct tu_legs *f, const char *text);
/* The format minor in the volume header of a one-device image (set != 0:
 * rewrite it to set first). */
unsigned tu_img_minor(const char *img, int set);
/* A new empty regular file's inode number (asserts it was made). */
uint64_t tu_new_ino(struct hfs_fs *fs);
/* Block fbo's DATA record of inode ino, looked up with fs->lock held. */
struct rec;
void tu_get_rec(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r);
/* Seeded xorshift PRNG; the seed is printed once so a failure replays. */
uint64_t tu_rand(void);
void tu_seed(uint64_t seed);

#endif
