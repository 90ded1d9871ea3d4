#!/usr/bin/env python3
"""bench/table.py RESULTS SIZE RUNTIME NFILES NSMALL NFSYNC

Prints the table of bench/bench.sh: absolute figures per configuration,
then ratios hfs/peer (hfs-mirror/zfs-mirror for the mirror column).  For
rows marked "lower is better" a ratio below 1 means hfs wins.

RESULTS lines are "config metric value [round]".  With several rounds a
figure is the median over the rounds and a ratio the median of the ratios
each round gave (both figures of a pair measured in the same round, minutes
apart, not a whole run apart); the rounds' own ratios follow the table."""
import statistics
import sys

ROWS = [
    # key, label, unit, higher_is_better
    ("seqw", "seq write 1M +fsync", "MB/s", True),
    ("seqr", "seq read 1M (cold)", "MB/s", True),
    ("randw", "rand write 4K fsync/32", "IOPS", True),
    ("randr1", "rand read 4K 1 job", "IOPS", True),
    ("randr4", "rand read 4K 4 jobs", "IOPS", True),
    ("create", "create empty files", "files/s", True),
    ("stat", "stat (cold)", "files/s", True),
    ("delete", "delete", "files/s", True),
    ("smallw", "write 4K files", "files/s", True),
    ("smallr", "read 4K files (cold)", "files/s", True),
    ("fsync50", "append 4K+fsync p50", "us", False),
    ("fsync99", "append 4K+fsync p99", "us", False),
    ("cpu_gib", "daemon CPU / GiB written", "s", False),
    ("cpu", "daemon CPU whole run", "s", False),
]
CONFIGS = ["hfs", "hfs-mirror", "fuse2fs", "ntfs-3g", "zfs", "zfs-mirror", "ext4", "fuse-null"]
RATIOS = [("hfs", "fuse2fs"), ("hfs", "ntfs-3g"), ("hfs", "zfs"),
          ("hfs-mirror", "zfs-mirror"), ("hfs", "ext4"), ("hfs", "fuse-null")]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    return "%.2f" % v if v < 10 else "%.1f" % v


def median(vals):
    vals = list(vals)   # load() keeps no missing figures
    return statistics.median(vals) if vals else None


def load(path):
    """{(config, metric): {round: value}} of the figures measured"""
    res = {}
    for line in open(path):
        parts = line.split()
        if len(parts) in (3, 4):
            rnd = int(parts[3]) if len(parts) == 4 else 1
            v = num(parts[2])
            if v is not None:
                res.setdefault((parts[0], parts[1]), {})[rnd] = v
    return res


def round_ratios(res, a, b, key):
    """the ratio a/b of each round that measured both, in round order"""
    x, y = res.get((a, key), {}), res.get((b, key), {})
    return [x[r] / y[r] for r in sorted(x) if r in y and y[r]]


def main():
    res = load(sys.argv[1])
    nrounds = max([max(v) for v in res.values()] or [1])
    size, runtime, nfiles, nsmall, nfsync = sys.argv[2:7]
    present = [c for c in CONFIGS if any(k[0] == c for k in res)]
    ratios = [(a, b) for a, b in RATIOS if a in present and b in present]
    head = ["metric", "unit"] + present + ["%s/%s" % (a.replace("-mirror", "M"), b.replace("-mirror", "M"))
                                           for a, b in ratios]
    rows = []
    for key, label, unit, hib in ROWS:
        if not any((c, key) in res for c in present):
            continue
        r = [label, unit + ("" if hib else " (lower better)")]
        r += [fmt(median(res.get((c, key), {}).values())) for c in present]
        for a, b in ratios:
            m = median(round_ratios(res, a, b, key))
            r.append("-" if m is None else "%.2f" % m)
        rows.append(r)
    w = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    print("hfs benchmark: file %s, random phases %ss, %s metadata files, %s small files, %s fsyncs%s"
          % (size, runtime, nfiles, nsmall, nfsync,
             ", medians of %d rounds" % nrounds if nrounds > 1 else ""))
    print("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i]) for i, h in enumerate(head)))
    for row in rows:
        print("  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(row)))
    print("ratios are hfs/peer (hfsM = hfs mirror, zfsM = zfs-fuse mirror); for 'lower better'"
          " rows a ratio < 1 means hfs is better.  ext4 is the kernel's (no daemon CPU).")
    if "fuse-null" in present:
        print("fuse-null keeps no data (writes dropped, reads zeros): hfs/fuse-null is how close"
              " hfs comes to what FUSE itself allows here.")
    if nrounds > 1:
        print_rounds(res, ratios)


def print_rounds(res, ratios):
    """each round's ratios against the peers the targets name"""
    pairs = [(a, b) for a, b in ratios if a == "hfs" and b in ("fuse2fs", "ext4")]
    if not pairs:
        return
    print()
    print("ratios of each round (round 1 first):")
    for key, label, unit, hib in ROWS:
        cells = []
        for a, b in pairs:
            rr = round_ratios(res, a, b, key)
            if rr:
                cells.append("%s/%s %s" % (a, b, " ".join("%.2f" % x for x in rr)))
        if cells:
            print("  %-24s %s" % (label, "   ".join(cells)))


if __name__ == "__main__":
    main()
