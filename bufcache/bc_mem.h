/*
 * bc_mem.h — bufcache's own memory: buffer data and the staging area of
 * flush and read-ahead runs, kept for reuse (bc_mem.c).  Internal to
 * bufcache/; not part of its contract (bufcache.h).
 */
#ifndef HFS_BC_MEM_H
#define HFS_BC_MEM_H

#include <pthread.h>
#include <stddef.h>
#include "bufcache/bufcache.h"

#define BC_MEM_SPARE 64                  /* freed buffers kept for reuse */
#define BC_MEM_AREA  (64u * BC_BUFSIZE)   /* one flush step: BC_BACKLOG buffers */

struct bc_mem {
	pthread_mutex_t m;
	void *spare[BC_MEM_SPARE];
	unsigned nspare;
	void *area;                          /* made at first use */
	int area_taken;
};

void bc_mem_init(struct bc_mem *m);
void bc_mem_fini(struct bc_mem *m);
/* BC_BUFSIZE bytes, 4096-aligned, contents undefined; NULL when out of memory. */
void *bc_mem_buf(struct bc_mem *m);
void bc_mem_buf_free(struct bc_mem *m, void *p);
/* len bytes, 4096-aligned: the staging area when len fits and no one else
 * holds it, else memory of its own; NULL when out of memory. */
void *bc_mem_run(struct bc_mem *m, size_t len);
void bc_mem_run_free(struct bc_mem *m, void *p);

#endif
