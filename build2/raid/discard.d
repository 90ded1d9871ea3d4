build2/raid/discard.o: raid/discard.c raid/dag.h raid/engine.h \
 raid/raid_int.h raid/raid.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
