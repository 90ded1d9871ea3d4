/*
 * set.c — the volume set: create (labels), assemble, submit logical I/O
 * (compile to a DAG, dispatch, retry reads on another copy), status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <blkid.h>
#include <uuid.h>
#include "raid/dag.h"
#include "raid/raid_int.h"
#include "raid/raid_test.h"

/* ---- names --------------------------------------------------------------- */
static const char *const layout_names[] = {
	[RAID_LAYOUT_SINGLE] = "single", [RAID_LAYOUT_MIRROR] = "mirror",
	[RAID_LAYOUT_STRIPE] = "stripe", [RAID_LAYOUT_RAID10] = "raid10",
};
static const char *const state_names[] = {
	[RAID_COMP_OPTIMAL] = "optimal", [RAID_COMP_FAILED] = "failed",
	[RAID_COMP_REBUILDING] = "rebuilding", [RAID_COMP_MISSING] = "missing",
};

const char *raid_layout_name(enum raid_layout l)
{
	return l >= RAID_LAYOUT_SINGLE && l <= RAID_LAYOUT_RAID10 ? layout_names[l] : "unknown";
}

const char *raid_comp_state_name(enum raid_comp_state st)
{
	return (unsigned)st <= RAID_COMP_MISSING ? state_names[st] : "unknown";
}

int raid_layout_parse(const char *name, enum raid_layout *out)
{
	int l;

	for (l = RAID_LAYOUT_SINGLE; l <= RAID_LAYOUT_RAID10; l++)
		if (!strcmp(name, layout_names[l])) {
			*out = (enum raid_layout)l;
			return 0;
		}
	return -EINVAL;
}

/* ---- create ---------------------------------------------------------------- */

/* Device count and stripe unit for a layout, with a message saying why not. */
static int check_layout(enum raid_layout l, int n, uint32_t su)
{
	const char *need = NULL;

	switch (l) {
	case RAID_LAYOUT_SINGLE: if (n != 1) need = "exactly 1 device"; break;
	case RAID_LAYOUT_MIRROR: if (n < 2) need = "at least 2 devices"; break;
	case RAID_LAYOUT_STRIPE: if (n < 2) need = "at least 2 devices"; break;
	case RAID_LAYOUT_RAID10:
		if (n < 4 || n % 2)
			need = "an even number of devices, at least 4";
		break;
	default: return -EINVAL;
	}
	if (need) {
		fprintf(stderr, "hfs: layout %s needs %s, got %d\n", raid_layout_name(l), need, n);
		return -EINVAL;
	}
	if ((l == RAID_LAYOUT_STRIPE || l == RAID_LAYOUT_RAID10) &&
	    (su < RAID_SECTOR || su > RAID_MAX_STRIPE || (su & (su - 1)))) {
		fprintf(stderr, "hfs: stripe unit %u bytes: must be a power of two from %u KiB to %u MiB\n",
			su, RAID_SECTOR >> 10, RAID_MAX_STRIPE >> 20);
		return -EINVAL;
	}
	return 0;
}

/* Does the device already hold something?  Our own label, or anything
 * libblkid recognizes (filesystem, RAID member, partition table). */
int raid_probe_existing(struct raid_comp *c, char *what, size_t cap)
{
	struct raid_label_ondisk l;
	blkid_probe pr;
	const char *type = NULL;
	int rc, found = 0;

	if (raid_label_read(c, &l) == 0) {
		snprintf(what, cap, "an hfs volume member");
		return 1;
	}
	pr = blkid_new_probe_from_filename(c->c_path);
	if (!pr)
		return 0;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 ||
		    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0) {
			snprintf(what, cap, "a %s signature", type);
			found = 1;
		}
	} else if (rc == -2) {
		snprintf(what, cap, "several conflicting signatures");
		found = 1;
	}
	blkid_free_probe(pr);
	return found;
}

int raid_create(const char *const *paths, int n, const struct raid_create_params *p)
{
	struct raid_set *s;
	uint64_t min = UINT64_MAX;
	int i, ret = 0;

	if (n < 1 || n > RAID_MAX_COMP) {
		fprintf(stderr, "hfs: a set has 1 to %d devices, got %d\n", RAID_MAX_COMP, n);
		return -EINVAL;
	}
	if (!raid_layout_ops_of(p->layout)) {
		fprintf(stderr, "hfs: unknown layout %d\n", (int)p->layout);
		return -EINVAL;
	}
	ret = check_layout(p->layout, n, p->stripe_unit ? p->stripe_unit : RAID_DEFAULT_STRIPE);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	for (i = 0; i < RAID_MAX_COMP; i++)
		s->comp[i].c_fd = -1;
	s->ncomp = n;
	s->bm.rs_comp = -1;
	pthread_mutex_init(&s->bm.bm_lock, NULL);
	pthread_cond_init(&s->bm.bm_cv, NULL);
	for (i = 0; i < n; i++) {
		struct raid_comp *c = &s->comp[i];
		char what[128];

		ret = raid_dev_open(c, paths[i], 1, 1);
		if (ret) {
			fprintf(stderr, "hfs: %s: %s\n", paths[i], strerror(-ret));
			goto out;
		}
		if (c->c_size < RAID_DATA_OFF + RAID_MIN_DATA) {
			fprintf(stderr, "hfs: %s: too small (%llu KiB, need at least %llu MiB)\n",
				paths[i], (unsigned long long)(c->c_size >> 10),
				(unsigned long long)((RAID_DATA_OFF + RAID_MIN_DATA) >> 20));
			ret = -ENOSPC;
			goto out;
		}
		if (!p->force && raid_probe_existing(c, what, sizeof(what))) {
			fprintf(stderr, "hfs: %s: already holds %s (use -f to overwrite)\n",
				paths[i], what);
			ret = -EEXIST;
			goto out;
		}
		if (c->c_size - RAID_DATA_OFF < min)
			min = c->c_size - RAID_DATA_OFF;
	}
	s->layout = p->layout;
	s->stripe_unit = p->layout == RAID_LAYOUT_STRIPE || p->layout == RAID_LAYOUT_RAID10 ?
			 (p->stripe_unit ? p->stripe_unit : RAID_DEFAULT_STRIPE) : 0;
	/* whole MiBs, and whole stripe units (both powers of two) */
	s->data_size = min & ~((uint64_t)(s->stripe_unit > RAID_DATA_OFF ? s->stripe_unit :
					  RAID_DATA_OFF) - 1);
	ret = raid_geom_init(&s->geom, s->layout, n, s->stripe_unit, s->data_size);
	if (ret)
		goto out;
	s->generation = 1;
	s->ctime = (uint64_t)time(NULL);
	if (memcmp(p->set_uuid, (uint8_t[16]){0}, 16))
		memcpy(s->uuid, p->set_uuid, 16);
	else
		uuid_generate(s->uuid);
	{
		uint32_t region;

		raid_bm_geometry(s->geom.g_col_size, &region, &s->bm.bm_nregions);
		s->bm.bm_shift = (uint32_t)__builtin_ctz(region);
		s->bm.bm_enabled = 1;
	}
	/* bitmap first: a label makes the device a member, so it comes last */
	ret = raid_bm_format(s);
	if (!ret)
		ret = raid_label_write_all(s);
out:
	for (i = 0; i < n; i++)
		raid_dev_close(&s->comp[i]);
	raid_bm_free(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return ret;
}

/* ---- assemble --------------------------------------------------------------- */

static void set_free(struct raid_set *s)
{
	int i;

	if (s->eng)
		s->eng->ops->destroy(s->eng);
	for (i = 0; i < RAID_MAX_COMP; i++)
		raid_dev_close(&s->comp[i]);
	if (s->wlog_fd > 0)
		close(s->wlog_fd);
	raid_fault_close(s);
	pthread_mutex_destroy(&s->wlog_lock);
	raid_bm_free(s);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->idle_lock);
	pthread_cond_destroy(&s->idle_cv);
	free(s);
}

static int start_engine(struct raid_set *s, const struct raid_opts *o)
{
	int ret;

	if (o->engine != RAID_ENGINE_POOL) {
		ret = raid_engine_uring_create(o->queue_depth, &s->eng);
		if (ret == 0 || o->engine == RAID_ENGINE_URING)
			return ret;
		RAID_WARN("io_uring unavailable (%s); using the worker pool", strerror(-ret));
	}
	return raid_engine_pool_create(o->pool_workers, &s->eng);
}

int raid_open(const char *const *paths, int n, const struct raid_opts *o, struct raid_set **out)
{
	static const struct raid_opts defaults;
	struct raid_label_ondisk lab[RAID_MAX_COMP], *best = NULL;
	struct raid_comp tmp[RAID_MAX_COMP];
	int have[RAID_MAX_COMP] = {0}, own_ok[RAID_MAX_COMP] = {0}, rebuild[RAID_MAX_COMP] = {0};
	int left_out[RAID_MAX_COMP] = {0}, split[RAID_MAX_COMP] = {0}, k;
	uint64_t gen_of[RAID_MAX_COMP] = {0};
	struct raid_set *s;
	int i, ret, ncomp, missing = 0, first_err = 0, changed = 0;

	if (!o)
		o = &defaults;
	if (n < 1 || n > RAID_MAX_COMP)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		ret = raid_dev_open(&tmp[i], paths[i], !o->readonly, o->no_direct);
		if (ret) {
			fprintf(stderr, "hfs: %s: %s%s\n", paths[i], strerror(-ret),
				ret == -EBUSY ? " (mounted or in use by another process?)" : "");
			tmp[i].c_fd = -1;
			have[i] = 0;
			if (!first_err)
				first_err = ret;
			continue;
		}
		ret = raid_label_read(&tmp[i], &lab[i]);
		if (ret) {
			fprintf(stderr, "hfs: %s: %s\n", paths[i], ret == -ENODATA ?
				"not an hfs volume (no component label)" :
				"component label is damaged in both copies");
			raid_dev_close(&tmp[i]);
			continue;
		}
		have[i] = 1;
		if (!best || le64toh(lab[i].l_generation) > le64toh(best->l_generation))
			best = &lab[i];
	}
	ret = first_err ? first_err : -EINVAL;
	if (!best)
		goto err_tmp;
	ncomp = (int)le32toh(best->l_ncomp);
	s = calloc(1, sizeof(*s));
	if (!s) {
		ret = -ENOMEM;
		goto err_tmp;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->idle_lock, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	pthread_mutex_init(&s->bm.bm_lock, NULL);
	pthread_cond_init(&s->bm.bm_cv, NULL);
	s->bm.rs_comp = -1;
	for (i = 0; i < RAID_MAX_COMP; i++) {
		s->comp[i].c_fd = -1;
		s->comp[i].c_state = RAID_COMP_MISSING;
		snprintf(s->comp[i].c_path, sizeof(s->comp[i].c_path), "(missing)");
	}
	ret = raid_wlog_open(s, o->write_log);
	if (ret) {
		fprintf(stderr, "hfs: write log %s: %s\n", o->write_log, strerror(-ret));
		goto err_set_ret;
	}

	s->ncomp = ncomp;
	s->layout = (enum raid_layout)le32toh(best->l_layout);
	s->ops = raid_layout_ops_of(s->layout);
	s->stripe_unit = s->layout == RAID_LAYOUT_STRIPE || s->layout == RAID_LAYOUT_RAID10 ?
			 le32toh(best->l_stripe_unit) : 0;
	s->data_size = le64toh(best->l_data_size);
	s->generation = le64toh(best->l_generation);
	s->ctime = le64toh(best->l_ctime);
	s->readonly = o->readonly;
	memcpy(s->uuid, best->l_set_uuid, 16);
	if (!s->ops || raid_geom_init(&s->geom, s->layout, ncomp, s->stripe_unit, s->data_size)) {
		fprintf(stderr, "hfs: the label describes an unsupported set (layout %u, %d devices, "
			"stripe unit %u)\n", le32toh(best->l_layout), ncomp, s->stripe_unit);
		goto err_set;
	}
	for (i = 0; i < n; i++) {
		int pos;

		if (!have[i])
			continue;
		pos = (int)le32toh(lab[i].l_position);
		if (memcmp(lab[i].l_set_uuid, s->uuid, 16)) {
			fprintf(stderr, "hfs: %s: belongs to another volume set\n", paths[i]);
			goto err_set;
		}
		if (le32toh(lab[i].l_layout) != le32toh(best->l_layout) ||
		    le32toh(lab[i].l_ncomp) != le32toh(best->l_ncomp) ||
		    le32toh(lab[i].l_stripe_unit) != le32toh(best->l_stripe_unit) ||
		    le64toh(lab[i].l_data_size) != le64toh(best->l_data_size)) {
			fprintf(stderr, "hfs: %s: its label describes another geometry of the set "
				"(%s of %u devices) than the newest label (%s of %u)\n", paths[i],
				raid_layout_name(le32toh(lab[i].l_layout)), le32toh(lab[i].l_ncomp),
				raid_layout_name(s->layout), (unsigned)ncomp);
			goto err_set;
		}
		if (pos >= ncomp || s->comp[pos].c_fd >= 0) {
			fprintf(stderr, "hfs: %s: duplicate or invalid position %d\n", paths[i], pos);
			goto err_set;
		}
		if (tmp[i].c_size < RAID_DATA_OFF + s->data_size) {
			fprintf(stderr, "hfs: %s: device shrank below its data area\n", paths[i]);
			goto err_set;
		}
		s->comp[pos] = tmp[i];
		tmp[i].c_fd = -1;
		have[i] = 0;
		gen_of[pos] = le64toh(lab[i].l_generation);
		/* a leg that left while rebuilding may hold never-copied regions */
		own_ok[pos] = lab[i].l_state[pos] == RAID_COMP_OPTIMAL;
		/* Split brain: it ran (degraded) without a leg the newest label
		 * still calls optimal, so it may hold writes nobody else has and
		 * the bitmap does not know about. */
		for (k = 0; k < ncomp; k++)
			if (k != pos && best->l_state[k] == RAID_COMP_OPTIMAL &&
			    lab[i].l_state[k] != RAID_COMP_OPTIMAL && own_ok[pos]) {
				own_ok[pos] = 0;
				split[pos] = 1;
			}
		s->comp[pos].c_state = best->l_state[pos];
		if (s->comp[pos].c_state == RAID_COMP_OPTIMAL && gen_of[pos] != s->generation) {
			fprintf(stderr, "hfs: %s: stale component (generation %llu, set is at %llu)\n",
				paths[i], (unsigned long long)gen_of[pos],
				(unsigned long long)s->generation);
			goto err_set;
		}
	}
	ret = raid_bm_load(s, best);
	if (ret)
		goto err_set_ret;
	/* Legs the newest label calls failed, missing or rebuilding: back in
	 * (REBUILDING, resynced where the bitmap says) when the bitmap covers
	 * everything they missed, else left out for a full rebuild. */
	for (i = 0; i < ncomp; i++) {
		struct raid_comp *c = &s->comp[i];

		if (c->c_fd < 0 || c->c_state == RAID_COMP_OPTIMAL)
			continue;
		if (!s->ops->redundant || o->readonly) {
			if (o->readonly)
				RAID_WARN("%s: component %d is marked %s; not used (read-only)",
					  c->c_path, i, raid_comp_state_name(c->c_state));
			else
				RAID_WARN("%s: component %d is marked %s; not used", c->c_path, i,
					  raid_comp_state_name(c->c_state));
			raid_dev_close(c);
			left_out[i] = 1;
			continue;
		}
		if (c->c_state == RAID_COMP_REBUILDING && gen_of[i] == s->generation) {
			fprintf(stderr, "hfs: %s: component %d resumes its resync\n", c->c_path, i);
			rebuild[i] = 1;
		} else if (s->bm.bm_enabled && s->bm.bm_since && !(s->bm.bm_flags & RAID_BM_FULL) &&
			   own_ok[i] && gen_of[i] + 1 >= s->bm.bm_since) {
			fprintf(stderr, "hfs: %s: component %d is back (generation %llu, set at %llu): "
				"resyncing the %llu regions written without it\n", c->c_path, i,
				(unsigned long long)gen_of[i], (unsigned long long)s->generation,
				(unsigned long long)raid_bitmap_dirty(s));
			c->c_state = RAID_COMP_REBUILDING;
			rebuild[i] = 1;
			changed = 1;
		} else {
			fprintf(stderr, "hfs: %s: component %d is marked %s and stale (generation %llu, "
				"set at %llu, %s); not used: it needs a full rebuild (hfsctl replace)\n",
				c->c_path, i, raid_comp_state_name(c->c_state),
				(unsigned long long)gen_of[i], (unsigned long long)s->generation,
				split[i] ? "it ran without legs the others kept using" :
				!s->bm.bm_enabled ? "no bitmap" :
				(s->bm.bm_flags & RAID_BM_FULL) ? "bitmap says every region is stale" :
				"older than the bitmap");
			raid_dev_close(c);
			left_out[i] = 1;
		}
	}
	for (i = 0; i < ncomp; i++) {
		if (s->comp[i].c_fd >= 0 || left_out[i])
			continue;   /* present, or present and deliberately not used */
		if (best->l_state[i] == RAID_COMP_OPTIMAL || best->l_state[i] == RAID_COMP_MISSING ||
		    best->l_state[i] == RAID_COMP_REBUILDING) {
			if (best->l_state[i] != RAID_COMP_MISSING)
				changed = 1;
			s->comp[i].c_state = RAID_COMP_MISSING;
			missing++;
			fprintf(stderr, "hfs: component %d of %d is missing\n", i, ncomp);
		} else {
			s->comp[i].c_state = best->l_state[i];
		}
	}
	/* every column needs a readable leg */
	for (i = 0; i < s->geom.g_ncols; i++) {
		int k, ok = 0;

		for (k = 0; k < s->geom.g_ncopies; k++)
			ok += raid_comp_readable(s, raid_geom_comp(&s->geom, i, k));
		if (!ok)
			break;
	}
	if (i < s->geom.g_ncols) {
		fprintf(stderr, "hfs: cannot assemble the %s set: %s\n", raid_layout_name(s->layout),
			!s->ops->redundant ? "a component is missing or failed, and a set without "
			"copies would lose data (-o degraded does not help)" :
			s->geom.g_ncols > 1 ? "both legs of a mirror pair are missing or failed" :
			"no working leg");
		ret = -ENODEV;
		goto err_set_ret;
	}
	if (missing && !o->allow_degraded) {
		fprintf(stderr, "hfs: cannot assemble the %s set: %d leg%s missing (mount with "
			"-o degraded to run without %s)\n", raid_layout_name(s->layout), missing,
			missing > 1 ? "s are" : " is", missing > 1 ? "them" : "it");
		ret = -ENODEV;
		goto err_set_ret;
	}
	if (missing)
		RAID_WARN("%s set assembled DEGRADED: %d of %d legs missing", raid_layout_name(s->layout),
			  missing, ncomp);
	if (changed && !o->readonly) {
		/* New state for every member: a leg that left is recognised as
		 * stale from now on, and writes record their regions. */
		s->generation++;
		if (raid_set_degraded(s))
			raid_bm_track(s, s->generation);
		ret = raid_bm_write(s);
		if (!ret)
			ret = raid_label_write_all(s);
		if (ret) {
			fprintf(stderr, "hfs: cannot record the set's new state in the labels: %s\n",
				strerror(-ret));
			goto err_set_ret;
		}
	}
	s->size = raid_geom_size(&s->geom);
	ret = raid_fault_open(s, o->fault);
	if (ret)
		goto err_set_ret;
	ret = start_engine(s, o);
	if (ret)
		goto err_set_ret;
	for (i = 0; i < ncomp; i++)
		if (rebuild[i] && raid_resync_start(s, i, -1) < 0)
			RAID_WARN("component %d: resync not started", i);
	*out = s;
	return 0;
err_set:
	ret = -EINVAL;
err_set_ret:
	set_free(s);
err_tmp:
	for (i = 0; i < n; i++)
		if (have[i] || tmp[i].c_fd >= 0)
			raid_dev_close(&tmp[i]);
	return ret;
}

void raid_close(struct raid_set *s)
{
	pthread_mutex_lock(&s->idle_lock);
	while (atomic_load(&s->inflight) > 0)
		pthread_cond_wait(&s->idle_cv, &s->idle_lock);
	pthread_mutex_unlock(&s->idle_lock);
	set_free(s);
}

uint64_t raid_size(const struct raid_set *s) { return s->size; }
enum raid_layout raid_layout_of(const struct raid_set *s) { return s->layout; }
int raid_ncomp(const struct raid_set *s) { return s->ncomp; }
const uint8_t *raid_set_uuid(const struct raid_set *s) { return s->uuid; }
const char *raid_engine_name(const struct raid_set *s) { return s->eng->ops->name; }

int raid_ncopies(const struct raid_set *s)
{
	return s->geom.g_ncopies;
}

uint32_t raid_stripe_unit(const struct raid_set *s)
{
	return s->geom.g_ncols > 1 ? s->geom.g_su : 0;
}

/* ---- submit ----------------------------------------------------------------- */

static void io_finish(struct raid_set *s, struct raid_io *io, int err)
{
	io->io_dag = NULL;
	io->io_done(io, err);   /* last touch of io */
	if (atomic_fetch_sub(&s->inflight, 1) == 1) {
		pthread_mutex_lock(&s->idle_lock);
		pthread_cond_broadcast(&s->idle_cv);
		pthread_mutex_unlock(&s->idle_lock);
	}
}

static int build(struct raid_set *s, struct raid_io *io, unsigned exclude, struct raid_dag **d);

static void dag_done(struct raid_dag *d, int err)
{
	struct raid_io *io = d->d_priv;
	struct raid_set *s = d->d_set;
	unsigned tried = d->d_retry_mask, bad = 0;
	int i;

	for (i = 0; i < d->d_nnodes; i++)
		if (d->d_nodes[i].n_type == RN_READ && d->d_nodes[i].n_state == RNS_BAD)
			bad |= 1u << d->d_nodes[i].n_comp;
	if (!bad)   /* failed without a bad read (no memory...): exclude all it used */
		for (i = 0; i < d->d_nnodes; i++)
			if (d->d_nodes[i].n_type == RN_READ)
				bad |= 1u << d->d_nodes[i].n_comp;
	tried |= bad;
	/* Before io_done: a resync waiting for this write must not wait on
	 * whatever lock the caller's callback takes. */
	if (d->d_wr_acct)
		raid_wr_end(s, d->d_wr_lo, d->d_wr_hi);
	raid_dag_free(d);
	/* A read that rolled back retries on another copy (degraded read DAG). */
	if (err && io->io_op == RAID_OP_READ && io->io_copy < 0 && s->ops->build_read_degraded) {
		struct raid_dag *nd;

		if (build(s, io, tried, &nd) == 0) {
			RAID_WARN("read at %llu failed on a copy; retrying another",
				  (unsigned long long)io->io_off);
			io->io_dag = nd;
			raid_dag_dispatch(nd);
			return;
		}
	}
	io_finish(s, io, err);
}

/* Pick the builder for io (ops table; a NULL entry means the layout has no
 * such operation: -EIO). */
static int build(struct raid_set *s, struct raid_io *io, unsigned exclude, struct raid_dag **out)
{
	const struct raid_layout_ops *ops = s->ops;
	struct raid_dag *d = NULL;
	int ret;

	switch (io->io_op) {
	case RAID_OP_READ:
		ret = !exclude ? ops->build_read(s, io, &d) :
		      ops->build_read_degraded ? ops->build_read_degraded(s, io, exclude, &d) : -EIO;
		break;
	case RAID_OP_WRITE:
		ret = ops->redundant && raid_set_degraded(s) ?
		      ops->build_write_degraded(s, io, &d) : ops->build_write(s, io, &d);
		break;
	case RAID_OP_FLUSH:
		ret = ops->build_flush(s, io, &d);
		break;
	case RAID_OP_DISCARD:
		ret = ops->build_discard ? ops->build_discard(s, io, &d) : -EOPNOTSUPP;
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	d->d_done = dag_done;
	d->d_priv = io;
	d->d_retry_mask = exclude;
	*out = d;
	return 0;
}

static int check_io(struct raid_set *s, const struct raid_io *io)
{
	if (!io->io_done)
		return -EINVAL;
	if (io->io_op == RAID_OP_FLUSH)
		return 0;
	if (io->io_op != RAID_OP_READ && io->io_op != RAID_OP_WRITE && io->io_op != RAID_OP_DISCARD)
		return -EINVAL;
	if ((io->io_off % RAID_SECTOR) || (io->io_len % RAID_SECTOR) || !io->io_len ||
	    (io->io_op != RAID_OP_DISCARD && (!io->io_buf || io->io_len > (1u << 30))))
		return -EINVAL;
	if (io->io_off > s->size || io->io_len > s->size - io->io_off) {
		RAID_ERR("request [%llu, +%zu) beyond the set's %llu bytes",
			 (unsigned long long)io->io_off, io->io_len, (unsigned long long)s->size);
		return -ERANGE;
	}
	if ((io->io_op == RAID_OP_WRITE || io->io_op == RAID_OP_DISCARD) && s->readonly)
		return -EROFS;
	return 0;
}

/* A DAG of one READ node and no other I/O node. */
static int lone_read(const struct raid_dag *d)
{
	int i, reads = 0;

	for (i = 0; i < d->d_nnodes; i++) {
		enum raid_node_type t = d->d_nodes[i].n_type;

		if (t == RN_READ)
			reads++;
		else if (t == RN_WRITE || t == RN_FLUSH || t == RN_DISCARD || t == RN_FUNC)
			return 0;
	}
	return reads == 1;
}

/* waited: the caller blocks until io_done and does nothing else meanwhile
 * (sync_io), so a lone read may run on its thread (dag.c fire_one).  Not
 * a retry on another copy (dag_done): that may run on an engine thread. */
static int submit(struct raid_set *s, struct raid_io *io, int waited)
{
	struct raid_dag *d;
	int ret = check_io(s, io);

	if (ret)
		return ret;
	ret = build(s, io, 0, &d);
	if (ret)
		return ret;
	d->d_waited = waited && io->io_op == RAID_OP_READ && lone_read(d);
	if (io->io_op == RAID_OP_WRITE && s->ops->redundant) {
		raid_map_span(&s->geom, io->io_off, io->io_len, &d->d_wr_lo, &d->d_wr_hi);
		raid_wr_begin(s, d->d_wr_lo, d->d_wr_hi);
		d->d_wr_acct = 1;
	}
	io->io_dag = d;
	atomic_fetch_add(&s->inflight, 1);
	raid_dag_dispatch(d);
	return 0;
}

int raid_submit(struct raid_set *s, struct raid_io *io)
{
	return submit(s, io, 0);
}

int raid_submit_batch(struct raid_set *s, struct raid_io **ios, int n)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = raid_submit(s, ios[i]);
		if (ret)
			return i ? i : ret;   /* the first i were queued */
	}
	return n;
}

