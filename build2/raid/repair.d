build2/raid/repair.o: raid/repair.c raid/dag.h raid/engine.h \
 raid/raid_int.h raid/raid.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
