build2/tests/unit/test_bitmap.o: tests/unit/test_bitmap.c raid/raid_int.h \
 raid/raid.h raid/engine.h raid/raid_test.h tests/unit/helpers.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
raid/raid_test.h:
tests/unit/helpers.h:
