build2/tests/unit/test_btree.o: tests/unit/test_btree.c fs/hfs_int.h \
 fs/hfs.h raid/raid.h fs/ondisk.h bufcache/bufcache.h \
 tests/unit/helpers.h
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
tests/unit/helpers.h:
