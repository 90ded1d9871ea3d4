build2/tests/crash/crashtool.o: tests/crash/crashtool.c raid/raid.h \
 tests/crash/crash.h tests/crash/ops.h tests/crash/model.h
raid/raid.h:
tests/crash/crash.h:
tests/crash/ops.h:
tests/crash/model.h:
