/*
 * util.c — logging, CRC and I/O buffer helpers shared by fs/ (and the tools
 * through hfs.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <isa-l/crc.h>
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
	if (hfs_log_info_to_syslog && !strcmp(level, "info"))
		syslog(LOG_INFO, "info: %s:%d: %s", file, line, msg);
	else
		fprintf(stderr, "hfs: %s: %s:%d: %s\n", level, file, line, msg);
}

int hfs_log_info_to_syslog;

/* ISA-L's folding CRC (PCLMULQDQ/AVX-512 where the CPU has them, chosen at
 * run time) gives the same values as zlib's crc32, 10-20x faster: file
 * data is checksummed on every write and read, 64 KiB at a time. */
uint32_t hfs_crc32(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		/* ISA-L takes a 64-bit length; chunks keep any size safe */
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		crc = crc32_gzip_refl(crc, (unsigned char *)b, (uint64_t)n);
		b += n;
		len -= n;
	}
	return crc;
}

uint32_t hfs_block_crc(const void *blk, size_t len, size_t crc_off)
{
	static const uint8_t zero[4];
	const uint8_t *p = blk;
	uint32_t c = 0;

	c = hfs_crc32(c, p, crc_off);
	c = hfs_crc32(c, zero, 4);
	c = hfs_crc32(c, p + crc_off + 4, len - crc_off - 4);
	return c;
}

uint64_t hfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Buffers that direct I/O reads or writes on every request (the FUSE
 * receive and reply buffers, the write staging area) sit in transparent
 * huge pages where the kernel offers them: pinning a 1 MiB transfer is
 * then one folio instead of 256 pages (get_user_pages was 8% of the
 * daemon's CPU in a sequential write).  Page-aligned either way. */
#define IOBUF_HUGE (2u << 20)
void *hfs_iobuf_alloc(size_t len)
{
	size_t al = len >= IOBUF_HUGE / 2 ? IOBUF_HUGE : 4096;
	void *p;

	len = (len + al - 1) & ~(al - 1);
	if (posix_memalign(&p, al, len))
		return NULL;
	if (al == IOBUF_HUGE)
		(void)madvise(p, len, MADV_HUGEPAGE);   /* a hint: 4 KiB pages work too */
	return p;
}

/* The per-thread buffers of hfs_iobuf_local: one key, a small table per
 * thread, freed with the thread. */
struct iobuf_local {
	void *p[HFS_IOBUF_KINDS];
	size_t cap[HFS_IOBUF_KINDS];
	unsigned char lent[HFS_IOBUF_KINDS];   /* hfs_iobuf_local_lend: not ours to free */
};
static pthread_key_t iobuf_key;
static pthread_once_t iobuf_once = PTHREAD_ONCE_INIT;

static void iobuf_local_free(void *v)
{
	struct iobuf_local *l = v;
	unsigned i;

	for (i = 0; i < HFS_IOBUF_KINDS; i++)
		if (!l->lent[i])
			free(l->p[i]);
	free(l);
}
static void iobuf_key_init(void) { (void)pthread_key_create(&iobuf_key, iobuf_local_free); }

static struct iobuf_local *iobuf_table(void)
{
	struct iobuf_local *l;

	pthread_once(&iobuf_once, iobuf_key_init);
	l = pthread_getspecific(iobuf_key);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return NULL;
		if (pthread_setspecific(iobuf_key, l)) {
			free(l);
			return NULL;
		}
	}
	return l;
}

void *hfs_iobuf_local(unsigned which, size_t len)
{
	struct iobuf_local *l = iobuf_table();
	void *p;

	if (!l)
		return NULL;
	if (len > l->cap[which]) {
		len = (len + 4095) & ~(size_t)4095;
		p = hfs_iobuf_alloc(len);
		if (!p)
			return NULL;
		if (!l->lent[which])
			free(l->p[which]);
		l->p[which] = p;
		l->cap[which] = len;
		l->lent[which] = 0;
	}
	return l->p[which];
}

int hfs_iobuf_local_lend(unsigned which, void *p, size_t cap)
{
	struct iobuf_local *l = iobuf_table();

	if (!l)
		return -ENOMEM;
	if (!l->lent[which])
		free(l->p[which]);
	l->p[which] = p;
	l->cap[which] = cap;
	l->lent[which] = 1;
	return 0;
}
