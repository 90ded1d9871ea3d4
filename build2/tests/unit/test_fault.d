build2/tests/unit/test_fault.o: tests/unit/test_fault.c raid/raid.h \
 raid/raid_test.h tests/unit/helpers.h
raid/raid.h:
raid/raid_test.h:
tests/unit/helpers.h:
