build2/raid/fault.o: raid/fault.c raid/dag.h raid/engine.h \
 raid/raid_int.h raid/raid.h raid/raid_test.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
raid/raid_test.h:
