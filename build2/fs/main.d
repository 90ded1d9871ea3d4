build2/fs/main.o: fs/main.c fs/hfs.h raid/raid.h fs/ondisk.h
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
