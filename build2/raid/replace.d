build2/raid/replace.o: raid/replace.c raid/raid_int.h raid/raid.h \
 raid/engine.h
raid/raid_int.h:
raid/raid.h:
raid/engine.h:
