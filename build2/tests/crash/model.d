build2/tests/crash/model.o: tests/crash/model.c tests/crash/model.h
tests/crash/model.h:
