build2/tests/unit/test_scrub.o: tests/unit/test_scrub.c fs/hfs_int.h \
 fs/hfs.h raid/raid.h fs/ondisk.h bufcache/bufcache.h \
 tests/unit/helpers.h
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
tests/unit/helpers.h:
