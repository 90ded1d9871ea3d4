build2/bufcache/bufcache.o: bufcache/bufcache.c bufcache/bufcache.h \
 raid/raid.h bufcache/bc_test.h
bufcache/bufcache.h:
raid/raid.h:
bufcache/bc_test.h:
