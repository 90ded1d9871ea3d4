build2/fs/redo.o: fs/redo.c fs/hfs_int.h fs/hfs.h raid/raid.h fs/ondisk.h \
 bufcache/bufcache.h
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
