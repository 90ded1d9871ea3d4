/*
 * mkfs.c — mkfs.hfs: format one or more devices as an hfs volume set.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/hfs.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mkfs.hfs [-f] [-q] [-L label] [-m single|stripe|mirror|raid10] [-s stripe_unit]\n"
		"                [-S size] [-U undo_size] DEV...\n"
		"  -f           overwrite a device that already holds a filesystem or label\n"
		"  -L label     volume label (at most %d bytes)\n"
		"  -m layout    single (1 device), stripe (RAID0, 2 or more), mirror (N-way, 2 or\n"
		"               more) or raid10 (stripe of 2-way mirrors, an even number >= 4);\n"
		"               default: single for 1 device, mirror for more\n"
		"  -s size      stripe unit of stripe/raid10, a power of two from 4K to 16M\n"
		"               (default 64K)\n"
		"  -S size      filesystem size, e.g. 512M (default: the whole volume)\n"
		"  -U size      UNDO FIFO size, e.g. 64M (at least 8M; default: 1/64 of the volume, 16M..512M)\n"
		"  -q           quiet\n", HFS_LABEL_MAX - 1);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct hfs_format_params p = { 0 };
	int c, ret;

	while ((c = getopt(argc, argv, "fqL:m:s:S:U:h")) != -1) {
		switch (c) {
		case 'f': p.force = 1; break;
		case 'q': p.quiet = 1; break;
		case 'L':
			if (strlen(optarg) >= HFS_LABEL_MAX) {
				fprintf(stderr, "mkfs.hfs: label longer than %d bytes\n", HFS_LABEL_MAX - 1);
				return 1;
			}
			p.label = optarg;
			break;
		case 'm':
			if (raid_layout_parse(optarg, &p.layout)) {
				fprintf(stderr, "mkfs.hfs: unknown layout '%s'\n", optarg);
				return 1;
			}
			break;
		case 's': {
			uint64_t v;

			if (parse_size(optarg, &v)) {
				fprintf(stderr, "mkfs.hfs: bad stripe unit '%s' (a size like 64K)\n", optarg);
				return 1;
			}
			if (v < RAID_SECTOR || v > (16u << 20) || (v & (v - 1))) {
				fprintf(stderr, "mkfs.hfs: stripe unit %s: must be a power of two from 4K to 16M\n",
					optarg);
				return 1;
			}
			p.stripe_unit = (uint32_t)v;
			break;
		}
		case 'S':
			if (parse_size(optarg, &p.size) || p.size < HFS_MIN_SIZE) {
				fprintf(stderr, "mkfs.hfs: bad size '%s' (at least %lluM)\n", optarg,
					(unsigned long long)(HFS_MIN_SIZE >> 20));
				return 1;
			}
			break;
		case 'U':
			if (parse_size(optarg, &p.undo_size) || p.undo_size < HFS_BIGBLOCK) {
				fprintf(stderr, "mkfs.hfs: bad UNDO size '%s' (at least 8M)\n", optarg);
				return 1;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	if (p.stripe_unit && p.layout != RAID_LAYOUT_STRIPE && p.layout != RAID_LAYOUT_RAID10) {
		fprintf(stderr, "mkfs.hfs: -s (stripe unit) applies to -m stripe and -m raid10 only\n");
		return 1;
	}
	ret = hfs_format((const char *const *)argv + optind, argc - optind, &p, stdout);
	if (ret) {
		/* the layers below already said what was wrong with which device */
		fprintf(stderr, "mkfs.hfs: failed: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
