build2/tests/crash/check.o: tests/crash/check.c tests/crash/crash.h \
 tests/crash/ops.h tests/crash/model.h
tests/crash/crash.h:
tests/crash/ops.h:
tests/crash/model.h:
