build2/raid/set.o: raid/set.c /usr/include/blkid/blkid.h \
 /usr/include/uuid/uuid.h raid/dag.h raid/engine.h raid/raid_int.h \
 raid/raid.h raid/raid_test.h
/usr/include/blkid/blkid.h:
/usr/include/uuid/uuid.h:
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
raid/raid_test.h:
