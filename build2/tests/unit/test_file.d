build2/tests/unit/test_file.o: tests/unit/test_file.c fs/block.h \
 fs/hfs_int.h fs/hfs.h raid/raid.h fs/ondisk.h bufcache/bufcache.h \
 tests/unit/helpers.h
fs/block.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
tests/unit/helpers.h:
