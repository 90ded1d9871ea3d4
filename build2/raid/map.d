build2/raid/map.o: raid/map.c raid/raid_int.h raid/raid.h raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
