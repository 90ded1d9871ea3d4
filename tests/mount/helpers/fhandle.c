/*
 * fhandle — file handles for t_handles.sh.
 *
 *   fhandle save PATH        prints PATH's handle as TYPE:HEX (name_to_handle_at)
 *   fhandle open MNT HANDLE  open_by_handle_at(MNT's fd, HANDLE, O_RDONLY) and
 *                            prints "ino=N" and, for a directory, " path=P"
 *                            (the kernel connects directories to the tree;
 *                            a file decoded afresh has no path), for a regular
 *                            file " data=" and its first line; on failure prints
 *                            "errno=NAME" (ESTALE, ENOENT, ...) and exits 1
 *   fhandle gen HANDLE       prints HANDLE with its generation changed (a FUSE
 *                            handle is nodeid hi, nodeid lo, generation: u32s)
 * Exit status 2: bad usage or input (not a handle result).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXH 128

static const char *errname(int e)
{
	switch (e) {
	case ESTALE: return "ESTALE";
	case ENOENT: return "ENOENT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case ENOTDIR: return "ENOTDIR";
	default: return strerror(e);
	}
}

static struct file_handle *alloc_handle(void)
{
	struct file_handle *h = calloc(1, sizeof(*h) + MAXH);

	if (!h) {
		perror("calloc");
		exit(2);
	}
	h->handle_bytes = MAXH;
	return h;
}

static void print_handle(const struct file_handle *h)
{
	printf("%d:", h->handle_type);
	for (unsigned i = 0; i < h->handle_bytes; i++)
		printf("%02x", h->f_handle[i]);
	printf("\n");
}

static struct file_handle *parse_handle(const char *s)
{
	struct file_handle *h = alloc_handle();
	char *end;
	size_t n;
	long t = strtol(s, &end, 10);

	if (end == s || *end != ':' || (n = strlen(end + 1)) % 2 || n / 2 > MAXH || n == 0) {
		fprintf(stderr, "fhandle: bad handle '%s' (want TYPE:HEX)\n", s);
		free(h);
		exit(2);
	}
	h->handle_type = (int)t;
	h->handle_bytes = (unsigned)(n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(end + 1 + 2 * i, "%2x", &v) != 1) {
			fprintf(stderr, "fhandle: bad hex in '%s'\n", s);
			free(h);
			exit(2);
		}
		h->f_handle[i] = (unsigned char)v;
	}
	return h;
}

int main(int argc, char **argv)
{
	struct file_handle *h;
	int mid, mfd, fd;

	if (argc == 3 && !strcmp(argv[1], "save")) {
		int ret = 0;

		h = alloc_handle();
		if (name_to_handle_at(AT_FDCWD, argv[2], h, &mid, 0)) {
			printf("errno=%s\n", errname(errno));
			ret = 1;
		} else {
			print_handle(h);
		}
		free(h);
		return ret;
	}
	if (argc == 3 && !strcmp(argv[1], "gen")) {
		h = parse_handle(argv[2]);
		if (h->handle_bytes < 12) {
			fprintf(stderr, "fhandle: handle too short for a generation\n");
			free(h);
			return 2;
		}
		h->f_handle[8] ^= 0x5a;   /* u32 #2, its low byte */
		print_handle(h);
		free(h);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "open")) {
		char link[64], path[4096], data[128];
		struct stat st;
		ssize_t n;

		h = parse_handle(argv[3]);
		mfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (mfd < 0) {
			perror(argv[2]);
			free(h);
			return 2;
		}
		fd = open_by_handle_at(mfd, h, O_RDONLY);
		free(h);
		close(mfd);
		if (fd < 0) {
			printf("errno=%s\n", errname(errno));
			return 1;
		}
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n < 0 || fstat(fd, &st)) {
			perror("readlink/fstat");
			return 2;
		}
		path[n] = 0;
		printf("ino=%llu", (unsigned long long)st.st_ino);
		if (S_ISDIR(st.st_mode))
			printf(" path=%s", path);
		if (S_ISREG(st.st_mode)) {
			n = read(fd, data, sizeof(data) - 1);
			if (n < 0) {
				printf(" read errno=%s\n", errname(errno));
				return 1;
			}
			data[n] = 0;
			data[strcspn(data, "\n")] = 0;
			printf(" data=%s", data);
		}
		printf("\n");
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: fhandle save PATH | open MNT HANDLE | gen HANDLE\n");
	return 2;
}
