/* helpers.c — see helpers.h. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tests/unit/helpers.h"

int tu_mkimage(char *path, size_t cap, uint64_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, cap, "%s/hfs-unit-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

void tu_rmimage(const char *path)
{
	unlink(path);
}

static uint64_t tu_state;

void tu_seed(uint64_t seed)
{
	tu_state = seed ? seed : 0x9e3779b97f4a7c15ull;
	fprintf(stderr, "# prng seed %llu\n", (unsigned long long)seed);
}

uint64_t tu_rand(void)
{
	uint64_t x = tu_state ? tu_state : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	tu_state = x;
	return x;
}
