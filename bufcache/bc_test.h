/*
 * bc_test.h — test hooks of bufcache/ (not for production paths).
 */
#ifndef HFS_BC_TEST_H
#define HFS_BC_TEST_H

#include "bufcache/bufcache.h"

/* Called for every buffer write the flusher issues, in issue order. */
void bc_test_set_write_trace(struct bc *c, void (*fn)(void *priv, enum bc_type t, uint64_t off),
			     void *priv);

#endif
