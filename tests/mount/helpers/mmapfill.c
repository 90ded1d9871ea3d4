/*
 * mmapfill — write a file through a shared writable mapping, as xfstests'
 * t_enospc does, and say how it ended; or check what such a write left.
 *
 *   mmapfill [-f] FILE SIZE     open O_RDWR|O_CREAT, ftruncate (-f: fallocate)
 *                               to SIZE, mmap MAP_SHARED, store a pattern in
 *                               every byte, msync(MS_SYNC), munmap, fsync, close
 *   mmapfill -c FILE SIZE       check that FILE's first SIZE bytes hold it
 *
 * SIZE takes a K or M suffix.  Exit status: 0 done (or the pattern is there),
 * 2 ENOSPC (from msync, fsync or close: the kernel could not write the
 * pages back), 3 SIGBUS on a store, 4 the mmap failed (e.g. ENODEV on a
 * direct_io file), 5 the pattern differs, 1 any other error (usage too).
 * The error is printed as "STEP: strerror".
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static sigjmp_buf bus_jmp;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static unsigned char pattern(size_t off)
{
	return (unsigned char)(((off >> 12) % 251) + 1 + (off & 3));
}

static int fail(const char *step, int err)
{
	printf("%s: %s\n", step, strerror(err));
	return err == ENOSPC ? 2 : 1;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || !v)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int check(const char *path, size_t size)
{
	unsigned char buf[65536];
	size_t off = 0, i;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return fail("open", errno);
	while (off < size) {
		size_t want = size - off < sizeof(buf) ? size - off : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n <= 0) {
			printf("read: %s at %zu\n", n < 0 ? strerror(errno) : "short file", off);
			close(fd);
			return 1;
		}
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(off + i)) {
				printf("differs at byte %zu\n", off + i);
				close(fd);
				return 5;
			}
		off += (size_t)n;
	}
	close(fd);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	int prealloc = 0, verify = 0, fd, optind = 1;
	volatile size_t i = 0;
	unsigned char *p;
	size_t size;

	/* no getopt: the build's libbsd overlay would want libbsd linked */
	if (argc > 1 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "-c"))) {
		prealloc = argv[1][1] == 'f';
		verify = argv[1][1] == 'c';
		optind = 2;
	}
	if (argc - optind != 2 || parse_size(argv[optind + 1], &size)) {
		fprintf(stderr, "usage: mmapfill [-f|-c] FILE SIZE\n");
		return 1;
	}
	if (verify)
		return check(argv[optind], size);
	fd = open(argv[optind], O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fail("open", errno);
	if (prealloc ? fallocate(fd, 0, 0, (off_t)size) : ftruncate(fd, (off_t)size))
		return fail(prealloc ? "fallocate" : "ftruncate", errno);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return 4;
	}
	signal(SIGBUS, on_bus);
	if (sigsetjmp(bus_jmp, 1)) {
		printf("SIGBUS at byte %zu\n", (size_t)i);
		return 3;
	}
	for (i = 0; i < size; i++)
		p[i] = pattern(i);
	if (msync(p, size, MS_SYNC))
		return fail("msync", errno);
	if (munmap(p, size))
		return fail("munmap", errno);
	if (fsync(fd))
		return fail("fsync", errno);
	if (close(fd))
		return fail("close", errno);
	printf("ok\n");
	return 0;
}
