build2/tests/unit/test_heal.o: tests/unit/test_heal.c raid/raid.h \
 raid/raid_test.h tests/unit/helpers.h
raid/raid.h:
raid/raid_test.h:
tests/unit/helpers.h:
