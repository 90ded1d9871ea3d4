/*
 * wlog.c — the crash tests' tool over raid/'s write-log device:
 *   wlog count LOG                 -> "RECORDS FLUSHES"
 *   wlog flushes LOG               -> record index of every flush, one a line
 *   wlog replay LOG IMAGE UPTO [DROPMASK [SEED]]
 *        apply the first UPTO records to IMAGE (a copy of the device taken
 *        before the mount), skipping the unflushed writes in DROPMASK; with
 *        SEED != 0 the unflushed writes are dropped/reordered/torn by that
 *        seed instead (raid_wlog_apply_tail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "raid/raid.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "count")) {
		long r, f;
		int ret = raid_wlog_count(argv[2], &r, &f);

		if (ret) {
			fprintf(stderr, "wlog: %s: %s\n", argv[2], strerror(-ret));
			return 1;
		}
		printf("%ld %ld\n", r, f);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "flushes")) {
		static long idx[1 << 20];
		int n = raid_wlog_flush_points(argv[2], 0, idx, 1 << 20), i;

		if (n < 0) {
			fprintf(stderr, "wlog: %s: %s\n", argv[2], strerror(-n));
			return 1;
		}
		for (i = 0; i < n; i++)
			printf("%ld\n", idx[i]);
		return 0;
	}
	if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "replay")) {
		uint64_t mask = argc >= 6 ? strtoull(argv[5], NULL, 0) : 0;
		uint64_t seed = argc == 7 ? strtoull(argv[6], NULL, 0) : 0;
		int n = raid_wlog_replay_seed(argv[2], 0, argv[3], atol(argv[4]), mask, seed);

		if (n < 0) {
			fprintf(stderr, "wlog: replay: %s\n", strerror(-n));
			return 1;
		}
		printf("%d\n", n);
		return 0;
	}
	fprintf(stderr, "usage: wlog count LOG | flushes LOG | replay LOG IMAGE UPTO [DROPMASK [SEED]]\n");
	return 2;
}
