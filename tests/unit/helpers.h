/*
 * helpers.h — shared helpers for the cmocka unit tests (tests/unit/).
 * Include after <setjmp.h>/<stdarg.h>/<stddef.h>/<cmocka.h>.
 */
#ifndef HFS_TEST_HELPERS_H
#define HFS_TEST_HELPERS_H

#include <stdint.h>
#include <stddef.h>

/* Create (or truncate) a sparse image file of 'size' bytes under
 * $TMPDIR (default /tmp); writes its path to 'path' (cap bytes).  Returns 0. */
int tu_mkimage(char *path, size_t cap, uint64_t size);
/* Remove an image made by tu_mkimage. */
void tu_rmimage(const char *path);
/* Seeded xorshift PRNG; the seed is printed once so a failure replays. */
uint64_t tu_rand(void);
void tu_seed(uint64_t seed);

#endif
