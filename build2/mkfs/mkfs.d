build2/mkfs/mkfs.o: mkfs/mkfs.c fs/hfs.h raid/raid.h fs/ondisk.h
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
