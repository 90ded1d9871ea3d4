/*
 * fault.c — the fault test device (like dm-flakey / dm-error): fails,
 * delays or corrupts chosen component requests, or makes a component
 * vanish, following a rules file (raid_opts.fault, hfs -o fault=FILE).
 *
 * Rules file: one rule a line, "key=value" words; '#' starts a comment.
 *   comp=N|*        component position (required)
 *   op=read|write|flush|discard|any  (default any)
 *   action=fail|delay|corrupt|vanish (required)
 *   off=A-B         device byte range [A, B) the request must overlap
 *                   (K/M/G suffixes; flushes have no range and never match)
 *   skip=N          let the first N matching requests through
 *   count=M         then inject at most M faults (default: unlimited)
 *   prob=P          inject with probability P (0 < P <= 1) ...
 *   seed=S          ... from a xorshift64 PRNG seeded with S (default 1)
 *   ms=N            delay: milliseconds (required for delay, only there)
 *   err=EIO|ENODEV|ENOSPC|ETIMEDOUT|EROFS|ENXIO|EOPNOTSUPP|N   fail: the error (default EIO)
 * vanish: the device is gone — every request (and label write) fails with
 * -ENODEV; it takes no op/off/skip/count/prob.  corrupt flips bytes in the
 * request's sectors: on a read in the caller's buffer after the read (the
 * device keeps good data), on a write in a private copy (the device gets
 * bad data; the other legs of a mirror get the caller's good data).
 *
 * Rules are tried in file order; the first that fires decides the fate of
 * the request.  The file is re-read when its mtime/size/inode change,
 * checked at most every 50 ms on the I/O path; a missing file counts as
 * empty, so deleting or emptying the file heals every component.  A bad
 * file is an error at open (with FILE:LINE) and, at a later reload, is
 * logged and the previous rules stay.  Rule counters (skip/count/PRNG)
 * restart at every reload.
 *
 * Threads: raid_fault_filter runs wherever a DAG node fires (submitter or
 * engine completion thread); delayed requests are submitted by the
 * fault device's own timer thread.  Lock order: f_lock is a leaf (taken
 * with no other raid lock held or inside none; the engine is called
 * after it is dropped).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "raid/dag.h"
#include "raid/raid_int.h"
#include "raid/raid_test.h"

/* ---- types ------------------------------------------------------------- */

enum fault_action { FA_FAIL = 1, FA_DELAY, FA_CORRUPT, FA_VANISH };
enum fault_op { FO_ANY = 0, FO_READ, FO_WRITE, FO_FLUSH, FO_DISCARD };

struct fault_rule {
	int r_comp;                 /* -1 = every component */
	enum fault_op r_op;
	enum fault_action r_action;
	uint64_t r_lo, r_hi;        /* r_hi == 0: no range */
	uint64_t r_skip, r_count;   /* r_count == 0: unlimited */
	double r_prob;              /* 0: always */
	uint64_t r_rng;             /* PRNG state */
	unsigned r_ms;
	int r_err;                  /* negative errno */
	uint64_t r_seen, r_fired;   /* matching requests, faults injected */
};

struct fault_delayed {
	struct raid_node *fd_node;
	struct timespec fd_due;     /* CLOCK_MONOTONIC */
	struct fault_delayed *fd_next;
};

struct raid_fault {
	pthread_mutex_t f_lock;     /* everything below */
	char *f_path;
	struct fault_rule *f_rules;
	int f_nrules;
	struct stat f_st;           /* what the rules were read from */
	int f_have_st;
	struct timespec f_checked;  /* last stat, CLOCK_MONOTONIC */
	/* delay thread */
	pthread_t f_thread;
	int f_thread_on, f_stop;
	pthread_cond_t f_cv;
	struct fault_delayed *f_queue;   /* sorted by fd_due */
	/* counters (also read without f_lock) */
	atomic_uint_fast64_t f_failed, f_delayed, f_corrupted, f_vanished, f_reloads;
	atomic_uint_fast64_t f_comp[RAID_MAX_COMP];
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int64_t ms_since(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static int parse_u64(const char *v, uint64_t *out, int suffix)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno)
		return -1;
	if (suffix && *end) {
		int sh = *end == 'k' || *end == 'K' ? 10 : *end == 'm' || *end == 'M' ? 20 :
			 *end == 'g' || *end == 'G' ? 30 : -1;

		if (sh < 0 || x > (UINT64_MAX >> sh))
			return -1;
		x <<= sh;
		end++;
	}
	if (*end)
		return -1;
	*out = x;
	return 0;
}

static const struct { const char *name; int err; } err_names[] = {
	{ "EIO", EIO }, { "ENODEV", ENODEV }, { "ENOSPC", ENOSPC },
	{ "ETIMEDOUT", ETIMEDOUT }, { "EROFS", EROFS }, { "ENXIO", ENXIO },
	{ "EOPNOTSUPP", EOPNOTSUPP },
};

/* ---- parsing ------------------------------------------------------------- */

#define BAD(...) do { fprintf(stderr, "hfs: fault rules %s:%d: ", path, lineno); \
		      fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return -EINVAL; } while (0)

static int parse_word(const char *path, int lineno, char *w, struct fault_rule *r,
		      int ncomp, unsigned *seen)
{
	char *v = strchr(w, '=');
	uint64_t x;
	size_t i;

	if (!v || v == w || !v[1])
		BAD("'%s' is not key=value", w);
	*v++ = 0;
	if (!strcmp(w, "comp")) {
		*seen |= 1;
		if (!strcmp(v, "*"))
			r->r_comp = -1;
		else if (parse_u64(v, &x, 0) || x >= (uint64_t)ncomp)
			BAD("comp=%s: not * or a component 0..%d", v, ncomp - 1);
		else
			r->r_comp = (int)x;
	} else if (!strcmp(w, "op")) {
		*seen |= 2;
		r->r_op = !strcmp(v, "read") ? FO_READ : !strcmp(v, "write") ? FO_WRITE :
			  !strcmp(v, "flush") ? FO_FLUSH : !strcmp(v, "discard") ? FO_DISCARD :
			  !strcmp(v, "any") ? FO_ANY : -1;
		if ((int)r->r_op < 0)
			BAD("op=%s: not read, write, flush, discard or any", v);
	} else if (!strcmp(w, "action")) {
		r->r_action = !strcmp(v, "fail") ? FA_FAIL : !strcmp(v, "delay") ? FA_DELAY :
			      !strcmp(v, "corrupt") ? FA_CORRUPT : !strcmp(v, "vanish") ? FA_VANISH : 0;
		if (!r->r_action)
			BAD("action=%s: not fail, delay, corrupt or vanish", v);
	} else if (!strcmp(w, "off")) {
		char *dash = strchr(v, '-');

		*seen |= 4;
		if (!dash)
			BAD("off=%s: not A-B", v);
		*dash = 0;
		if (parse_u64(v, &r->r_lo, 1) || parse_u64(dash + 1, &r->r_hi, 1) || r->r_hi <= r->r_lo)
			BAD("off=%s-%s: not a range A-B with A < B", v, dash + 1);
	} else if (!strcmp(w, "skip")) {
		*seen |= 8;
		if (parse_u64(v, &r->r_skip, 0))
			BAD("skip=%s: not a number", v);
	} else if (!strcmp(w, "count")) {
		*seen |= 8;
		if (parse_u64(v, &r->r_count, 0) || !r->r_count)
			BAD("count=%s: not a number > 0", v);
	} else if (!strcmp(w, "prob")) {
		char *end;

		*seen |= 8;
		r->r_prob = strtod(v, &end);
		if (*end || !(r->r_prob > 0 && r->r_prob <= 1))
			BAD("prob=%s: not a probability in (0, 1]", v);
	} else if (!strcmp(w, "seed")) {
		if (parse_u64(v, &r->r_rng, 0))
			BAD("seed=%s: not a number", v);
		r->r_rng = r->r_rng * 0x9e3779b97f4a7c15ull + 1;   /* never 0 */
	} else if (!strcmp(w, "ms")) {
		*seen |= 16;
		if (parse_u64(v, &x, 0) || !x || x > 60000)
			BAD("ms=%s: not 1..60000", v);
		r->r_ms = (unsigned)x;
	} else if (!strcmp(w, "err")) {
		*seen |= 32;
		for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
			if (!strcmp(v, err_names[i].name))
				break;
		if (i < sizeof(err_names) / sizeof(err_names[0]))
			r->r_err = -err_names[i].err;
		else if (!parse_u64(v, &x, 0) && x > 0 && x < 4096)
			r->r_err = -(int)x;
		else
			BAD("err=%s: not an errno name or number", v);
	} else {
		BAD("unknown key '%s'", w);
	}
	return 0;
}

