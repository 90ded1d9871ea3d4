build2/fsck/fsck.o: fsck/fsck.c fs/hfs.h raid/raid.h fs/ondisk.h
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
