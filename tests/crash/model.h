/*
 * model.h — the crash tool's in-memory model of a tree and the workload
 * operations that change both a mounted hfs and the model.
 *
 * A tree state is its canonical text: one line per name, sorted by path,
 *   path TAB type TAB mode TAB nlink TAB size TAB content-hash TAB target TAB
 *   xattrs TAB link-group
 * (type f/d/l; directories have size 0 and hash 0; target is "-" unless a
 * symlink; xattrs "name=hash,..." sorted; link-group the smallest path of a
 * file with several names, else "-").  The same text is produced from the
 * model (model_text) and from a mounted tree (tree_text), so comparing
 * states is comparing strings.
 *
 * Every operation that changes the tree records a new state (ops.c); a sync
 * operation records a sync point: the state it made durable and the size of
 * the write log when the call returned.
 */
#ifndef HFS_CRASH_MODEL_H
#define HFS_CRASH_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define M_PATH 200

struct mxattr { char name[64]; uint8_t *val; size_t len; };
struct mnode {
	char     type;            /* 'f' file, 'd' dir, 'l' symlink, 0 free */
	unsigned mode;            /* permission bits */
	uint8_t *data;            /* file content */
	size_t   size;
	uint64_t hash;            /* of data, valid when hash_ok (cleared on every change) */
	int      hash_ok;
	char     target[M_PATH];  /* symlink */
	struct mxattr *xa;
	int      nxa;
};
struct mname { char path[M_PATH]; int node; };
struct model {
	struct mnode *nodes;
	int nnodes;
	struct mname *names;
	int nnames, cap_names, cap_nodes;
};

/* A sync point: state 'state' was durable once the log held 'logbytes'
 * bytes (records converted later).  path: the fsync'd file, or "". */
struct msync { int state; uint64_t logbytes; long rec; char path[M_PATH]; uint64_t hash;
	       size_t size; int until; int node; };

/* The record of one workload run: every state's hash, the text of the
 * states a sync point made durable (and of the newest), the sync points. */
struct run {
	uint64_t *hash;           /* m_hash of each state's text; [0] = empty tree */
	char **text;              /* text or NULL */
	uint64_t *start;          /* log bytes when the op that made the state began */
	long *startrec;           /* the same in records (filled after the run) */
	int nstates, cap_states;
	struct msync *syncs;      /* in order; syncs[0] = the empty tree at record 0 */
	int nsyncs, cap_syncs;
};

/* ---- model ------------------------------------------------------------- */
int   model_init(struct model *m);
void  model_free(struct model *m);
int   model_lookup(const struct model *m, const char *path);   /* node or -1 */
/* Canonical text of the model (malloc'd) or NULL on ENOMEM. */
char *model_text(const struct model *m);
/* Canonical text of the tree mounted at root (malloc'd); NULL and errno. */
char *tree_text(const char *root);
uint64_t m_hash(const void *p, size_t len, uint64_t h);
/* File content hash: m_hash over the m_hash of each 64 KiB block, so a
 * change to some blocks is cheap to rehash (stepped truncate and punch). */
#define M_BLK 65536u
uint64_t m_content_hash(const uint8_t *d, size_t size);
uint64_t m_block_hash(const uint8_t *d, size_t size, size_t blk);   /* block blk of d */
#define M_HASH0 0xcbf29ce484222325ull

/* ---- run ----------------------------------------------------------------- */
void run_free(struct run *r);
/* Append a state unless equal to the newest (takes text); start: the
 * log's size when the op making it began (a crash before that point cannot
 * show it). */
int  run_add_state(struct run *r, char *text, uint64_t start);

int  run_add_sync(struct run *r, const struct msync *s);
/* Save/load a run to/from a file (for --replay of a kept failure). */
int  run_save(const struct run *r, const char *path);
int  run_load(struct run *r, const char *path);

/* Print the lines that differ between two texts ("-" only in a, "+" only in b). */
void text_diff(const char *a, const char *b, const char *indent);

#endif
