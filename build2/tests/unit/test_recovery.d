build2/tests/unit/test_recovery.o: tests/unit/test_recovery.c \
 bufcache/bc_test.h bufcache/bufcache.h raid/raid.h fs/hfs_int.h fs/hfs.h \
 fs/ondisk.h raid/raid_test.h tests/unit/helpers.h
bufcache/bc_test.h:
bufcache/bufcache.h:
raid/raid.h:
fs/hfs_int.h:
fs/hfs.h:
fs/ondisk.h:
raid/raid_test.h:
tests/unit/helpers.h:
