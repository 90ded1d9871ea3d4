build2/tests/crash/ops.o: tests/crash/ops.c tests/crash/ops.h \
 tests/crash/model.h
tests/crash/ops.h:
tests/crash/model.h:
