build2/raid/wlog.o: raid/wlog.c raid/raid_int.h raid/raid.h raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