static int parse_line(const char *path, int lineno, char *line, struct fault_rule *r, int ncomp)
{
	char *save = NULL, *w;
	unsigned seen = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	r->r_rng = 1 * 0x9e3779b97f4a7c15ull + 1;
	r->r_err = -EIO;
	for (w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		ret = parse_word(path, lineno, w, r, ncomp, &seen);
		if (ret)
			return ret;
	}
	if (!(seen & 1))
		BAD("no comp=");
	if (!r->r_action)
		BAD("no action=");
	if (r->r_action == FA_DELAY && !(seen & 16))
		BAD("action=delay needs ms=");
	if (r->r_action != FA_DELAY && (seen & 16))
		BAD("ms= is only for action=delay");
	if (r->r_action != FA_FAIL && (seen & 32))
		BAD("err= is only for action=fail");
	if (r->r_action == FA_CORRUPT && (r->r_op == FO_FLUSH || r->r_op == FO_DISCARD))
		BAD("action=corrupt needs op=read, write or any");
	if (r->r_action == FA_VANISH && (seen & (2 | 4 | 8)))
		BAD("action=vanish takes only comp= (the whole device is gone)");
	if (r->r_action == FA_VANISH)
		r->r_err = -ENODEV;
	return 0;
}
#undef BAD

/* Parse the file into a new rule array.  A missing file is empty. */
static int load(const char *path, int ncomp, int must_exist, struct fault_rule **out,
		int *nout, struct stat *st, int *have_st)
{
	struct fault_rule *rules = NULL, *nr;
	char line[1024];
	int n = 0, lineno = 0, ret = 0;
	FILE *f = fopen(path, "re");

	*have_st = 0;
	if (!f) {
		if (errno == ENOENT && !must_exist) {
			*out = NULL;
			*nout = 0;
			return 0;
		}
		ret = -errno;
		fprintf(stderr, "hfs: fault rules %s: %s\n", path, strerror(errno));
		return ret;
	}
	if (fstat(fileno(f), st) == 0)
		*have_st = 1;
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#'), *p;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "hfs: fault rules %s:%d: line too long\n", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (hash)
			*hash = 0;
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (!*p)
			continue;
		nr = realloc(rules, (size_t)(n + 1) * sizeof(*rules));
		if (!nr) {
			ret = -ENOMEM;
			break;
		}
		rules = nr;
		ret = parse_line(path, lineno, p, &rules[n], ncomp);
		if (ret)
			break;
		n++;
	}
	fclose(f);
	if (ret) {
		free(rules);
		return ret;
	}
	*out = rules;
	*nout = n;
	return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Re-read the rules now.  f_lock NOT held. */
static int reload(struct raid_set *s)
{
	struct raid_fault *f = s->fault;
	struct fault_rule *rules, *old;
	struct stat st;
	int n, have, ret;

	ret = load(f->f_path, s->ncomp, 0, &rules, &n, &st, &have);
	if (ret) {
		RAID_ERR("fault rules %s: not reloaded (%s); the previous rules stay",
			 f->f_path, strerror(-ret));
		pthread_mutex_lock(&f->f_lock);
		/* do not retry a broken file on every request: wait for a change */
		if (have) {
			f->f_st = st;
			f->f_have_st = 1;
		}
		pthread_mutex_unlock(&f->f_lock);
		return ret;
	}
	pthread_mutex_lock(&f->f_lock);
	old = f->f_rules;
	f->f_rules = rules;
	f->f_nrules = n;
	f->f_have_st = have;
	if (have)
		f->f_st = st;
	pthread_mutex_unlock(&f->f_lock);
	atomic_fetch_add(&f->f_reloads, 1);
	free(old);
	return 0;
}

/* The cheap check on the I/O path: at most one stat per 50 ms. */
static void maybe_reload(struct raid_set *s)
{
	struct raid_fault *f = s->fault;
	struct timespec now;
	struct stat st;
	int changed, exists;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&f->f_lock);
	if (ms_since(&f->f_checked, &now) < 50) {
		pthread_mutex_unlock(&f->f_lock);
		return;
	}
	f->f_checked = now;
	exists = stat(f->f_path, &st) == 0;
	changed = exists ? !f->f_have_st || !same_file(&st, &f->f_st) :
			   f->f_have_st || f->f_nrules > 0;
	pthread_mutex_unlock(&f->f_lock);
	if (changed)
		reload(s);
}

/* ---- delay thread ---------------------------------------------------------- */

static void *delay_main(void *arg)
{
	struct raid_set *s = arg;
	struct raid_fault *f = s->fault;

	pthread_mutex_lock(&f->f_lock);
	for (;;) {
		struct fault_delayed *d = f->f_queue;
		struct timespec now;

		if (!d) {
			if (f->f_stop)
				break;
			pthread_cond_wait(&f->f_cv, &f->f_lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_before(&now, &d->fd_due)) {
			pthread_cond_timedwait(&f->f_cv, &f->f_lock, &d->fd_due);
			continue;
		}
		f->f_queue = d->fd_next;
		pthread_mutex_unlock(&f->f_lock);
		{
			struct raid_eng_req *r = &d->fd_node->n_req;
			struct raid_node *n = d->fd_node;
			int ret;

			free(d);
			ret = s->eng->ops->submit(s->eng, &r, 1);
			if (ret < 0) {
				atomic_fetch_sub(&s->comp[n->n_comp].c_inflight, 1);
				raid_node_done(n, ret);
			}
		}
		pthread_mutex_lock(&f->f_lock);
	}
	pthread_mutex_unlock(&f->f_lock);
	return NULL;
}

/* Queue n for submission after ms; 0, or -ENOMEM (then issue it now). */
static int delay_node(struct raid_fault *f, struct raid_node *n, unsigned ms)
{
	struct fault_delayed *d = malloc(sizeof(*d)), **pp;

	if (!d)
		return -ENOMEM;
	d->fd_node = n;
	clock_gettime(CLOCK_MONOTONIC, &d->fd_due);
	d->fd_due.tv_sec += ms / 1000;
	d->fd_due.tv_nsec += (long)(ms % 1000) * 1000000;
	if (d->fd_due.tv_nsec >= 1000000000) {
		d->fd_due.tv_sec++;
		d->fd_due.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&f->f_lock);
	for (pp = &f->f_queue; *pp; pp = &(*pp)->fd_next)
		if (ts_before(&d->fd_due, &(*pp)->fd_due))
			break;
	d->fd_next = *pp;
	*pp = d;
	pthread_cond_signal(&f->f_cv);
	pthread_mutex_unlock(&f->f_lock);
	return 0;
}

/* ---- corruption ---------------------------------------------------------------- */

/* Flip 8 bytes in each 4 KiB sector of buf (device range [off, off+len))
 * that overlaps [lo, hi) (hi == 0: all).  Positions vary per sector and
 * per request; every flip changes the byte (xor with a non-zero mask). */
static void corrupt(uint8_t *buf, uint64_t off, size_t len, uint64_t lo, uint64_t hi,
		    uint64_t *rng)
{
	size_t sec, i;

	for (sec = 0; sec + RAID_SECTOR <= len; sec += RAID_SECTOR) {
		uint64_t a = off + sec;

		if (hi && (a + RAID_SECTOR <= lo || a >= hi))
			continue;
		for (i = 0; i < 8; i++) {
			uint64_t x = xorshift(rng);

			buf[sec + (x % RAID_SECTOR)] ^= (uint8_t)(1 + (x >> 32) % 255);
		}
	}
}

/* ---- public (raid_int.h) ---------------------------------------------------- */

int raid_fault_open(struct raid_set *s, const char *path)
{
	struct raid_fault *f;
	int ret;

	s->fault = NULL;
	if (!path)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->f_path = strdup(path);
	if (!f->f_path) {
		free(f);
		return -ENOMEM;
	}
	ret = load(path, s->ncomp, 1, &f->f_rules, &f->f_nrules, &f->f_st, &f->f_have_st);
	if (ret) {
		free(f->f_path);
		free(f);
		return ret;
	}
	pthread_mutex_init(&f->f_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->f_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	clock_gettime(CLOCK_MONOTONIC_COARSE, &f->f_checked);
	s->fault = f;
	ret = pthread_create(&f->f_thread, NULL, delay_main, s);
	if (ret) {
		raid_fault_close(s);
		return -ret;
	}
	f->f_thread_on = 1;
	RAID_WARN("fault test device on: %d rule%s from %s", f->f_nrules,
		  f->f_nrules == 1 ? "" : "s", path);
	return 0;
}

void raid_fault_close(struct raid_set *s)
{
	struct raid_fault *f = s->fault;

	if (!f)
		return;
	if (f->f_thread_on) {
		pthread_mutex_lock(&f->f_lock);
		f->f_stop = 1;
		pthread_cond_signal(&f->f_cv);
		pthread_mutex_unlock(&f->f_lock);
		pthread_join(f->f_thread, NULL);
	}
	pthread_cond_destroy(&f->f_cv);
	pthread_mutex_destroy(&f->f_lock);
	free(f->f_rules);
	free(f->f_path);
	free(f);
	s->fault = NULL;
}

int raid_fault_filter(struct raid_set *s, struct raid_node *n)
{
	struct raid_fault *f = s->fault;
	enum fault_op op = n->n_type == RN_READ ? FO_READ : n->n_type == RN_WRITE ? FO_WRITE :
			   n->n_type == RN_DISCARD ? FO_DISCARD : FO_FLUSH;
	struct fault_rule *r = NULL;
	int i, ret = 0;
	unsigned ms = 0;

	maybe_reload(s);
	pthread_mutex_lock(&f->f_lock);
	for (i = 0; i < f->f_nrules; i++) {
		r = &f->f_rules[i];
		if (r->r_comp >= 0 && r->r_comp != n->n_comp)
			continue;
		if (r->r_action == FA_VANISH)
			break;
		if (r->r_op != FO_ANY && r->r_op != op)
			continue;
		if (r->r_action == FA_CORRUPT && (op == FO_FLUSH || op == FO_DISCARD))
			continue;
		if (r->r_hi && (op == FO_FLUSH || n->n_off + n->n_len <= r->r_lo || n->n_off >= r->r_hi))
			continue;
		if (r->r_seen++ < r->r_skip)
			continue;
		if (r->r_count && r->r_fired >= r->r_count)
			continue;
		if (r->r_prob > 0 && (double)(xorshift(&r->r_rng) >> 11) * 0x1.0p-53 >= r->r_prob)
			continue;
		break;
	}
	if (i == f->f_nrules) {
		pthread_mutex_unlock(&f->f_lock);
		return 0;
	}
	r->r_fired++;
	atomic_fetch_add(&f->f_comp[n->n_comp], 1);
	switch (r->r_action) {
	case FA_VANISH:
		atomic_fetch_add(&f->f_vanished, 1);
		ret = r->r_err;
		break;
	case FA_FAIL:
		atomic_fetch_add(&f->f_failed, 1);
		ret = r->r_err;
		break;
	case FA_DELAY:
		atomic_fetch_add(&f->f_delayed, 1);
		ms = r->r_ms;
		break;
	case FA_CORRUPT:
		atomic_fetch_add(&f->f_corrupted, 1);
		if (op == FO_READ) {
			n->n_fault_lo = r->r_lo;
			n->n_fault_hi = r->r_hi;
			n->n_fault_rng = xorshift(&r->r_rng);
			n->n_fault = 1;
		} else {
			uint64_t rng = xorshift(&r->r_rng);
			uint64_t lo = r->r_lo, hi = r->r_hi;

			pthread_mutex_unlock(&f->f_lock);
			/* the caller's buffer feeds the other legs: corrupt a copy */
			if (!n->n_bounce) {
				if (posix_memalign(&n->n_bounce, RAID_SECTOR, n->n_len))
					return -ENOMEM;
				memcpy(n->n_bounce, n->n_buf, n->n_len);
				n->n_req.er_buf = n->n_bounce;
			}
			corrupt(n->n_bounce, n->n_off, n->n_len, lo, hi, &rng);
			return 0;
		}
		break;
	default:
		abort();
	}
	pthread_mutex_unlock(&f->f_lock);
	if (ms)
		return delay_node(f, n, ms) == 0 ? 1 : 0;
	return ret;
}

void raid_fault_read_done(struct raid_node *n)
{
	uint64_t rng = n->n_fault_rng | 1;

	corrupt(n->n_buf, n->n_off, n->n_len, n->n_fault_lo, n->n_fault_hi, &rng);
}

int raid_fault_vanished(struct raid_set *s, int comp)
{
	struct raid_fault *f = s->fault;
	int i, gone = 0;

	if (!f)
		return 0;
	maybe_reload(s);
	pthread_mutex_lock(&f->f_lock);
	for (i = 0; i < f->f_nrules && !gone; i++)
		gone = f->f_rules[i].r_action == FA_VANISH &&
		       (f->f_rules[i].r_comp < 0 || f->f_rules[i].r_comp == comp);
	pthread_mutex_unlock(&f->f_lock);
	return gone;
}

/* ---- public (raid.h / raid_test.h) --------------------------------------------- */

int raid_fault_counts(struct raid_set *s, struct raid_fault_counts *out)
{
	struct raid_fault *f = s->fault;
	int i;

	memset(out, 0, sizeof(*out));
	if (!f)
		return -ENOENT;
	out->failed = f->f_failed;
	out->delayed = f->f_delayed;
	out->corrupted = f->f_corrupted;
	out->vanished = f->f_vanished;
	out->reloads = f->f_reloads;
	for (i = 0; i < RAID_MAX_COMP; i++)
		out->per_comp[i] = f->f_comp[i];
	return 0;
}

int raid_fault_reload(struct raid_set *s)
{
	if (!s->fault)
		return -ENOENT;
	return reload(s);
}
