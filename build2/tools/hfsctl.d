build2/tools/hfsctl.o: tools/hfsctl.c /usr/include/uuid/uuid.h fs/hfs.h \
 raid/raid.h fs/ondisk.h
/usr/include/uuid/uuid.h:
fs/hfs.h:
raid/raid.h:
fs/ondisk.h:
