build2/raid/bitmap.o: raid/bitmap.c raid/raid_int.h raid/raid.h \
 raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