/* ---- synchronous helpers ------------------------------------------------------ */
struct sync_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done, err;
};

static void sync_done(struct raid_io *io, int err)
{
	struct sync_wait *w = io->io_priv;

	pthread_mutex_lock(&w->m);
	w->err = err;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
}

static int sync_io(struct raid_set *s, enum raid_op op, int copy, uint64_t off,
		   void *buf, size_t len)
{
	struct sync_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct raid_io io = {
		.io_op = op, .io_off = off, .io_buf = buf, .io_len = len,
		.io_copy = copy, .io_done = sync_done, .io_priv = &w,
	};
	int ret = submit(s, &io, 1);

	if (ret)
		return ret;
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.m);
	pthread_mutex_unlock(&w.m);
	return w.err;
}

int raid_read(struct raid_set *s, uint64_t off, void *buf, size_t len)
{
	return sync_io(s, RAID_OP_READ, -1, off, buf, len);
}

int raid_write(struct raid_set *s, uint64_t off, const void *buf, size_t len)
{
	return sync_io(s, RAID_OP_WRITE, -1, off, (void *)buf, len);
}

int raid_read_copy(struct raid_set *s, int copy, uint64_t off, void *buf, size_t len)
{
	if (copy < 0 || copy >= raid_ncopies(s))
		return -EINVAL;
	return sync_io(s, RAID_OP_READ, copy, off, buf, len);
}

int raid_make_writable(struct raid_set *s)
{
	int i, ret = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->readonly)
		goto out;
	/* a read-only assembly leaves out legs a writable one would resync
	 * and writes no label: only a set that needs neither may switch */
	for (i = 0; i < s->ncomp; i++)
		if (s->comp[i].c_fd < 0 || s->comp[i].c_state != RAID_COMP_OPTIMAL) {
			ret = -EUCLEAN;
			goto out;
		}
	for (i = 0; i < s->ncomp; i++) {
		ret = raid_dev_upgrade(&s->comp[i]);
		if (ret) {
			/* the failed one kept its shared lock; back for the rest */
			while (i-- > 0)
				flock(s->comp[i].c_fd, LOCK_SH | LOCK_NB);
			goto out;
		}
	}
	s->readonly = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int raid_flush(struct raid_set *s)
{
	return sync_io(s, RAID_OP_FLUSH, -1, 0, NULL, 0);
}

int raid_discard(struct raid_set *s, uint64_t off, uint64_t len)
{
	if (len > SIZE_MAX)
		return -EINVAL;
	return sync_io(s, RAID_OP_DISCARD, -1, off, NULL, (size_t)len);
}

/* ---- status --------------------------------------------------------------------- */
int raid_status(struct raid_set *s, struct raid_comp_status *st, int max)
{
	int i;

	for (i = 0; i < s->ncomp && i < max; i++) {
		struct raid_comp *c = &s->comp[i];

		snprintf(st[i].path, sizeof(st[i].path), "%s", c->c_path);
		st[i].state = (enum raid_comp_state)c->c_state;
		st[i].read_errs = c->c_read_errs;
		st[i].write_errs = c->c_write_errs;
		st[i].crc_errs = c->c_crc_errs;
		st[i].repaired = c->c_repaired;
	}
	return s->ncomp;
}

long raid_test_waited_reads(struct raid_set *s)
{
	return atomic_load(&s->waited_reads);
}

int raid_test_fail(struct raid_set *s, int comp, int fail_reads, int fail_writes)
{
	if (comp < 0 || comp >= s->ncomp)
		return -EINVAL;
	s->comp[comp].c_fail_rd = fail_reads;
	s->comp[comp].c_fail_wr = fail_writes;
	return 0;
}
