build2/raid/engine_uring.o: raid/engine_uring.c raid/engine.h
raid/engine.h:
