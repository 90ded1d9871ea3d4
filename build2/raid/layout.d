build2/raid/layout.o: raid/layout.c raid/dag.h raid/engine.h \
 raid/raid_int.h raid/raid.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
