/*
 * norecovery.c — mount -o ro,norecovery: the last committed state without
 * writing a byte.
 *
 * An interrupted flush leaves META blocks (B-tree nodes, free map) half
 * new on disk and their pre-images in the UNDO FIFO; recovery writes the
 * pre-images back (undo.c).  A norecovery mount writes nothing (the set
 * is opened read-only), so it collects the pre-images into memory and
 * serves them through the bufcache's load hook in place of the disk's
 * bytes: every META buffer of the interrupted group reads as it was at
 * the last commit, the others come from disk as usual.  File data needs
 * nothing: it is copy-on-write, so the committed state's data was never
 * overwritten.  The header read is already the last committed one.
 *
 * Pre-images are whole META buffers (hfs_undo_hook): a record of any
 * other shape is not from this format and the mount refuses (-EUCLEAN).
 * Memory: one buffer (16 KiB) per record, at most the FIFO's worth.
 * Immutable after hfs_norec_load (read by bufcache threads without a lock).
 */
#include <stdlib.h>
#include <string.h>
#include "fs/hfs_int.h"

struct norec_rec { uint64_t raw; uint8_t *data; };
struct hfs_norec {
	int n, cap;
	struct norec_rec *rec;   /* sorted by raw after load */
};

static int put(void *priv, uint64_t raw, const void *data, uint32_t len)
{
	struct hfs_norec *o = priv;

	if (len != HFS_BUFSIZE || raw % HFS_BUFSIZE)
		return HFS_CORRUPT("UNDO record at %#llx of %u bytes is not a whole META buffer",
				   (unsigned long long)raw, len);
	if (o->n == o->cap) {
		int cap = o->cap ? o->cap * 2 : 64;
		struct norec_rec *nr = realloc(o->rec, (size_t)cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		o->rec = nr;
		o->cap = cap;
	}
	o->rec[o->n].data = malloc(HFS_BUFSIZE);
	if (!o->rec[o->n].data)
		return -ENOMEM;
	memcpy(o->rec[o->n].data, data, HFS_BUFSIZE);
	o->rec[o->n++].raw = raw;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	const struct norec_rec *x = a, *y = b;

	return x->raw < y->raw ? -1 : x->raw > y->raw;
}

static void norec_free(struct hfs_norec *o)
{
	int i;

	if (!o)
		return;
	for (i = 0; i < o->n; i++)
		free(o->rec[i].data);
	free(o->rec);
	free(o);
}

int hfs_norec_load(struct hfs_fs *fs, int *nrec)
{
	struct hfs_norec *o = calloc(1, sizeof(*o));
	int ret;

	*nrec = 0;
	if (!o)
		return -ENOMEM;
	ret = hfs_undo_collect(fs->rs, &fs->vh, put, o, nrec);
	if (ret || !o->n) {
		norec_free(o);
		return ret;
	}
	/* (U3) one pre-image per buffer and group: no duplicates */
	qsort(o->rec, (size_t)o->n, sizeof(o->rec[0]), cmp);
	fs->norec = o;
	return 0;
}

void hfs_norec_free(struct hfs_fs *fs)
{
	norec_free(fs->norec);
	fs->norec = NULL;
}

int hfs_norec_hook(void *priv, struct bc_buf *b)
{
	struct hfs_fs *fs = priv;
	const struct hfs_norec *o = fs->norec;
	struct norec_rec key = { b->b_off, NULL }, *r;

	if (!o)
		return 0;
	r = bsearch(&key, o->rec, (size_t)o->n, sizeof(o->rec[0]), cmp);
	if (!r)
		return 0;
	memcpy(b->b_data, r->data, HFS_BUFSIZE);
	return 1;
}
