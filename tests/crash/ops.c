/*
 * ops.c — workload operations: one system call on the mount, the same
 * change on the model, one recorded state (ops.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "tests/crash/ops.h"

/* ---- helpers ---------------------------------------------------------------- */

uint64_t wl_rand(struct wl *w)
{
	uint64_t x = w->rng;   /* xorshift64 */

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

static void wfail(struct wl *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wfail(struct wl *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->quiet) {
		printf("    workload step %ld failed: ", w->nops);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	w->err = 1;
}

/* Kill mode: the daemon died under this call, which it may or may not have
 * carried out, so the op's state is recorded as a possible one and the
 * workload stops. */
static int gone(struct wl *w)
{
	if (!w->quiet || (errno != ENOTCONN && errno != ECONNABORTED && errno != EIO))
		return 0;
	w->err = 1;
	return 1;
}

static const char *full(struct wl *w, const char *p, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", w->mnt, p);
	return buf;
}

static int new_node(struct wl *w, char type, unsigned mode)
{
	struct model *m = &w->m;

	if (m->nnodes == m->cap_nodes) {
		int nc = m->cap_nodes * 2;
		struct mnode *nn = realloc(m->nodes, (size_t)nc * sizeof(*nn));

		if (!nn)
			return -1;
		memset(nn + m->cap_nodes, 0, (size_t)(nc - m->cap_nodes) * sizeof(*nn));
		m->nodes = nn;
		m->cap_nodes = nc;
	}
	m->nodes[m->nnodes].type = type;
	m->nodes[m->nnodes].mode = mode;
	return m->nnodes++;
}

static int add_name(struct wl *w, const char *p, int node)
{
	struct model *m = &w->m;

	if (m->nnames == m->cap_names) {
		int nc = m->cap_names * 2;
		struct mname *nn = realloc(m->names, (size_t)nc * sizeof(*nn));

		if (!nn)
			return -1;
		m->names = nn;
		m->cap_names = nc;
	}
	snprintf(m->names[m->nnames].path, M_PATH, "%s", p);
	m->names[m->nnames++].node = node;
	return 0;
}

static void del_name(struct wl *w, const char *p)
{
	struct model *m = &w->m;
	int i;

	for (i = 0; i < m->nnames; i++)
		if (!strcmp(m->names[i].path, p)) {
			m->names[i] = m->names[--m->nnames];
			return;
		}
}

/* The durable content of fsync'd files changed by this op is no longer
 * what a crash must show (model.h: until). */
static void touch(struct wl *w, int node, const char *path)
{
	size_t l = path ? strlen(path) : 0;
	int i;

	for (i = 0; i < w->run.nsyncs; i++) {
		struct msync *s = &w->run.syncs[i];

		if (s->until != INT_MAX)
			continue;
		if (s->node == node || (path && (!strcmp(s->path, path) ||
		    (!strncmp(s->path, path, l) && s->path[l] == '/'))))
			s->until = w->run.nstates;
	}
}

/* Compare the mounted tree with the model's newest state. */
static void live_check(struct wl *w, const char *what)
{
	int n = w->run.nstates - 1;
	char *live;

	live = tree_text(w->mnt);
	if (!live) {
		wfail(w, "%s: reading the tree back: %s", what, strerror(errno));
		return;
	}
	if (strcmp(live, w->run.text[n])) {
		wfail(w, "%s: the mounted tree differs from the model (state %d):", what, n);
		text_diff(w->run.text[n], live, "      ");
	}
	free(live);
}

static void count_op(struct wl *w)
{
	if (++w->nops >= w->kill_at && w->kill_fn && !w->killed) {
		w->killed = 1;
		w->kill_fn(w->kill_priv);
	}
}

/* The next op begins at the log's current size: with no timed flushes
 * nothing reaches the device between two ops. */
static void next_op(struct wl *w)
{
	struct stat st;

	if (w->log && stat(w->log, &st) == 0)
		w->op_start = (uint64_t)st.st_size;
}

static void record(struct wl *w, const char *what)
{
	count_op(w);
	if (run_add_state(&w->run, model_text(&w->m), w->op_start)) {
		wfail(w, "%s: out of memory", what);
		return;
	}
	/* after every op while the tree is small, else at sync points */
	if (w->live && !w->err && w->m.nnames <= 64)
		live_check(w, what);
	next_op(w);
}

static uint8_t *content(struct wl *w, size_t len)
{
	uint8_t *b;
	size_t i;

	if (posix_memalign((void **)&b, 4096, len ? len : 1))
		return NULL;
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t r = wl_rand(w);

		memcpy(b + i, &r, 8);
	}
	for (; i < len; i++)
		b[i] = (uint8_t)wl_rand(w);
	return b;
}

static int set_size(struct mnode *nd, size_t size)
{
	nd->hash_ok = 0;
	if (size > nd->size) {
		uint8_t *nb = realloc(nd->data, size);

		if (!nb)
			return -1;
		memset(nb + nd->size, 0, size - nd->size);
		nd->data = nb;
	}
	nd->size = size;
	return 0;
}

int wl_init(struct wl *w, const char *mnt, const char *log, uint64_t seed)
{
	struct msync s = { 0 };

	memset(w, 0, sizeof(*w));
	w->mnt = mnt;
	w->log = log;
	w->rng = seed ? seed : 1;
	if (model_init(&w->m) || run_add_state(&w->run, model_text(&w->m), 0))
		return -ENOMEM;
	s.until = INT_MAX;
	s.node = -1;
	return run_add_sync(&w->run, &s);   /* the empty tree: durable at record 0 */
}

void wl_free(struct wl *w)
{
	model_free(&w->m);
	run_free(&w->run);
}

/* ---- namespace ------------------------------------------------------------------ */

void w_mkdir(struct wl *w, const char *p)
{
	char b[PATH_MAX];
	int n;

	if (w->err)
		return;
	if (mkdir(full(w, p, b), 0755) != 0 && !gone(w))
		return wfail(w, "mkdir %s: %s", p, strerror(errno));
	n = new_node(w, 'd', 0755);
	if (n < 0 || add_name(w, p, n))
		return wfail(w, "mkdir %s: out of memory", p);
	record(w, "mkdir");
}

void w_rmdir(struct wl *w, const char *p)
{
	char b[PATH_MAX];

	if (w->err)
		return;
	if (rmdir(full(w, p, b)) != 0 && !gone(w))
		return wfail(w, "rmdir %s: %s", p, strerror(errno));
	touch(w, model_lookup(&w->m, p), p);
	del_name(w, p);
	record(w, "rmdir");
}

void w_create(struct wl *w, const char *p)
{
	char b[PATH_MAX];
	int fd, n;

	if (w->err)
		return;
	fd = open(full(w, p, b), O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 && !gone(w))
		return wfail(w, "create %s: %s", p, strerror(errno));
	if (fd >= 0)
		close(fd);
	n = new_node(w, 'f', 0644);
	if (n < 0 || add_name(w, p, n))
		return wfail(w, "create %s: out of memory", p);
	touch(w, -2, p);
	record(w, "create");
}

void w_rename(struct wl *w, const char *from, const char *to)
{
	char b1[PATH_MAX], b2[PATH_MAX];
	size_t l = strlen(from);
	int i, victim;

	if (w->err)
		return;
	if (rename(full(w, from, b1), full(w, to, b2)) != 0 && !gone(w))
		return wfail(w, "rename %s %s: %s", from, to, strerror(errno));
	victim = model_lookup(&w->m, to);
	if (victim >= 0 && victim == model_lookup(&w->m, from)) {
		record(w, "rename");   /* two links of one inode: POSIX says nothing happens */
		return;
	}
	if (victim >= 0) {
		touch(w, victim, to);
		del_name(w, to);   /* replaced (a file, or an empty directory) */
	}
	touch(w, -2, from);
	touch(w, -2, to);
	for (i = 0; i < w->m.nnames; i++) {
		char *p = w->m.names[i].path, np[M_PATH];

		if (!strcmp(p, from) || (!strncmp(p, from, l) && p[l] == '/')) {
			snprintf(np, sizeof(np), "%s%s", to, p + l);
			snprintf(p, M_PATH, "%s", np);
		}
	}
	record(w, "rename");
}

void w_link(struct wl *w, const char *from, const char *to)
{
	char b1[PATH_MAX], b2[PATH_MAX];
	int n = model_lookup(&w->m, from);

	if (w->err)
		return;
	if (link(full(w, from, b1), full(w, to, b2)) != 0 && !gone(w))
		return wfail(w, "link %s %s: %s", from, to, strerror(errno));
	if (n < 0 || add_name(w, to, n))
		return wfail(w, "link %s: not in the model", from);
	touch(w, -2, to);
	record(w, "link");
}

void w_unlink(struct wl *w, const char *p)
{
	char b[PATH_MAX];

	if (w->err)
		return;
	if (unlink(full(w, p, b)) != 0 && !gone(w))
		return wfail(w, "unlink %s: %s", p, strerror(errno));
	touch(w, -2, p);
	del_name(w, p);
	record(w, "unlink");
}

void w_symlink(struct wl *w, const char *target, const char *p)
{
	char b[PATH_MAX];
	int n;

	if (w->err)
		return;
	if (symlink(target, full(w, p, b)) != 0 && !gone(w))
		return wfail(w, "symlink %s: %s", p, strerror(errno));
	n = new_node(w, 'l', 0777);
	if (n < 0 || add_name(w, p, n))
		return wfail(w, "symlink %s: out of memory", p);
	snprintf(w->m.nodes[n].target, M_PATH, "%s", target);
	touch(w, -2, p);
	record(w, "symlink");
}

/* ---- file content ------------------------------------------------------------------ */

void w_write(struct wl *w, const char *p, uint64_t off, size_t len, int flags)
{
	char b[PATH_MAX];
	int n, fd;
	uint8_t *buf;
	ssize_t r;

	if (w->err)
		return;
	if (model_lookup(&w->m, p) < 0)
		w_create(w, p);
	if (w->err)
		return;
	n = model_lookup(&w->m, p);
	buf = content(w, len);
	if (!buf)
		return wfail(w, "write %s: out of memory", p);
	fd = open(full(w, p, b), O_WRONLY | (flags & W_DIRECT ? O_DIRECT : 0));
	if (fd < 0) {
		free(buf);
		return wfail(w, "open %s: %s", p, strerror(errno));
	}
	r = pwrite(fd, buf, len, (off_t)off);
	close(fd);
	if (r != (ssize_t)len && !gone(w)) {
		free(buf);
		return wfail(w, "write %s %zu@%llu: %s", p, len, (unsigned long long)off,
			     r < 0 ? strerror(errno) : "short write");
	}
	if (off + len > w->m.nodes[n].size && set_size(&w->m.nodes[n], off + len)) {
		free(buf);
		return wfail(w, "write %s: out of memory", p);
	}
	memcpy(w->m.nodes[n].data + off, buf, len);
	w->m.nodes[n].hash_ok = 0;
	free(buf);
	touch(w, n, NULL);
	record(w, flags & W_DIRECT ? "write (O_DIRECT)" : "write");
}

void w_append(struct wl *w, const char *p, size_t len)
{
	int n = model_lookup(&w->m, p);

	if (w->err)
		return;
	if (n < 0)
		return wfail(w, "append %s: not in the model", p);
	w_write(w, p, w->m.nodes[n].size, len, 0);
}

void w_file(struct wl *w, const char *p, size_t len, size_t chunk, int flags)
{
	size_t off;

	w_create(w, p);
	for (off = 0; off < len && !w->err; off += chunk)
		w_write(w, p, off, len - off < chunk ? len - off : chunk, flags);
}

/* hfs shrinks a file by more than 32 blocks in steps from the end, each
 * step's size a multiple of 64 KiB, and may commit between steps (rule 2
 * in fs/hfs_int.h): each such prefix of the file is a state the workload
 * passes through (DESIGN.md).  Recorded in the order they happen. */
static void truncate_steps(struct wl *w, int n, uint64_t size)
{
	struct mnode *nd = &w->m.nodes[n];
	uint64_t first = (size + 65535) / 65536 * 65536, old = nd->size, s, nsteps, i;
	uint64_t *h, run = M_HASH0, keep_hash = nd->hash;
	int keep_ok = nd->hash_ok;
	size_t keep_size = nd->size;

	if (old <= first || (old - first + 65535) / 65536 <= 31)
		return;
	nsteps = (old - 1) / 65536 - first / 65536 + 1;   /* multiples of 64 KiB in [first, old) */
	h = calloc(nsteps + 1, sizeof(*h));
	if (!h)
		return wfail(w, "truncate: out of memory");
	/* one pass over the content gives the hash of every 64 KiB prefix */
	for (s = 0, i = 0; i < nsteps; i++) {
		for (; s < first + i * 65536; s += 65536) {
			uint64_t bh = m_block_hash(nd->data, old, s / 65536);

			run = m_hash(&bh, sizeof(bh), run);
		}
		h[i] = run;
	}
	for (i = nsteps; i-- > 0 && !w->err;) {
		nd->size = first + i * 65536;
		nd->hash = h[i];
		nd->hash_ok = 1;
		if (run_add_state(&w->run, model_text(&w->m), w->op_start))
			wfail(w, "truncate: out of memory");
	}
	nd->size = keep_size;
	nd->hash = keep_hash;
	nd->hash_ok = keep_ok;
	free(h);
}

void w_truncate(struct wl *w, const char *p, uint64_t size)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p);

	if (w->err)
		return;
	if (truncate(full(w, p, b), (off_t)size) != 0 && !gone(w))
		return wfail(w, "truncate %s: %s", p, strerror(errno));
	if (n < 0)
		return wfail(w, "truncate %s: not in the model", p);
	touch(w, n, NULL);
	truncate_steps(w, n, size);
	if (set_size(&w->m.nodes[n], size))
		return wfail(w, "truncate %s: out of memory", p);
	record(w, "truncate");
}

/* hfs punches more than 32 records in steps, ascending, and may commit
 * between them (rule 2): the range zeroed up to any 64 KiB boundary is a
 * state the workload passes through.  pre: the block hashes before. */
static void punch_steps(struct wl *w, int n, uint64_t off, uint64_t len, const uint64_t *pre)
{
	struct mnode *nd = &w->m.nodes[n];
	size_t nb = (nd->size + M_BLK - 1) / M_BLK, b, cut;
	uint64_t end = off + len < nd->size ? off + len : nd->size;
	uint64_t *post = calloc(nb + 1, sizeof(*post));

	if (!post)
		return wfail(w, "punch: out of memory");
	for (b = 0; b < nb; b++)
		post[b] = m_block_hash(nd->data, nd->size, b);
	for (cut = off / M_BLK + 1; cut * M_BLK < end && !w->err; cut++) {
		uint64_t h = M_HASH0;

		for (b = 0; b < nb; b++)
			h = m_hash(b < cut ? &post[b] : &pre[b], sizeof(uint64_t), h);
		nd->hash = h;
		nd->hash_ok = 1;
		if (run_add_state(&w->run, model_text(&w->m), w->op_start))
			wfail(w, "punch: out of memory");
	}
	nd->hash_ok = 0;
	free(post);
}

void w_falloc(struct wl *w, const char *p, uint64_t off, uint64_t len, int keep_size)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p), fd;

	if (w->err)
		return;
	fd = open(full(w, p, b), O_WRONLY);
	if (fd < 0)
		return wfail(w, "open %s: %s", p, strerror(errno));
	if (fallocate(fd, keep_size ? FALLOC_FL_KEEP_SIZE : 0, (off_t)off, (off_t)len) != 0 && !gone(w)) {
		close(fd);
		return wfail(w, "fallocate %s: %s", p, strerror(errno));
	}
	close(fd);
	if (n < 0)
		return wfail(w, "fallocate %s: not in the model", p);
	touch(w, n, NULL);
	if (!keep_size && off + len > w->m.nodes[n].size && set_size(&w->m.nodes[n], off + len))
		return wfail(w, "fallocate %s: out of memory", p);
	record(w, "fallocate");
}

void w_punch(struct wl *w, const char *p, uint64_t off, uint64_t len)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p), fd;
	struct mnode *nd;

	if (w->err)
		return;
	fd = open(full(w, p, b), O_WRONLY);
	if (fd < 0)
		return wfail(w, "open %s: %s", p, strerror(errno));
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0 &&
	    !gone(w)) {
		close(fd);
		return wfail(w, "punch %s: %s", p, strerror(errno));
	}
	close(fd);
	if (n < 0)
		return wfail(w, "punch %s: not in the model", p);
	nd = &w->m.nodes[n];
	{
		size_t nb = (nd->size + M_BLK - 1) / M_BLK, b;
		uint64_t *pre = NULL;

		if (off < nd->size && (off + len - off / M_BLK * M_BLK) / M_BLK > 31)
			pre = calloc(nb + 1, sizeof(*pre));
		for (b = 0; pre && b < nb; b++)
			pre[b] = m_block_hash(nd->data, nd->size, b);
		if (off < nd->size)
			memset(nd->data + off, 0, off + len > nd->size ? nd->size - off : len);
		nd->hash_ok = 0;
		if (pre)
			punch_steps(w, n, off, len, pre);
		free(pre);
	}
	touch(w, n, NULL);
	record(w, "punch");
}

/* ---- attributes -------------------------------------------------------------------- */

void w_setxattr(struct wl *w, const char *p, const char *name, size_t len)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p), i;
	uint8_t *v;
	struct mnode *nd;

	if (w->err)
		return;
	if (n < 0)
		return wfail(w, "setxattr %s: not in the model", p);
	v = content(w, len);
	if (!v)
		return wfail(w, "setxattr: out of memory");
	if (lsetxattr(full(w, p, b), name, v, len, 0) != 0 && !gone(w)) {
		free(v);
		return wfail(w, "setxattr %s %s: %s", p, name, strerror(errno));
	}
	nd = &w->m.nodes[n];
	for (i = 0; i < nd->nxa && strcmp(nd->xa[i].name, name); i++)
		;
	if (i == nd->nxa) {
		struct mxattr *nx = realloc(nd->xa, (size_t)(nd->nxa + 1) * sizeof(*nx));

		if (!nx) {
			free(v);
			return wfail(w, "setxattr: out of memory");
		}
		nd->xa = nx;
		memset(&nd->xa[i], 0, sizeof(nd->xa[i]));
		snprintf(nd->xa[i].name, sizeof(nd->xa[i].name), "%s", name);
		nd->nxa++;
	}
	free(nd->xa[i].val);
	nd->xa[i].val = v;
	nd->xa[i].len = len;
	touch(w, n, NULL);
	record(w, "setxattr");
}

void w_removexattr(struct wl *w, const char *p, const char *name)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p), i;
	struct mnode *nd;

	if (w->err)
		return;
	if (lremovexattr(full(w, p, b), name) != 0 && !gone(w))
		return wfail(w, "removexattr %s %s: %s", p, name, strerror(errno));
	if (n < 0)
		return wfail(w, "removexattr %s: not in the model", p);
	nd = &w->m.nodes[n];
	for (i = 0; i < nd->nxa; i++)
		if (!strcmp(nd->xa[i].name, name)) {
			free(nd->xa[i].val);
			nd->xa[i] = nd->xa[--nd->nxa];
			break;
		}
	touch(w, n, NULL);
	record(w, "removexattr");
}

void w_chmod(struct wl *w, const char *p, unsigned mode)
{
	char b[PATH_MAX];
	int n = model_lookup(&w->m, p);

	if (w->err)
		return;
	if (chmod(full(w, p, b), mode) != 0 && !gone(w))
		return wfail(w, "chmod %s: %s", p, strerror(errno));
	if (n < 0)
		return wfail(w, "chmod %s: not in the model", p);
	w->m.nodes[n].mode = mode;
	record(w, "chmod");
}

/* ---- sync points -------------------------------------------------------------------- */

static void sync_point(struct wl *w, const char *p, int node)
{
	struct msync s = { 0 };
	struct stat st;

	s.state = w->run.nstates - 1;
	s.until = INT_MAX;
	s.node = -1;
	if (w->log) {
		if (stat(w->log, &st) != 0)
			return wfail(w, "stat %s: %s", w->log, strerror(errno));
		s.logbytes = (uint64_t)st.st_size;
	}
	if (p && node >= 0 && w->m.nodes[node].type == 'f') {
		snprintf(s.path, sizeof(s.path), "%s", p);
		s.node = node;
		s.size = w->m.nodes[node].size;
		s.hash = m_content_hash(w->m.nodes[node].data, s.size);
	}
	if (run_add_sync(&w->run, &s))
		wfail(w, "sync: out of memory");
	count_op(w);
	if (w->live && !w->err)
		live_check(w, "sync");
	next_op(w);
}

static void do_sync(struct wl *w, const char *p, int how)
{
	char b[PATH_MAX];
	int fd, ret;

	if (w->err)
		return;
	fd = open(p ? full(w, p, b) : w->mnt, O_RDONLY | (how == 2 ? O_DIRECTORY : 0));
	if (fd < 0)
		return wfail(w, "open %s: %s", p ? p : "/", strerror(errno));
	ret = how == 1 ? fdatasync(fd) : fsync(fd);
	close(fd);
	if (ret != 0)
		return wfail(w, "%s %s: %s", how == 1 ? "fdatasync" : "fsync",
			     p ? p : "/", strerror(errno));
	sync_point(w, p, p ? model_lookup(&w->m, p) : -1);
}

void w_fsync(struct wl *w, const char *p) { do_sync(w, p, 0); }
void w_fdatasync(struct wl *w, const char *p) { do_sync(w, p, 1); }
void w_fsync_dir(struct wl *w, const char *p) { do_sync(w, p, 2); }

void w_unlink_open(struct wl *w, const char *p, size_t len)
{
	char b[PATH_MAX];
	uint8_t *buf;
	int fd, n = model_lookup(&w->m, p);
	ssize_t r;

	if (w->err)
		return;
	fd = open(full(w, p, b), O_RDWR);
	if (fd < 0)
		return wfail(w, "open %s: %s", p, strerror(errno));
	if (unlink(b) != 0 && !gone(w)) {
		close(fd);
		return wfail(w, "unlink %s: %s", p, strerror(errno));
	}
	touch(w, n, p);
	del_name(w, p);
	record(w, "unlink (open)");
	if (w->err) {
		close(fd);
		return;
	}
	/* the orphan's content is in no state: only that it must vanish */
	buf = content(w, len);
	r = buf ? pwrite(fd, buf, len, 0) : -1;
	free(buf);
	if (r != (ssize_t)len) {
		close(fd);
		return wfail(w, "write to unlinked %s: %s", p, strerror(errno));
	}
	if (fsync(fd) != 0) {
		close(fd);
		return wfail(w, "fsync of unlinked %s: %s", p, strerror(errno));
	}
	sync_point(w, NULL, -1);
	close(fd);
}
