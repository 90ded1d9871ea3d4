build2/fs/remount.o: fs/remount.c fs/hfs_int.h fs/hfs.h raid/raid.h \
 fs/ondisk.h bufcache/bufcache.h fs/shutdown.h \
 /usr/include/fuse3/fuse_lowlevel.h /usr/include/fuse3/fuse_common.h \
 /usr/include/fuse3/libfuse_config.h /usr/include/fuse3/fuse_opt.h \
 /usr/include/fuse3/fuse_log.h
fs/hfs_int.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
bufcache/bufcache.h:
fs/shutdown.h:
/usr/include/fuse3/fuse_lowlevel.h:
/usr/include/fuse3/fuse_common.h:
/usr/include/fuse3/libfuse_config.h:
/usr/include/fuse3/fuse_opt.h:
/usr/include/fuse3/fuse_log.h:
