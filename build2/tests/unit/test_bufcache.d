build2/tests/unit/test_bufcache.o: tests/unit/test_bufcache.c \
 bufcache/bufcache.h raid/raid.h bufcache/bc_test.h raid/raid_test.h \
 tests/unit/helpers.h
bufcache/bufcache.h:
raid/raid.h:
bufcache/bc_test.h:
raid/raid_test.h:
tests/unit/helpers.h:
