/*
 * dag.h — RAIDframe-style DAG engine (internal to raid/).
 *
 * A logical I/O is compiled by a layout builder into a small DAG.  Every
 * node has an antecedent count; the header node has none.  The engine:
 *
 *   dispatch:  fire every node whose count is 0 (the header).
 *   complete:  mark the node GOOD or BAD, decrement each successor's count;
 *              a successor reaching 0 is fired — unless
 *                (a) the DAG is rolling backward: it is SKIPPED, or
 *                (b) it is an I/O node with a failed true-data antecedent:
 *                    it is SKIPPED.
 *              Control nodes (NIL, COMMIT, TERM) never need data, so they
 *              fire in (b); in (a) everything not yet fired is skipped.
 *   failure before the COMMIT node fired -> roll BACKWARD: no new node
 *              fires, and when every node is resolved the undo function of
 *              each GOOD node runs (reverse order); result = first error.
 *   failure after COMMIT -> roll FORWARD: the rest of the DAG runs on what
 *              survives.  With groups (d_ngroups > 0: each I/O node of a
 *              redundant write names the piece of data it carries in
 *              n_group, its copies sharing the number) result = 0 if every
 *              group has a GOOD node — one copy of every block landed —
 *              else the first error.  Without groups: 0 if at least
 *              d_min_good I/O nodes were GOOD.
 *   end:       when every node is resolved, d_done(dag, result) runs once.
 *
 *   node states:   WAIT --fire()--> FIRED --node_done()--> GOOD | BAD
 *                  WAIT --resolve_skip()--> SKIPPED
 *                  GOOD --undo (roll-back)--> UNDONE
 */
#ifndef HFS_RAID_DAG_H
#define HFS_RAID_DAG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "raid/engine.h"

/* Capacity of raid_dag_new(); builders size their DAG with raid_dag_new_n. */
#define RAID_DAG_MAX_NODES 40

enum raid_node_type { RN_NIL = 0, RN_COMMIT, RN_TERM, RN_READ, RN_WRITE, RN_FLUSH, RN_FUNC,
		      RN_DISCARD };
enum raid_node_state { RNS_WAIT = 0, RNS_FIRED, RNS_GOOD, RNS_BAD, RNS_SKIPPED, RNS_UNDONE };

struct raid_dag;
struct raid_node;
struct raid_edge {                  /* one successor; lists keep insertion order */
	struct raid_node *e_to;
	struct raid_edge *e_next;
};
struct raid_node {
	enum raid_node_type n_type;
	enum raid_node_state n_state;
	int n_ante;                 /* antecedents not yet resolved */
	int n_data_failed;          /* a true-data antecedent failed */
	int n_nsucc;
	struct raid_edge *n_succ, *n_succ_tail;
	int n_group;                /* redundant writes: data piece carried (-1 none) */
	struct raid_node *n_fire_next;   /* private: list of nodes ready to fire */
	int n_err;
	/* I/O nodes */
	int n_comp;                 /* component index */
	uint64_t n_off;             /* device offset */
	void *n_buf;
	size_t n_len;
	void *n_bounce;             /* aligned copy for O_DIRECT (or the fault
				     * device's corrupted write copy), or NULL */
	int n_fault;                /* fault device: corrupt the read data */
	uint64_t n_fault_lo, n_fault_hi, n_fault_rng;
	struct raid_eng_req n_req;
	/* RN_FUNC (tests, and layout hooks): start the work; it must end in
	 * raid_node_done() (from any thread, possibly before fn returns). */
	void (*n_fn)(struct raid_node *n);
	void (*n_undo)(struct raid_node *n);
	void *n_priv;
	struct raid_dag *n_dag;
};

struct raid_set;
struct raid_dag {
	pthread_mutex_t d_lock;     /* protects node states and counts */
	int d_nnodes, d_cap;        /* nodes in use / allocated (immutable) */
	struct raid_node *d_nodes;  /* d_cap nodes, allocated with the DAG */
	int d_nedges, d_ecap;
	struct raid_edge *d_edges;
	int d_ngroups;              /* groups 0..d_ngroups-1 (see roll forward) */
	int *d_group_good;          /* GOOD I/O nodes per group */
	int d_unresolved;
	int d_committed;
	int d_rollback;
	int d_err;                  /* first error */
	int d_ngood_io, d_min_good;
	struct raid_set *d_set;
	/* Called (roll-forward) for each failed I/O node after commit. */
	void (*d_on_fail)(struct raid_dag *d, struct raid_node *n);
	void (*d_done)(struct raid_dag *d, int err);
	void *d_priv;
	void *d_free_priv;          /* builder's allocation, freed with the DAG */
	unsigned d_retry_mask;      /* components excluded so far (read retries) */
	uint64_t d_wr_lo, d_wr_hi;  /* writes: column range accounted (raid_wr_begin) */
	int d_wr_acct;
	int d_waited;               /* one READ node, its submitter blocked on it
				     * (sync_io): done on that thread (fire_one) */
};

/* A DAG for at most nodes nodes and edges edges (a builder that asks for
 * more is a bug: abort).  NULL on ENOMEM.  raid_dag_new: 40 nodes, 88 edges. */
struct raid_dag *raid_dag_new_n(struct raid_set *s, int nodes, int edges);
struct raid_dag *raid_dag_new(struct raid_set *s);
void raid_dag_free(struct raid_dag *d);
struct raid_node *raid_dag_node(struct raid_dag *d, enum raid_node_type t);
/* a -> b: b waits for a. */
void raid_dag_edge(struct raid_node *a, struct raid_node *b);
/* Fire the header (node 0).  The DAG completes through d_done. */
void raid_dag_dispatch(struct raid_dag *d);
/* Completion of a node's work: err 0 or -errno. */
void raid_node_done(struct raid_node *n, int err);
const char *raid_node_state_name(enum raid_node_state s);

#endif
