/*
 * raid_test.h — fault injection for tests of raid/ and the layers above.
 * Not for production paths.
 */
#ifndef HFS_RAID_TEST_H
#define HFS_RAID_TEST_H

#include "raid/raid.h"

/* Make component comp fail every read and/or write with -EIO from now on
 * (0/1 flags; 0,0 clears).  0 or -EINVAL. */
int raid_test_fail(struct raid_set *s, int comp, int fail_reads, int fail_writes);

/* Re-read the fault rules file now instead of at the next 50 ms check:
 * 0, -EINVAL (bad rules: the old ones stay), -ENOENT (no fault device). */
int raid_fault_reload(struct raid_set *s);

/* How many reads ran on their submitter's thread (a lone read of
 * raid_read, raid_read_copy or raid_read_verified) since open. */
long raid_test_waited_reads(struct raid_set *s);

#endif
