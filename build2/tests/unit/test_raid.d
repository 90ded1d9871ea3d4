build2/tests/unit/test_raid.o: tests/unit/test_raid.c raid/raid.h \
 raid/raid_test.h tests/unit/helpers.h
raid/raid.h:
raid/raid_test.h:
tests/unit/helpers.h:
