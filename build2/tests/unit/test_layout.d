build2/tests/unit/test_layout.o: tests/unit/test_layout.c raid/dag.h \
 raid/engine.h raid/raid_int.h raid/raid.h tests/unit/helpers.h
raid/dag.h:
raid/engine.h:
raid/raid_int.h:
raid/raid.h:
tests/unit/helpers.h:
