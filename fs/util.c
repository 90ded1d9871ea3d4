/*
 * util.c — logging and CRC helpers shared by fs/ (and the tools through hfs.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include "fs/hfs_int.h"

/* Log one line to stderr: "hfs: level: file:line: message".  Messages are
 * O(1) per flush group plus one per anomaly (STYLE: tracing). */
void hfs_log(const char *level, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "hfs: %s: %s:%d: %s\n", level, file, line, msg);
}

uint32_t hfs_block_crc(const void *blk, size_t len, size_t crc_off)
{
	static const uint8_t zero[4];
	const uint8_t *p = blk;
	uLong c = crc32(0L, Z_NULL, 0);

	c = crc32(c, p, (uInt)crc_off);
	c = crc32(c, zero, 4);
	c = crc32(c, p + crc_off + 4, (uInt)(len - crc_off - 4));
	return (uint32_t)c;
}

uint64_t hfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
