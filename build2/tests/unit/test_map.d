build2/tests/unit/test_map.o: tests/unit/test_map.c raid/raid_int.h \
 raid/raid.h raid/engine.h tests/unit/helpers.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
tests/unit/helpers.h:
