build2/tests/unit/test_dag.o: tests/unit/test_dag.c raid/dag.h \
 raid/engine.h tests/unit/helpers.h
raid/dag.h:
raid/engine.h:
tests/unit/helpers.h:
