build2/tests/unit/helpers.o: tests/unit/helpers.c tests/unit/helpers.h
tests/unit/helpers.h:
