build2/tests/unit/test_stripe.o: tests/unit/test_stripe.c raid/raid.h \
 raid/raid_test.h tests/unit/helpers.h
raid/raid.h:
raid/raid_test.h:
tests/unit/helpers.h:
