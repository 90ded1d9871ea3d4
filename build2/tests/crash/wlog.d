build2/tests/crash/wlog.o: tests/crash/wlog.c raid/raid.h
raid/raid.h:
