build2/raid/engine_pool.o: raid/engine_pool.c raid/engine.h
raid/engine.h:
