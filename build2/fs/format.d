build2/fs/format.o: fs/format.c /usr/include/uuid/uuid.h fs/hfs_int.h \
 fs/hfs.h raid/raid.h fs/ondisk.h bufcache/bufcache.h
/usr/include/uuid/uuid.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
