build2/tests/crash/workloads.o: tests/crash/workloads.c \
 tests/crash/crash.h tests/crash/ops.h tests/crash/model.h
tests/crash/crash.h:
tests/crash/ops.h:
tests/crash/model.h:
