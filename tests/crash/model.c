/*
 * model.c — canonical tree texts from the model and from a mounted tree,
 * the run record (states and sync points), its file form, and the diff
 * printed on a failure.  See model.h for the text format.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "tests/crash/model.h"

uint64_t m_hash(const void *p, size_t len, uint64_t h)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

uint64_t m_block_hash(const uint8_t *d, size_t size, size_t blk)
{
	size_t off = blk * M_BLK;

	return m_hash(d + off, size - off < M_BLK ? size - off : M_BLK, M_HASH0);
}

uint64_t m_content_hash(const uint8_t *d, size_t size)
{
	uint64_t h = M_HASH0, bh;
	size_t b;

	for (b = 0; b * M_BLK < size; b++) {
		bh = m_block_hash(d, size, b);
		h = m_hash(&bh, sizeof(bh), h);
	}
	return h;
}

/* ---- growable text ------------------------------------------------------- */

struct sbuf { char *p; size_t len, cap; int oom; };

static void sb_add(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
		va_end(ap);
		if (n >= 0 && s->p && s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return;
		}
		{
			size_t nc = (s->cap + (size_t)n + 1) * 2;
			char *np = realloc(s->p, nc);

			if (!np) {
				s->oom = 1;
				return;
			}
			s->p = np;
			s->cap = nc;
		}
	}
}

static char *sb_done(struct sbuf *s)
{
	if (s->oom || !s->p) {
		free(s->p);
		if (!s->oom)
			return strdup("");
		errno = ENOMEM;
		return NULL;
	}
	return s->p;
}

/* One entry of a state, from either side. */
struct ent {
	char path[M_PATH];
	char type;
	unsigned mode, nlink;
	uint64_t size, hash, id;   /* id: node or inode number (link groups) */
	char target[M_PATH];
	char *xattrs;              /* "name=hash,..." sorted, malloc'd */
};

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path, ((const struct ent *)b)->path);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int id_cmp(const void *a, const void *b, void *arg)
{
	const struct ent *e = arg;
	const struct ent *x = &e[*(const int *)a], *y = &e[*(const int *)b];

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Sort ents, compute link groups, print. */
static char *ents_text(struct ent *e, int n)
{
	struct sbuf s = { 0 };
	int *ix = calloc((size_t)n + 1, sizeof(*ix)), *group = calloc((size_t)n + 1, sizeof(*group));
	int i;

	if (!ix || !group) {
		s.oom = 1;
		goto out;
	}
	qsort(e, (size_t)n, sizeof(*e), ent_cmp);
	/* a file's link group is its first path: sort by (id, path) */
	for (i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, (size_t)n, sizeof(*ix), id_cmp, e);
	for (i = 0; i < n; i++)
		group[ix[i]] = i && e[ix[i - 1]].id == e[ix[i]].id ? group[ix[i - 1]] : ix[i];
	for (i = 0; i < n; i++) {
		const char *g = e[i].type == 'f' && e[i].nlink > 1 ? e[group[i]].path : "-";

		sb_add(&s, "/%s\t%c\t%04o\t%u\t%llu\t%016llx\t%s\t%s\t%s\n", e[i].path, e[i].type,
		       e[i].mode, e[i].nlink, (unsigned long long)e[i].size,
		       (unsigned long long)e[i].hash, e[i].type == 'l' ? e[i].target : "-",
		       e[i].xattrs && *e[i].xattrs ? e[i].xattrs : "-", g);
	}
out:
	for (i = 0; i < n; i++)
		free(e[i].xattrs);
	free(e);
	free(ix);
	free(group);
	return sb_done(&s);
}

/* ---- the model's text ---------------------------------------------------- */

int model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->cap_nodes = 64;
	m->cap_names = 64;
	m->nodes = calloc((size_t)m->cap_nodes, sizeof(*m->nodes));
	m->names = calloc((size_t)m->cap_names, sizeof(*m->names));
	if (!m->nodes || !m->names)
		return -ENOMEM;
	m->nnodes = 1;
	m->nodes[0].type = 'd';
	m->nodes[0].mode = 0755;
	m->nnames = 1;
	m->names[0].path[0] = 0;   /* the root */
	m->names[0].node = 0;
	return 0;
}

void model_free(struct model *m)
{
	int i, j;

	for (i = 0; i < m->nnodes; i++) {
		free(m->nodes[i].data);
		for (j = 0; j < m->nodes[i].nxa; j++)
			free(m->nodes[i].xa[j].val);
		free(m->nodes[i].xa);
	}
	free(m->nodes);
	free(m->names);
	memset(m, 0, sizeof(*m));
}

int model_lookup(const struct model *m, const char *path)
{
	int i;

	for (i = 0; i < m->nnames; i++)
		if (!strcmp(m->names[i].path, path))
			return m->names[i].node;
	return -1;
}

static char *xattr_text_model(const struct mnode *nd)
{
	char **v = calloc((size_t)nd->nxa + 1, sizeof(*v));
	struct sbuf s = { 0 };
	int i;

	if (!v)
		return NULL;
	for (i = 0; i < nd->nxa; i++) {
		if (asprintf(&v[i], "%s=%016llx", nd->xa[i].name,
			     (unsigned long long)m_hash(nd->xa[i].val, nd->xa[i].len, M_HASH0)) < 0)
			v[i] = NULL;
	}
	for (i = 0; i < nd->nxa; i++)
		if (!v[i])
			s.oom = 1;
	if (!s.oom)
		qsort(v, (size_t)nd->nxa, sizeof(*v), str_cmp);
	for (i = 0; i < nd->nxa; i++) {
		if (v[i])
			sb_add(&s, "%s%s", i ? "," : "", v[i]);
		free(v[i]);
	}
	free(v);
	return sb_done(&s);
}

static int idx_cmp(const void *a, const void *b, void *arg)
{
	const struct model *m = arg;

	return strcmp(m->names[*(const int *)a].path, m->names[*(const int *)b].path);
}

/* Index of path among the sorted name indices, -1 if absent. */
static int find_sorted(const struct model *m, const int *ix, int n, const char *path)
{
	int lo = 0, hi = n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(m->names[ix[mid]].path, path);

		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

char *model_text(const struct model *m)
{
	struct ent *e = calloc((size_t)m->nnames + 1, sizeof(*e));
	unsigned *links = calloc((size_t)m->nnodes + 1, sizeof(*links));
	int *ix = calloc((size_t)m->nnames + 1, sizeof(*ix));
	int i, j;

	if (!e || !links || !ix)
		goto oom;
	for (i = 0; i < m->nnames; i++)
		ix[i] = i;
	qsort_r(ix, (size_t)m->nnames, sizeof(*ix), idx_cmp, (void *)m);
	/* files: one link per name; directories: 2 + one per subdirectory */
	for (i = 0; i < m->nnames; i++) {
		const char *p = m->names[i].path, *slash;
		int nd = m->names[i].node;

		if (m->nodes[nd].type != 'd') {
			links[nd]++;
			continue;
		}
		links[nd] += 2;
		if (!*p)
			continue;   /* the root has no parent entry */
		slash = strrchr(p, '/');
		if (!slash) {
			links[0]++;
		} else {
			char parent[M_PATH];

			snprintf(parent, sizeof(parent), "%.*s", (int)(slash - p), p);
			j = find_sorted(m, ix, m->nnames, parent);
			if (j >= 0)
				links[m->names[ix[j]].node]++;
		}
	}
	for (i = 0; i < m->nnames; i++) {
		const struct mnode *nd = &m->nodes[m->names[i].node];

		snprintf(e[i].path, sizeof(e[i].path), "%s", m->names[i].path);
		e[i].type = nd->type;
		e[i].mode = nd->mode;
		e[i].id = (uint64_t)m->names[i].node;
		e[i].nlink = links[m->names[i].node];
		if (nd->type == 'f') {
			e[i].size = nd->size;
			if (!nd->hash_ok) {
				/* the model is const to its readers; the cache is not state */
				((struct mnode *)nd)->hash = m_content_hash(nd->data, nd->size);
				((struct mnode *)nd)->hash_ok = 1;
			}
			e[i].hash = nd->hash;
		} else if (nd->type == 'l') {
			e[i].size = strlen(nd->target);
			snprintf(e[i].target, sizeof(e[i].target), "%s", nd->target);
		}
		e[i].xattrs = xattr_text_model(nd);
		if (!e[i].xattrs) {
			for (j = 0; j < i; j++)
				free(e[j].xattrs);
			goto oom;
		}
	}
	free(links);
	free(ix);
	return ents_text(e, m->nnames);
oom:
	free(e);
	free(links);
	free(ix);
	errno = ENOMEM;
	return NULL;
}

/* ---- a mounted tree's text ---------------------------------------------- */

static int file_hash(const char *path, uint64_t *h)
{
	static uint8_t buf[1 << 20];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t have = 0, b;
	ssize_t n;

	if (fd < 0)
		return -errno;
	*h = M_HASH0;
	/* whole 64 KiB blocks at a time, as m_content_hash sees them */
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0 || (n == 0 && have)) {
		size_t full;

		have += n > 0 ? (size_t)n : 0;
		full = n == 0 ? have : have / M_BLK * M_BLK;
		for (b = 0; b * M_BLK < full; b++) {
			uint64_t bh = m_block_hash(buf, full, b);

			*h = m_hash(&bh, sizeof(bh), *h);
		}
		memmove(buf, buf + full, have - full);
		have -= full;
		if (n == 0)
			break;
	}
	close(fd);
	return n < 0 ? -errno : 0;
}

static char *xattr_text_tree(const char *path)
{
	char list[8192], val[65536], *v[256];
	ssize_t n = llistxattr(path, list, sizeof(list)), i;
	struct sbuf s = { 0 };
	int nv = 0, k;

	if (n < 0)
		return errno == ENOTSUP ? strdup("") : NULL;
	for (i = 0; i < n && nv < 256; i += (ssize_t)strlen(list + i) + 1) {
		ssize_t l = lgetxattr(path, list + i, val, sizeof(val));

		if (l < 0 || asprintf(&v[nv], "%s=%016llx", list + i,
				      (unsigned long long)m_hash(val, (size_t)l, M_HASH0)) < 0) {
			for (k = 0; k < nv; k++)
				free(v[k]);
			return NULL;
		}
		nv++;
	}
	qsort(v, (size_t)nv, sizeof(*v), str_cmp);
	for (k = 0; k < nv; k++) {
		sb_add(&s, "%s%s", k ? "," : "", v[k]);
		free(v[k]);
	}
	return sb_done(&s);
}

struct walk { const char *root; struct ent *e; int n, cap; int err; };

static void walk_add(struct walk *w, const char *rel)
{
	char full[M_PATH + 4096];
	struct stat st;
	struct ent *e;

	if (w->err)
		return;
	if (w->n == w->cap) {
		int nc = w->cap ? w->cap * 2 : 64;
		struct ent *ne = realloc(w->e, (size_t)nc * sizeof(*ne));

		if (!ne) {
			w->err = ENOMEM;
			return;
		}
		w->e = ne;
		w->cap = nc;
	}
	snprintf(full, sizeof(full), "%s%s%s", w->root, *rel ? "/" : "", rel);
	if (lstat(full, &st) != 0) {
		w->err = errno;
		return;
	}
	e = &w->e[w->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", rel);
	e->mode = st.st_mode & 07777;
	e->nlink = (unsigned)st.st_nlink;
	e->id = st.st_ino;
	if (S_ISDIR(st.st_mode)) {
		e->type = 'd';
	} else if (S_ISREG(st.st_mode)) {
		e->type = 'f';
		e->size = (uint64_t)st.st_size;
		if (file_hash(full, &e->hash)) {
			w->err = errno ? errno : EIO;
			return;
		}
	} else if (S_ISLNK(st.st_mode)) {
		ssize_t l;

		e->type = 'l';
		e->size = (uint64_t)st.st_size;
		l = readlink(full, e->target, sizeof(e->target) - 1);
		if (l < 0) {
			w->err = errno;
			return;
		}
		e->target[l] = 0;
	} else {
		e->type = '?';
	}
	e->xattrs = xattr_text_tree(full);
	if (!e->xattrs) {
		w->err = errno ? errno : ENOMEM;
		return;
	}
	w->n++;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(full);
		struct dirent *de;

		if (!d) {
			w->err = errno;
			return;
		}
		while ((de = readdir(d)) != NULL && !w->err) {
			char sub[M_PATH + 300];

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
			if (strlen(sub) >= M_PATH)
				w->err = ENAMETOOLONG;   /* the workloads use short names */
			else
				walk_add(w, sub);
		}
		closedir(d);
	}
}

char *tree_text(const char *root)
{
	struct walk w = { root, NULL, 0, 0, 0 };
	int i;

	walk_add(&w, "");
	if (w.err) {
		for (i = 0; i < w.n; i++)
			free(w.e[i].xattrs);
		free(w.e);
		errno = w.err;
		return NULL;
	}
	return ents_text(w.e, w.n);
}

/* ---- run ----------------------------------------------------------------- */

void run_free(struct run *r)
{
	int i;

	for (i = 0; i < r->nstates; i++)
		free(r->text[i]);
	free(r->text);
	free(r->hash);
	free(r->start);
	free(r->startrec);
	free(r->syncs);
	memset(r, 0, sizeof(*r));
}

static int push_state(struct run *r, uint64_t h, char *text, uint64_t start)
{
	if (r->nstates == r->cap_states) {
		int nc = r->cap_states ? r->cap_states * 2 : 64;
		uint64_t *nh = realloc(r->hash, (size_t)nc * sizeof(*nh)), *ns;
		char **nt;
		long *nr;

		if (!nh)
			return -ENOMEM;
		r->hash = nh;
		nt = realloc(r->text, (size_t)nc * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		r->text = nt;
		ns = realloc(r->start, (size_t)nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		r->start = ns;
		nr = realloc(r->startrec, (size_t)nc * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		r->startrec = nr;
		r->cap_states = nc;
	}
	r->start[r->nstates] = start;
	r->startrec[r->nstates] = 0;
	r->hash[r->nstates] = h;
	r->text[r->nstates++] = text;
	return 0;
}

int run_add_state(struct run *r, char *text, uint64_t start)
{
	uint64_t h;
	int i;

	if (!text)
		return -ENOMEM;
	h = m_hash(text, strlen(text), M_HASH0);
	if (r->nstates && r->hash[r->nstates - 1] == h) {
		free(text);   /* nothing changed: not a new state */
		return 0;
	}
	if (push_state(r, h, text, start)) {
		free(text);
		return -ENOMEM;
	}
	/* older texts are only needed where a sync point keeps them */
	i = r->nstates - 2;
	if (i >= 0 && r->text[i] && !(r->nsyncs && r->syncs[r->nsyncs - 1].state == i)) {
		free(r->text[i]);
		r->text[i] = NULL;
	}
	return 0;
}

int run_add_sync(struct run *r, const struct msync *s)
{
	if (r->nsyncs == r->cap_syncs) {
		int nc = r->cap_syncs ? r->cap_syncs * 2 : 32;
		struct msync *ns = realloc(r->syncs, (size_t)nc * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		r->syncs = ns;
		r->cap_syncs = nc;
	}
	r->syncs[r->nsyncs++] = *s;
	return 0;
}

int run_save(const struct run *r, const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		return -errno;
	for (i = 0; i < r->nsyncs; i++) {
		const struct msync *s = &r->syncs[i];

		fprintf(f, "sync %d %llu %ld %d %llu %zu %d %s\n", s->state,
			(unsigned long long)s->logbytes, s->rec, s->until,
			(unsigned long long)s->hash, s->size, s->node, *s->path ? s->path : "-");
	}
	for (i = 0; i < r->nstates; i++) {
		if (r->text[i])
			fprintf(f, "state %d %016llx %llu %zu\n%s", i, (unsigned long long)r->hash[i],
				(unsigned long long)r->start[i], strlen(r->text[i]), r->text[i]);
		else
			fprintf(f, "state %d %016llx %llu 0\n", i, (unsigned long long)r->hash[i],
				(unsigned long long)r->start[i]);
	}
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

int run_load(struct run *r, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		struct msync s = { 0 };
		unsigned long long lb, h;
		size_t len;
		char p[M_PATH];
		int idx;

		if (sscanf(line, "sync %d %llu %ld %d %llu %zu %d %199s", &s.state, &lb, &s.rec,
			   &s.until, &h, &s.size, &s.node, p) == 8) {
			s.logbytes = lb;
			s.hash = h;
			snprintf(s.path, sizeof(s.path), "%s", strcmp(p, "-") ? p : "");
			ret = run_add_sync(r, &s);
		} else if (sscanf(line, "state %d %llx %llu %zu", &idx, &h, &lb, &len) == 4 &&
			   idx == r->nstates) {
			char *t = NULL;

			if (len) {
				t = malloc(len + 1);
				if (!t || fread(t, 1, len, f) != len) {
					free(t);
					ret = -EBADMSG;
					break;
				}
				t[len] = 0;
			}
			/* no dedup on load: indices must match the saved ones */
			ret = push_state(r, h, t, lb);
			if (ret)
				free(t);
		} else {
			ret = -EBADMSG;
		}
	}
	fclose(f);
	if (ret)
		run_free(r);
	return ret;
}

/* ---- diff ----------------------------------------------------------------- */

static int has_line(const char *text, const char *line, size_t len)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (l == len && !memcmp(p, line, len))
			return 1;
		p += l + (nl != NULL);
	}
	return 0;
}

static void one_side(const char *a, const char *b, char sign, const char *indent)
{
	const char *p = a;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (!has_line(b, p, l))
			printf("%s%c %.*s\n", indent, sign, (int)l, p);
		p += l + (nl != NULL);
	}
}

void text_diff(const char *a, const char *b, const char *indent)
{
	one_side(a, b, '-', indent);
	one_side(b, a, '+', indent);
}
