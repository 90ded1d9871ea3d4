build2/raid/resync.o: raid/resync.c raid/dag.h raid/engine.h \
 raid/raid_int.h raid/raid.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
