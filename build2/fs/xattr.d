build2/fs/xattr.o: fs/xattr.c fs/dir.h fs/hfs_int.h fs/hfs.h raid/raid.h \
 fs/ondisk.h bufcache/bufcache.h
fs/dir.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
