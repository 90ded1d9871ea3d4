/*
 * dirstress DIR NSTABLE ROUNDS — readdir while entries come and go.
 *
 * Creates NSTABLE "s<i>" entries, then lists DIR ROUNDS times with one
 * opendir/readdir pass each, creating and deleting "c<j>" entries between
 * readdir calls.  Asserts for each pass: no name twice, every stable entry
 * exactly once.  Then telldir/seekdir: cookies taken during a pass, used
 * after more entries came and went (the stable ones stay), must resume at
 * the entry that followed them (entries created since may come first).  Prints ok/FAIL lines; exit status is the
 * number of failures (capped at 100).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fails;

static void check(int cond, const char *what, const char *detail)
{
	if (cond) {
		printf("ok: %s\n", what);
	} else {
		printf("FAIL: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
		fails++;
	}
}

static int mk(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_CREAT | O_WRONLY, 0644);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int nstable, rounds, dfd, r, i, churn = 0, live_lo = 0;
	char name[64], detail[256];
	unsigned char *seen;

	if (argc != 4 || (nstable = atoi(argv[2])) <= 0 || (rounds = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: dirstress DIR NSTABLE ROUNDS\n");
		return 100;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(argv[1]);
		return 100;
	}
	seen = calloc((size_t)nstable, 1);
	if (!seen)
		return 100;
	for (i = 0; i < nstable; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		if (mk(dfd, name)) {
			perror("create");
			return 100;
		}
	}
	for (r = 0; r < rounds; r++) {
		DIR *d = opendir(argv[1]);
		struct dirent *e;
		int dups = 0, missing = 0, n = 0, bad = 0;
		/* names seen this pass: stable ones in seen[], churn ones by a
		 * small open-addressing set keyed by their number */
		int cap = 1 << 20, *cs = calloc((size_t)cap, sizeof(int));

		if (!d || !cs)
			return 100;
		memset(seen, 0, (size_t)nstable);
		while ((e = readdir(d))) {
			if (e->d_name[0] == 's') {
				i = atoi(e->d_name + 1);
				if (i < 0 || i >= nstable)
					bad++;
				else if (seen[i]++)
					dups++;
			} else if (e->d_name[0] == 'c') {
				unsigned h = (unsigned)atoi(e->d_name + 1) + 1, k = h * 2654435761u % (unsigned)cap;

				while (cs[k] && cs[k] != (int)h)
					k = (k + 1) % (unsigned)cap;
				if (cs[k])
					dups++;
				cs[k] = (int)h;
			} else if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				bad++;
			}
			/* every 16 entries: 8 new churn entries, the 6 oldest go */
			if (++n % 16 == 0) {
				for (i = 0; i < 8; i++) {
					snprintf(name, sizeof(name), "c%d", churn++);
					if (mk(dfd, name))
						bad++;
				}
				for (i = 0; i < 6 && live_lo < churn; i++) {
					snprintf(name, sizeof(name), "c%d", live_lo++);
					if (unlinkat(dfd, name, 0))
						bad++;
				}
			}
		}
		for (i = 0; i < nstable; i++)
			missing += !seen[i];
		closedir(d);
		free(cs);
		snprintf(detail, sizeof(detail), "%d duplicates, %d untouched entries missed, %d bad", dups,
			 missing, bad);
		snprintf(name, sizeof(name), "pass %d under churn", r + 1);
		check(!dups && !missing && !bad, name, detail);
	}

	/* telldir/seekdir: positions taken in one pass stay valid after churn */
	{
		DIR *d = opendir(argv[1]);
		struct dirent *e;
		long pos[64];
		char next[64][256];
		int np = 0, n = 0, okc = 0, tested = 0;

		if (!d)
			return 100;
		for (;;) {
			long p = telldir(d);

			e = readdir(d);
			if (!e)
				break;
			if (++n % 97 == 0 && np < 64 && e->d_name[0] == 's') {
				pos[np] = p;
				snprintf(next[np], sizeof(next[np]), "%s", e->d_name);
				np++;
			}
		}
		for (i = 0; i < 500; i++) {
			snprintf(name, sizeof(name), "c%d", churn++);
			mk(dfd, name);
			snprintf(name, sizeof(name), "c%d", live_lo++);
			unlinkat(dfd, name, 0);
		}
		for (i = np - 1; i >= 0; i--) {   /* backwards: each seek goes back */
			/* entries created since may come first; the first stable
			 * one must be the entry that followed the cookie */
			seekdir(d, pos[i]);
			while ((e = readdir(d)) && e->d_name[0] == 'c')
				;
			tested++;
			okc += e && !strcmp(e->d_name, next[i]);
		}
		closedir(d);
		snprintf(detail, sizeof(detail), "%d of %d cookies resumed at their entry", okc, tested);
		check(tested >= 10 && okc == tested, "telldir/seekdir cookies valid after churn", detail);
	}
	free(seen);
	close(dfd);
	printf("dirstress: %d failed\n", fails);
	return fails > 100 ? 100 : fails;
}
