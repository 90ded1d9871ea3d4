/*
 * key.c — B-tree key order and encoding: (obj, type, key), little-endian.
 */
#include <string.h>
#include "fs/hfs_int.h"

int hfs_key_cmp(const struct hfs_key *a, const struct hfs_key *b)
{
	if (a->obj != b->obj)
		return a->obj < b->obj ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return 0;
}

void hfs_key_encode(struct hfs_key_ondisk *d, const struct hfs_key *k)
{
	memset(d, 0, sizeof(*d));
	d->k_obj = hfs_tole64(k->obj);
	d->k_key = hfs_tole64(k->key);
	d->k_type = k->type;
}

void hfs_key_decode(struct hfs_key *k, const struct hfs_key_ondisk *d)
{
	k->obj = hfs_le64(d->k_obj);
	k->key = hfs_le64(d->k_key);
	k->type = d->k_type;
}
