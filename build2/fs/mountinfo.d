build2/fs/mountinfo.o: fs/mountinfo.c fs/hfs.h raid/raid.h fs/ondisk.h
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
