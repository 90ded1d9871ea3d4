build2/tests/unit/test_discard.o: tests/unit/test_discard.c \
 raid/raid_int.h raid/raid.h raid/engine.h raid/raid_test.h \
 tests/unit/helpers.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
raid/raid_test.h:
tests/unit/helpers.h:
