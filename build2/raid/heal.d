build2/raid/heal.o: raid/heal.c raid/raid_int.h raid/raid.h raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
