/*
 * map.c — logical address -> (column, column offset): the only place in
 * raid/ that knows how a layout lays logical space over its devices.
 *
 * Every layout is a grid of g_ncols columns by g_ncopies copies; component
 * index = col * g_ncopies + copy:
 *
 *   single   1 column  x 1 copy         comp 0
 *   mirror   1 column  x N copies       comp = copy
 *   stripe   N columns x 1 copy         comp = col
 *   raid10   N/2 cols  x 2 copies       column c = components 2c, 2c+1
 *
 * Striping (g_ncols > 1): logical stripe unit u = off / su lives in column
 * u % ncols, row u / ncols, at column offset row * su + off % su.  With one
 * column the logical offset is the column offset and nothing is split.
 * The column offset is relative to the data area (RAID_DATA_OFF).
 *
 * Invariants:
 *  (1) Segments come out in logical order, cover [off, off+len) exactly,
 *      and none crosses a stripe-unit boundary when g_ncols > 1.
 *  (2) Two logical bytes never map to the same (column, offset).
 */
#include <errno.h>
#include "raid/raid_int.h"

int raid_geom_init(struct raid_geom *g, enum raid_layout l, int ncomp, uint32_t su,
		   uint64_t comp_data)
{
	if (ncomp < 1 || ncomp > RAID_MAX_COMP)
		return -EINVAL;
	switch (l) {
	case RAID_LAYOUT_SINGLE:
		if (ncomp != 1)
			return -EINVAL;
		g->g_ncols = 1, g->g_ncopies = 1;
		break;
	case RAID_LAYOUT_MIRROR:
		if (ncomp < 2)
			return -EINVAL;
		g->g_ncols = 1, g->g_ncopies = ncomp;
		break;
	case RAID_LAYOUT_STRIPE:
		if (ncomp < 2)
			return -EINVAL;
		g->g_ncols = ncomp, g->g_ncopies = 1;
		break;
	case RAID_LAYOUT_RAID10:
		if (ncomp < 4 || ncomp % 2)
			return -EINVAL;
		g->g_ncols = ncomp / 2, g->g_ncopies = 2;
		break;
	default:
		return -EINVAL;
	}
	if (g->g_ncols > 1 && (su < RAID_SECTOR || (su & (su - 1)) || su > RAID_MAX_STRIPE))
		return -EINVAL;
	g->g_su = su;
	/* a column holds whole stripe units only */
	g->g_col_size = g->g_ncols > 1 ? comp_data / su * su : comp_data;
	return 0;
}

uint64_t raid_geom_size(const struct raid_geom *g)
{
	return g->g_col_size * (uint64_t)g->g_ncols;
}

int raid_map_count(const struct raid_geom *g, uint64_t off, size_t len)
{
	uint64_t first, last;

	if (!len)
		return 0;
	if (g->g_ncols == 1)
		return 1;
	first = off / g->g_su;
	last = (off + len - 1) / g->g_su;
	return (int)(last - first + 1);
}

int raid_map(const struct raid_geom *g, uint64_t off, size_t len, struct raid_seg *seg, int max)
{
	size_t done = 0;
	int n = 0;

	if (off + len < off || off + len > raid_geom_size(g))
		return -ERANGE;
	while (done < len) {
		uint64_t l = off + done, u, in;
		size_t take;

		if (n >= max)
			return -E2BIG;
		if (g->g_ncols == 1) {
			seg[n] = (struct raid_seg){ 0, l, done, len - done };
		} else {
			u = l / g->g_su;
			in = l % g->g_su;
			take = g->g_su - in;
			if (take > len - done)
				take = len - done;
			seg[n].s_col = (int)(u % (uint64_t)g->g_ncols);
			seg[n].s_coff = u / (uint64_t)g->g_ncols * g->g_su + in;
			seg[n].s_boff = done;
			seg[n].s_len = take;
		}
		done += seg[n].s_len;
		n++;
	}
	return n;
}

void raid_map_span(const struct raid_geom *g, uint64_t off, size_t len, uint64_t *lo,
		   uint64_t *hi)
{
	uint64_t row0, row1;

	if (g->g_ncols == 1) {
		*lo = off;
		*hi = off + len;
		return;
	}
	/* whole rows of stripe units: a superset of every segment's range */
	row0 = off / g->g_su / (uint64_t)g->g_ncols;
	row1 = (off + len - 1) / g->g_su / (uint64_t)g->g_ncols;
	*lo = row0 * g->g_su;
	*hi = (row1 + 1) * g->g_su;
}

int raid_map_col_range(const struct raid_geom *g, uint64_t off, uint64_t len, int col,
		       uint64_t *lo, uint64_t *hi)
{
	uint64_t n = (uint64_t)g->g_ncols, su = g->g_su, u0, u1, uf, ul;

	if (!len || col < 0 || col >= g->g_ncols)
		return 0;
	if (g->g_ncols == 1) {
		*lo = off;
		*hi = off + len;
		return 1;
	}
	u0 = off / su;
	u1 = (off + len - 1) / su;
	/* the first and last stripe units of [u0, u1] in column col; the
	 * units between them are col's units of consecutive rows, which lie
	 * back to back in the column */
	uf = u0 + ((uint64_t)col + n - u0 % n) % n;
	if (uf > u1)
		return 0;
	ul = u1 - (u1 % n + n - (uint64_t)col) % n;
	*lo = uf / n * su + (uf == u0 ? off % su : 0);
	*hi = ul / n * su + (ul == u1 ? (off + len - 1) % su + 1 : su);
	return 1;
}
