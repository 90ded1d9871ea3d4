build2/raid/dag.o: raid/dag.c raid/dag.h raid/engine.h raid/raid_int.h \
 raid/raid.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
