build2/fs/fuse_data.o: fs/fuse_data.c fs/dir.h fs/hfs_int.h fs/hfs.h \
 raid/raid.h fs/ondisk.h bufcache/bufcache.h fs/fuse_int.h \
 /usr/include/fuse3/fuse_lowlevel.h /usr/include/fuse3/fuse_common.h \
 /usr/include/fuse3/libfuse_config.h /usr/include/fuse3/fuse_opt.h \
 /usr/include/fuse3/fuse_log.h
fs/dir.h:
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
fs/fuse_int.h:
/usr/include/fuse3/fuse_lowlevel.h:
/usr/include/fuse3/fuse_common.h:
/usr/include/fuse3/libfuse_config.h:
/usr/include/fuse3/fuse_opt.h:
/usr/include/fuse3/fuse_log.h:
