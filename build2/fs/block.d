build2/fs/block.o: fs/block.c fs/block.h fs/hfs_int.h fs/hfs.h \
 raid/raid.h fs/ondisk.h bufcache/bufcache.h
fs/block.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
