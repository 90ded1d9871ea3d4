/*
 * bc_mem.c — see bc_mem.h.
 *
 * Why: glibc gave bufcache new pages for most of its allocations, and the
 * kernel's page faults (with the zeroing and memory-cgroup charge of each
 * page) were a tenth of the daemon's CPU in fsync'd random 4 KiB writes:
 *  - a buffer reclaimed to make room for the next one was freed and a new
 *    one allocated right after, but a 4 KiB-aligned 16 KiB posix_memalign
 *    splits a larger free chunk rather than take the hole just freed, so
 *    the heap kept growing at its top and the trimmed top came back as
 *    fresh pages: four faults per 16 KiB buffer;
 *  - a flush step's bounce copy of adjacent buffers (up to 1 MiB: the
 *    UNDO FIFO of every fsync, the fresh DATA of a commit) is above the
 *    mmap threshold: mapped, faulted page by page, unmapped, per step.
 * So freed buffers are kept (up to BC_MEM_SPARE, outside the cache's
 * mem_limit: at most 1 MiB) and handed out again, and one staging area of
 * a whole flush step lives as long as the cache.  A second user of the
 * area at once (a read-ahead beside a flush) gets memory of its own.
 */
#include <stdlib.h>
#include "bufcache/bufcache.h"
#include "bufcache/bc_mem.h"

void bc_mem_init(struct bc_mem *m)
{
	pthread_mutex_init(&m->m, NULL);
	m->nspare = 0;
	m->area = NULL;
	m->area_taken = 0;
}

void bc_mem_fini(struct bc_mem *m)
{
	while (m->nspare)
		free(m->spare[--m->nspare]);
	free(m->area);
	m->area = NULL;
	pthread_mutex_destroy(&m->m);
}

void *bc_mem_buf(struct bc_mem *m)
{
	void *p = NULL;

	pthread_mutex_lock(&m->m);
	if (m->nspare)
		p = m->spare[--m->nspare];
	pthread_mutex_unlock(&m->m);
	if (!p && posix_memalign(&p, 4096, BC_BUFSIZE))
		p = NULL;
	return p;
}

void bc_mem_buf_free(struct bc_mem *m, void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&m->m);
	if (m->nspare < BC_MEM_SPARE) {
		m->spare[m->nspare++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&m->m);
	free(p);
}

void *bc_mem_run(struct bc_mem *m, size_t len)
{
	void *p = NULL;

	if (len <= BC_MEM_AREA) {
		pthread_mutex_lock(&m->m);
		if (!m->area_taken) {
			if (!m->area && posix_memalign(&m->area, 4096, BC_MEM_AREA))
				m->area = NULL;
			if (m->area) {
				m->area_taken = 1;
				p = m->area;
			}
		}
		pthread_mutex_unlock(&m->m);
		if (p)
			return p;
	}
	return posix_memalign(&p, 4096, len) ? NULL : p;
}

void bc_mem_run_free(struct bc_mem *m, void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&m->m);
	if (p == m->area) {
		m->area_taken = 0;
		p = NULL;
	}
	pthread_mutex_unlock(&m->m);
	free(p);
}
