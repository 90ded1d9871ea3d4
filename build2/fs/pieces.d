build2/fs/pieces.o: fs/pieces.c fs/block.h fs/hfs_int.h fs/hfs.h \
 raid/raid.h fs/ondisk.h bufcache/bufcache.h
fs/block.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
