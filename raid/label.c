/*
 * label.c — component labels (docs/FORMAT.md §1): two copies per
 * device, at 0 and 64 KiB, CRC-protected; the newest generation wins.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "raid/raid_int.h"

static uint32_t label_crc(const struct raid_label_ondisk *l)
{
	struct raid_label_ondisk tmp;

	memcpy(&tmp, l, sizeof(tmp));
	tmp.l_crc = 0;
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&tmp, sizeof(tmp));
}

void raid_label_encode(struct raid_label_ondisk *l, const struct raid_set *s, int pos)
{
	int i;

	memset(l, 0, sizeof(*l));
	l->l_magic = htole64(RAID_LABEL_MAGIC);
	l->l_version = htole32(RAID_LABEL_VERSION);
	memcpy(l->l_set_uuid, s->uuid, 16);
	/* component uuid: the set uuid with the position folded into the last byte */
	memcpy(l->l_comp_uuid, s->uuid, 16);
	l->l_comp_uuid[15] ^= (uint8_t)(pos + 1);
	l->l_position = htole32((uint32_t)pos);
	l->l_ncomp = htole32((uint32_t)s->ncomp);
	l->l_layout = htole32((uint32_t)s->layout);
	l->l_stripe_unit = htole32(s->stripe_unit);
	l->l_data_off = htole64(RAID_DATA_OFF);
	l->l_data_size = htole64(s->data_size);
	l->l_generation = htole64(s->generation);
	l->l_ctime = htole64(s->ctime);
	for (i = 0; i < s->ncomp; i++)
		l->l_state[i] = (uint8_t)s->comp[i].c_state;
	if (s->bm.bm_enabled) {
		l->l_minor = htole32(RAID_LABEL_MINOR);
		l->l_bm_region = htole32(1u << s->bm.bm_shift);
		l->l_bm_nregions = htole32(s->bm.bm_nregions);
	}
	l->l_crc = htole32(label_crc(l));
}

int raid_label_decode(const struct raid_label_ondisk *l)
{
	if (le64toh(l->l_magic) != RAID_LABEL_MAGIC)
		return -ENODATA;
	if (le32toh(l->l_crc) != label_crc(l))
		return -EBADMSG;
	if (le32toh(l->l_version) != RAID_LABEL_VERSION)
		return -EPROTO;
	if (le32toh(l->l_ncomp) == 0 || le32toh(l->l_ncomp) > RAID_MAX_COMP ||
	    le32toh(l->l_position) >= le32toh(l->l_ncomp) ||
	    le64toh(l->l_data_off) != RAID_DATA_OFF)
		return -EUCLEAN;
	if (le32toh(l->l_minor) >= 1 &&
	    (le32toh(l->l_bm_region) < RAID_BM_MINREGION ||
	     (le32toh(l->l_bm_region) & (le32toh(l->l_bm_region) - 1)) ||
	     le32toh(l->l_bm_nregions) == 0 || le32toh(l->l_bm_nregions) > RAID_BM_MAXBITS))
		return -EUCLEAN;
	return 0;
}

static int read_copy(int fd, uint64_t off, struct raid_label_ondisk *out)
{
	void *p;
	ssize_t n;
	int ret;

	if (posix_memalign(&p, RAID_SECTOR, RAID_LABEL_SIZE))
		return -ENOMEM;
	n = pread(fd, p, RAID_LABEL_SIZE, (off_t)off);
	if (n != RAID_LABEL_SIZE) {
		free(p);
		return n < 0 ? -errno : -ENODATA;
	}
	memcpy(out, p, RAID_LABEL_SIZE);
	free(p);
	ret = raid_label_decode(out);
	return ret;
}

/* Read the newer valid copy of the label.  -ENODATA: no label at all;
 * -EBADMSG etc.: a label that is damaged in both copies. */
int raid_label_read(struct raid_comp *c, struct raid_label_ondisk *out)
{
	struct raid_label_ondisk b;
	int ra = read_copy(c->c_fd, 0, out);
	int rb = read_copy(c->c_fd, RAID_LABEL_B_OFF, &b);

	if (rb == 0 && (ra != 0 || le64toh(b.l_generation) > le64toh(out->l_generation))) {
		memcpy(out, &b, sizeof(b));
		return 0;
	}
	if (ra == 0)
		return 0;
	return ra == -ENODATA ? rb : ra;
}

static int write_label(int fd, const struct raid_label_ondisk *l)
{
	void *p;
	int ret = 0;

	if (posix_memalign(&p, RAID_SECTOR, RAID_LABEL_SIZE))
		return -ENOMEM;
	memcpy(p, l, RAID_LABEL_SIZE);
	/* Copy A, flush, then copy B: a torn write leaves one good copy. */
	if (pwrite(fd, p, RAID_LABEL_SIZE, 0) != RAID_LABEL_SIZE || fdatasync(fd) != 0 ||
	    pwrite(fd, p, RAID_LABEL_SIZE, RAID_LABEL_B_OFF) != RAID_LABEL_SIZE ||
	    fdatasync(fd) != 0)
		ret = errno ? -errno : -EIO;
	free(p);
	return ret;
}

int raid_label_write_all(struct raid_set *s)
{
	struct raid_label_ondisk l;
	int i, ret = 0, ok = 0;

	for (i = 0; i < s->ncomp; i++) {
		struct raid_comp *c = &s->comp[i];

		if (c->c_fd < 0 || c->c_state == RAID_COMP_FAILED || c->c_state == RAID_COMP_MISSING)
			continue;
		raid_label_encode(&l, s, i);
		if (raid_fault_vanished(s, i))
			ret = -ENODEV;   /* fault device: unplugged */
		else if (write_label(c->c_fd, &l) == 0)
			ok++;
		else
			ret = -EIO;
	}
	return ok ? 0 : ret;
}

int raid_comp_fail(struct raid_set *s, int comp, const char *why)
{
	int k, col = comp / s->geom.g_ncopies, others = 0, marked = 0, st;

	pthread_mutex_lock(&s->lock);
	for (k = 0; k < s->geom.g_ncopies; k++) {
		int c2 = raid_geom_comp(&s->geom, col, k);

		others += c2 != comp && raid_comp_readable(s, c2);
	}
	st = s->comp[comp].c_state;
	if (st == RAID_COMP_OPTIMAL && !others) {
		/* Never fail the last copy of a column (as md does): the error
		 * goes up to the caller and the data stays reachable. */
		RAID_ERR("component %d (%s): %s on the last working copy", comp,
			 s->comp[comp].c_path, why);
	} else if (st == RAID_COMP_OPTIMAL || st == RAID_COMP_REBUILDING) {
		s->comp[comp].c_state = RAID_COMP_FAILED;
		s->generation++;
		raid_bm_track(s, s->generation);
		RAID_ERR("component %d (%s) failed: %s; set runs degraded", comp,
			 s->comp[comp].c_path, why);
		if (raid_label_write_all(s) != 0)
			RAID_ERR("could not record the failure in the surviving labels");
		marked = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (marked)
		raid_resync_abort_comp(s, comp);
	return marked;
}
