/*
 * discard.c — the discard DAG: free space handed back to the devices
 * (FITRIM, fs/trim.c), the same shape for every layout:
 *
 *   H -> {D(comp, column range) ...} -> C -> T
 *
 * one D node for every writable leg of every column the request touches
 * (a mirror: every leg; a stripe: each column's one contiguous part,
 * raid_map_col_range; raid10: both legs of each column).  The commit
 * follows the discards, so any failure rolls back and the request fails
 * with the first error; nothing is undone, because nothing needs to be:
 * a discarded range holds bytes nobody reads.  No roll-forward
 * bookkeeping either: a leg whose discard failed has lost nothing, so it
 * is not marked failed and no region becomes dirty (d_on_fail unset).
 * A column with no writable leg fails the build (-EIO), as a write would.
 */
#include <errno.h>
#include "raid/dag.h"
#include "raid/raid_int.h"

int raid_build_discard(struct raid_set *s, struct raid_io *io, struct raid_dag **out)
{
	uint64_t lo[RAID_MAX_COMP], hi[RAID_MAX_COMP];
	int touched[RAID_MAX_COMP], col, k, n = 0;
	struct raid_node *h, *c, *t, *x;
	struct raid_dag *d;

	for (col = 0; col < s->geom.g_ncols; col++) {
		int legs;

		touched[col] = raid_map_col_range(&s->geom, io->io_off, io->io_len, col,
						  &lo[col], &hi[col]);
		if (!touched[col])
			continue;
		legs = raid_col_writable(s, col);
		if (!legs)
			return -EIO;
		n += legs;
	}
	d = raid_dag_new_n(s, n + 3, 2 * n + 1);
	if (!d)
		return -ENOMEM;
	h = raid_dag_node(d, RN_NIL);
	c = raid_dag_node(d, RN_COMMIT);
	t = raid_dag_node(d, RN_TERM);
	for (col = 0; col < s->geom.g_ncols; col++) {
		if (!touched[col])
			continue;
		for (k = 0; k < s->geom.g_ncopies; k++) {
			int comp = raid_geom_comp(&s->geom, col, k);

			if (!raid_comp_writable(s, comp))
				continue;
			x = raid_dag_node(d, RN_DISCARD);
			x->n_comp = comp;
			x->n_off = lo[col] + RAID_DATA_OFF;
			x->n_len = (size_t)(hi[col] - lo[col]);
			raid_dag_edge(h, x);
			raid_dag_edge(x, c);
		}
	}
	raid_dag_edge(c, t);
	*out = d;
	return 0;
}
